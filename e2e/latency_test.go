package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshlens/meshlens/loadgen"
)

// TestE2ELatency measures, under a steady background load, how long an
// entry takes from being sent until it is visible in /metrics and in the
// topology API (issue 8, item 5), and reads the per-batch processing time
// histogram. Run with `make loadtest`.
func TestE2ELatency(t *testing.T) {
	if os.Getenv("MESHLENS_LOADTEST") == "" {
		t.Skip("set MESHLENS_LOADTEST=1 (make loadtest)")
	}
	rate := 100_000.0
	if v, err := strconv.ParseFloat(os.Getenv("MESHLENS_LATENCY_RATE"), 64); err == nil {
		rate = v
	}
	m := startMeshlens(t)
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{Seed: 1, Requests: 50000, StreamsPerProxy: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan loadgen.Stats, 1)
	conn := dial(t, m.GRPC)
	go func() {
		st, _ := loadgen.Send(ctx, conn, tr, loadgen.SendOptions{Rate: rate, Duration: time.Hour})
		done <- st
	}()
	time.Sleep(2 * time.Second)
	// Batches from here on are the steady state: every stream has sent its
	// first message (identity, new series and edges) by now.
	const batchHist = "meshlens_receiver_batch_duration_seconds"
	warm := histogramBuckets(t, m, batchHist)

	b, err := os.ReadFile(filepath.Join(alsCaptures, "envoy-ingress.json"))
	require.NoError(t, err)
	var base alsv3.StreamAccessLogsMessage
	require.NoError(t, protojson.Unmarshal(b, &base))
	client := alsv3.NewAccessLogServiceClient(dial(t, m.GRPC))
	var metricsLat, apiLat []time.Duration
	for i := range 50 {
		name := fmt.Sprintf("probe-%d", i)
		base.GetHttpLogs().GetLogEntry()[0].GetCommonProperties().UpstreamCluster = "outbound|9080||" + name + ".default.svc.cluster.local"
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		start := time.Now()
		require.NoError(t, s.Send(&base))
		var seenMetrics, seenAPI bool
		for first := true; !seenMetrics || !seenAPI; first = false {
			if !first {
				// Poll like a busy client (100 requests/s), not flat out:
				// a flat-out poller measures its own contention.
				time.Sleep(10 * time.Millisecond)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("probe %d not visible after 10 s", i)
			}
			if !seenMetrics {
				_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
				require.NoError(t, err)
				if strings.Contains(body, `destination_service_name="`+name+`"`) {
					seenMetrics = true
					metricsLat = append(metricsLat, time.Since(start))
				}
			}
			if !seenAPI {
				_, body, err := httpGet("http://"+m.HTTP+"/api/v1/graph?graphType=service", "")
				require.NoError(t, err)
				if strings.Contains(body, name) {
					seenAPI = true
					apiLat = append(apiLat, time.Since(start))
				}
			}
		}
		_, _ = s.CloseAndRecv()
	}
	cancel()
	st := <-done
	p := func(d []time.Duration, q float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(q*float64(len(d)-1))]
	}
	all := histogramBuckets(t, m, batchHist)
	steady := make([]histBucket, len(all))
	for i := range all {
		steady[i] = histBucket{all[i].le, all[i].count - warm[i].count}
	}
	batches := func(h []histBucket) string {
		return fmt.Sprintf("p50 ≤ %s, p99 ≤ %s, %.2f%% within 1ms (%.0f batches)",
			bucketUpperQuantile(h, 0.5), bucketUpperQuantile(h, 0.99), 100*bucketShareBelow(t, h, 1e-3), h[len(h)-1].count)
	}
	report := fmt.Sprintf("background load %.0f entries/s (target %.0f)\n"+
		"visible in /metrics: p50 %s, p99 %s\nvisible in the topology API: p50 %s, p99 %s\n"+
		"processing of one batch (up to 100 entries), from %s:\n"+
		"  steady state (after the first 2 s): %s\n  whole run (with every stream's first message): %s\n",
		st.EntriesPerSecond(), rate, p(metricsLat, 0.5), p(metricsLat, 0.99), p(apiLat, 0.5), p(apiLat, 0.99),
		batchHist, batches(steady), batches(all))
	t.Log("\n" + report)
	if out := os.Getenv("MESHLENS_LATENCY_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
	assert.Less(t, p(metricsLat, 0.99), time.Second)
	assert.Less(t, p(apiLat, 0.99), time.Second)
}

// bucketUpperQuantile returns the upper bound of the bucket holding the q
// quantile of cumulative histogram buckets.
func bucketUpperQuantile(buckets []histBucket, q float64) time.Duration {
	total := buckets[len(buckets)-1].count
	for _, b := range buckets {
		if b.count >= q*total {
			return time.Duration(b.le * float64(time.Second))
		}
	}
	return time.Duration(math.MaxInt64)
}

// bucketShareBelow returns the share of a histogram's observations at or
// below le (a bucket bound).
func bucketShareBelow(t *testing.T, buckets []histBucket, le float64) float64 {
	t.Helper()
	total := buckets[len(buckets)-1].count
	for _, b := range buckets {
		if b.le == le && total > 0 {
			return b.count / total
		}
	}
	t.Fatalf("no bucket le=%g", le)
	return 0
}

type histBucket struct{ le, count float64 }

// histogramBuckets reads the cumulative buckets of a meshlens histogram.
func histogramBuckets(t *testing.T, m *meshlens, name string) []histBucket {
	t.Helper()
	_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	require.NoError(t, err)
	var buckets []histBucket
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name+`_bucket{le="`)
		if !ok {
			continue
		}
		i := strings.Index(rest, `"}`)
		le, _ := strconv.ParseFloat(rest[:i], 64)
		c, _ := strconv.ParseFloat(strings.TrimSpace(rest[i+2:]), 64)
		buckets = append(buckets, histBucket{le, c})
	}
	require.NotEmpty(t, buckets)
	return buckets
}
