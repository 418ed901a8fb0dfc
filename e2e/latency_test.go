package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshlens/meshlens/internal/captures"
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
	captures.Dir(t) // without the real captures, skip before starting anything
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

	b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", "envoy-ingress.json"))
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

	// Bars (BENCHMARKS.md; see minThroughput): the latencies were measured
	// under the load asked for, and batches are processed promptly.
	assert.GreaterOrEqual(t, st.EntriesPerSecond(), min(rate, maxPacedLoad)/2, "background load in entries/s")
	assert.Less(t, p(metricsLat, 0.5), maxVisibleP50, "p50 visible in /metrics")
	assert.Less(t, p(apiLat, 0.5), maxVisibleP50, "p50 visible in the topology API")
	assert.LessOrEqual(t, bucketUpperQuantile(steady, 0.5), maxBatchP50, "steady-state p50 of a batch")
	assert.LessOrEqual(t, bucketUpperQuantile(steady, 0.99), maxBatchP99, "steady-state p99 of a batch")
	assert.GreaterOrEqual(t, bucketShareBelow(t, steady, 1e-3), minBatchWithin1ms, "steady-state share of batches within 1 ms")

	// Accounting: once the load stopped, every entry received was
	// processed, none rejected or dropped, none more than were sent (the
	// background load and the probes). Not exactly as many: the load is
	// stopped by cancelling its streams, and gRPC then discards what it had
	// queued or in flight on them, up to its write quota and a message per
	// stream and the connection's window (tens of MB over the load's
	// streams; 0–2.0 % of the entries sent in the runs measured with the
	// cores shared, 5.6 % with meshlens behind on one core).
	offered := float64(st.Entries) + float64(len(metricsLat)*len(base.GetHttpLogs().GetLogEntry()))
	s := m.scrape(t)
	for deadline := time.Now().Add(10 * time.Second); s["meshlens_receiver_entries_received_total"] != s["meshlens_receiver_entries_processed_total"]; s = m.scrape(t) {
		if time.Now().After(deadline) {
			t.Fatalf("received %.0f entries, processed %.0f", s["meshlens_receiver_entries_received_total"], s["meshlens_receiver_entries_processed_total"])
		}
		time.Sleep(50 * time.Millisecond)
	}
	processed := s["meshlens_receiver_entries_processed_total"]
	t.Logf("entries sent %.0f, processed %.0f", offered, processed)
	assert.LessOrEqual(t, processed, offered, "entries processed")
	assert.GreaterOrEqual(t, processed, offered*(1-maxCancelLoss), "entries processed")
	for _, family := range []string{
		"meshlens_receiver_messages_rejected_total", "meshlens_receiver_entries_rejected_total", "meshlens_receiver_entries_dropped_total",
	} {
		assert.Zero(t, familySum(s, family), family)
	}
}

// Bars of TestE2ELatency (session 4 and earlier, BENCHMARKS.md). The
// visible p99 must stay under a second (the issue-8 target, asserted
// above): 0.25–0.27 s was measured at 135,000–146,000 entries/s with the
// cores shared, 0.53 s at 312,000.
const (
	// maxPacedLoad: the paced generator on one core reached 183,000
	// entries/s: the load must reach half of the rate asked for, or of that.
	maxPacedLoad = 180_000.0
	// maxVisibleP50: 141–149 ms pinned at 183,000 entries/s.
	maxVisibleP50 = 500 * time.Millisecond
	// maxBatchP50: p50 ≤ 100–200 µs per batch, cores shared.
	maxBatchP50 = time.Millisecond
	// maxBatchP99: p99 ≤ 5–10 ms at 135,000–146,000 entries/s with the
	// cores shared, ≤ 25 ms at 312,000; ≤ 300–500 µs pinned.
	maxBatchP99 = 50 * time.Millisecond
	// minBatchWithin1ms: 94–96 % of batches within 1 ms with the cores
	// shared, 99.7 % pinned.
	minBatchWithin1ms = 0.8
	// maxCancelLoss bounds the share of the entries sent that cancelling
	// the load may discard (measured: 0–5.6 %): a gross bound, the exact
	// accounting is TestE2EThroughput's.
	maxCancelLoss = 0.5
)

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
