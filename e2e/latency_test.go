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

	"github.com/meshlens/meshlens/accesslog/loadgen"
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
	batchP99 := histogramQuantile(t, m, "meshlens_receiver_batch_duration_seconds", 0.99)
	batchP50 := histogramQuantile(t, m, "meshlens_receiver_batch_duration_seconds", 0.5)
	underMs := histogramShareBelow(t, m, "meshlens_receiver_batch_duration_seconds", 1e-3)
	report := fmt.Sprintf("background load %.0f entries/s (target %.0f)\n"+
		"visible in /metrics: p50 %s, p99 %s\nvisible in the topology API: p50 %s, p99 %s\n"+
		"processing of one batch (100 entries), from meshlens_receiver_batch_duration_seconds: p50 ≤ %s, p99 ≤ %s, %.2f%% within 1ms\n",
		st.EntriesPerSecond(), rate, p(metricsLat, 0.5), p(metricsLat, 0.99), p(apiLat, 0.5), p(apiLat, 0.99),
		batchP50, batchP99, 100*underMs)
	t.Log("\n" + report)
	if out := os.Getenv("MESHLENS_LATENCY_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
	assert.Less(t, p(metricsLat, 0.99), time.Second)
	assert.Less(t, p(apiLat, 0.99), time.Second)
}

// histogramQuantile returns the upper bound of the bucket holding the q
// quantile of a meshlens histogram.
func histogramQuantile(t *testing.T, m *meshlens, name string, q float64) time.Duration {
	t.Helper()
	buckets := histogramBuckets(t, m, name)
	total := buckets[len(buckets)-1].count
	for _, b := range buckets {
		if b.count >= q*total {
			return time.Duration(b.le * float64(time.Second))
		}
	}
	return time.Duration(math.MaxInt64)
}

// histogramShareBelow returns the share of a meshlens histogram's
// observations at or below le (a bucket bound).
func histogramShareBelow(t *testing.T, m *meshlens, name string, le float64) float64 {
	t.Helper()
	buckets := histogramBuckets(t, m, name)
	total := buckets[len(buckets)-1].count
	for _, b := range buckets {
		if b.le == le && total > 0 {
			return b.count / total
		}
	}
	t.Fatalf("%s has no bucket le=%g", name, le)
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
