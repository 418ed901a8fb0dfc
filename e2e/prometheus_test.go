package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// dialConns opens n client connections to addr and spreads streams over
// them round robin (loadgen.Conns). closeAll closes them before the test's
// end (the test's cleanup closes them too).
func dialConns(t *testing.T, addr string, n int) (conn grpc.ClientConnInterface, closeAll func()) {
	t.Helper()
	conns := make([]grpc.ClientConnInterface, n)
	closers := make([]*grpc.ClientConn, n)
	for i := range conns {
		closers[i] = dial(t, addr)
		conns[i] = closers[i]
	}
	return loadgen.NewConns(conns...), func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
}

// loadtestConns is the number of client connections the throughput test
// spreads its streams over: MESHLENS_LOADTEST_CONNS (0 or "streams": one per
// stream, Envoy's layout, where each worker thread streams on its own
// connection), else 1, the setting of every earlier figure in BENCHMARKS.md.
func loadtestConns(streams int) int {
	v := os.Getenv("MESHLENS_LOADTEST_CONNS")
	if v == "streams" || v == "0" {
		return max(streams, 1)
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return max(min(n, streams), 1)
	}
	return 1
}

// waitProcessed waits until meshlens has processed n entries.
func waitProcessed(t *testing.T, m *meshlens, n float64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m.metric(t, "meshlens_receiver_entries_processed_total") >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("meshlens processed %v entries, want %v", m.metric(t, "meshlens_receiver_entries_processed_total"), n)
}

// sendCaptures streams the four real Bookinfo captures, one stream each.
func sendCaptures(t *testing.T, addr string) {
	t.Helper()
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	for _, f := range []string{"envoy-ingress.json", "envoy-ingress2sidecar.json", "envoy-mesh-client-sidecar.json", "envoy-mesh-server-sidecar.json"} {
		b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", f))
		require.NoError(t, err)
		var m alsv3.StreamAccessLogsMessage
		require.NoError(t, protojson.Unmarshal(b, &m))
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Send(&m))
		_, err = s.CloseAndRecv()
		require.NoError(t, err)
	}
}

// sendMetricsCaptures streams real Metrics Service messages on one stream.
func sendMetricsCaptures(t *testing.T, addr string, files ...string) {
	t.Helper()
	client := metricsv3.NewMetricsServiceClient(dial(t, addr))
	s, err := client.StreamMetrics(context.Background())
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(captures.Dir(t, "metrics", "skywalking", f))
		require.NoError(t, err)
		var m metricsv3.StreamMetricsMessage
		require.NoError(t, protojson.Unmarshal(b, &m))
		require.NoError(t, s.Send(&m))
	}
	_, err = s.CloseAndRecv()
	require.NoError(t, err)
}

// serverDurations decodes the traffic with the standard protobuf library
// (independently of meshlens's decoder) and returns the durations in ms of
// the server-side entries per destination workload.
func serverDurations(t *testing.T, tr *loadgen.Traffic) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for i := range tr.Streams {
		msgs, err := tr.Streams[i].Decode()
		require.NoError(t, err)
		workload := msgs[0].GetIdentifier().GetNode().GetMetadata().GetFields()["WORKLOAD_NAME"].GetStringValue()
		for _, m := range msgs {
			for _, e := range m.GetHttpLogs().GetLogEntry() {
				c := e.GetCommonProperties()
				if !strings.HasPrefix(c.GetUpstreamCluster(), "inbound") || c.GetDuration() == nil {
					continue
				}
				out[workload] = append(out[workload], float64(c.GetDuration().AsDuration().Nanoseconds())/1e6)
			}
		}
	}
	return out
}

// bucketQuantile is Prometheus's histogram_quantile over Istio's buckets.
func bucketQuantile(q float64, values []float64, bounds []float64) float64 {
	counts := make([]float64, len(bounds)+1)
	for _, v := range values {
		counts[sort.SearchFloat64s(bounds, v)]++
	}
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	total := counts[len(counts)-1]
	rank := q * total
	b := sort.Search(len(counts), func(i int) bool { return counts[i] >= rank })
	if b == len(bounds) {
		return bounds[len(bounds)-1]
	}
	lower, prev := 0.0, 0.0
	if b > 0 {
		lower, prev = bounds[b-1], counts[b-1]
	}
	return lower + (bounds[b]-lower)*(rank-prev)/(counts[b]-prev)
}

// TestPrometheusEndToEnd replays the real captures and a generated mesh
// through the meshlens binary, lets a real Prometheus scrape it every
// second, and checks PromQL answers against the generator's ledger.
func TestE2EPrometheus(t *testing.T) {
	need(t, "prometheus")
	captures.Dir(t) // without the real captures, skip before starting anything
	mesh := startMeshlens(t)
	replay := startMeshlens(t)
	prom := startPrometheus(t, mesh.HTTP, replay.HTTP)

	// The real captures, on their own meshlens: ALS, and the Metrics
	// Service stream of a real Envoy, which then reconnects after a restart
	// (its counters start again from the first capture's values).
	sendCaptures(t, replay.GRPC)
	waitProcessed(t, replay, 4)
	sendMetricsCaptures(t, replay.GRPC, "identify.v3.json", "metrics.json")
	sendMetricsCaptures(t, replay.GRPC, "identify.v3.json")

	// A generated mesh, sent twice: the first pass creates every series, the
	// second adds exactly the ledger, which increase() over the scrapes that
	// bracket it must return.
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 11, Requests: 4000, TCPPeriodic: true})
	conn := dial(t, mesh.GRPC)
	entries := float64(tr.EntryCount())
	_, err := loadgen.Send(context.Background(), conn, tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, entries)
	t0 := prom.waitScrapes(t, mesh.HTTP, time.Now())
	_, err = loadgen.Send(context.Background(), conn, tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, 2*entries)
	t1 := prom.waitScrapes(t, mesh.HTTP, time.Now())
	window := fmt.Sprintf("%dms", t1.Sub(t0).Milliseconds())
	t.Logf("phase 1 between scrapes at %s and %s (window %s)", t0.Format(time.RFC3339Nano), t1.Format(time.RFC3339Nano), window)
	inst := fmt.Sprintf(`instance=%q`, mesh.HTTP)

	t.Run("requests per reporter, source, destination and code", func(t *testing.T) {
		got := prom.requests(t, `sum(increase(istio_requests_total{`+inst+`}[`+window+`])) by (reporter, source_workload, destination_workload, response_code)`, t1)
		require.Len(t, got, len(tr.Ledger.Requests))
		for k, want := range tr.Ledger.Requests {
			assert.InDelta(t, float64(want.Count), got[k], 1e-9, "%v", k)
		}
		byDst := map[[2]string]float64{}
		for k, v := range tr.Ledger.Requests {
			byDst[[2]string{k.Destination, k.ResponseCode}] += float64(v.Count)
		}
		res := prom.query(t, `sum(increase(istio_requests_total{`+inst+`}[`+window+`])) by (destination_workload, response_code)`, t1)
		require.Len(t, res, len(byDst))
		for _, s := range res {
			assert.InDelta(t, byDst[[2]string{s.Metric["destination_workload"], s.Metric["response_code"]}], s.Value, 1e-9, "%v", s.Metric)
		}
	})
	t.Run("latency sums to the millisecond", func(t *testing.T) {
		for _, s := range prom.query(t, `sum(increase(istio_request_duration_milliseconds_sum{`+inst+`}[`+window+`])) by (reporter, source_workload, destination_workload, response_code)`, t1) {
			k := loadgen.RequestKey{
				Reporter: loadgen.Reporter(s.Metric["reporter"]), Source: s.Metric["source_workload"],
				Destination: s.Metric["destination_workload"], ResponseCode: s.Metric["response_code"],
			}
			want, ok := tr.Ledger.Requests[k]
			require.True(t, ok, "%v", k)
			assert.InDelta(t, float64(want.DurationNanos)/1e6, s.Value, 1e-3, "%v", k)
		}
	})
	t.Run("p99 per destination workload", func(t *testing.T) {
		want := serverDurations(t, tr)
		res := prom.query(t, `histogram_quantile(0.99, sum by (le, destination_workload) (increase(istio_request_duration_milliseconds_bucket{`+inst+`,reporter="destination"}[`+window+`])))`, t1)
		require.Len(t, res, len(want))
		for _, s := range res {
			exp := bucketQuantile(0.99, want[s.Metric["destination_workload"]], istiometrics.DefaultBuckets)
			assert.InEpsilon(t, exp, s.Value, 1e-9, "%s", s.Metric["destination_workload"])
		}
	})
	t.Run("TCP counters", func(t *testing.T) {
		for _, name := range []string{"istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total", "istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total"} {
			got := map[loadgen.PairKey]float64{}
			for _, s := range prom.query(t, `sum(increase(`+name+`{`+inst+`}[`+window+`])) by (reporter, source_workload, destination_workload)`, t1) {
				got[loadgen.PairKey{Reporter: loadgen.Reporter(s.Metric["reporter"]), Source: s.Metric["source_workload"], Destination: s.Metric["destination_workload"]}] = s.Value
			}
			require.Len(t, got, len(tr.Ledger.TCP), name)
			for k, v := range tr.Ledger.TCP {
				want := map[string]float64{
					"istio_tcp_connections_opened_total": float64(v.Opened), "istio_tcp_connections_closed_total": float64(v.Closed),
					"istio_tcp_sent_bytes_total": float64(v.SentBytes), "istio_tcp_received_bytes_total": float64(v.ReceivedBytes),
				}[name]
				assert.InDelta(t, want, got[k], 1e-9, "%s %v", name, k)
			}
		}
	})
	t.Run("real captures", func(t *testing.T) {
		ci := fmt.Sprintf(`instance=%q`, replay.HTTP)
		res := prom.query(t, `sum(istio_requests_total{`+ci+`}) by (reporter, source_workload, destination_service_name)`, time.Time{})
		got := map[string]float64{}
		for _, s := range res {
			got[s.Metric["reporter"]+" "+s.Metric["source_workload"]+" → "+s.Metric["destination_service_name"]] = s.Value
		}
		assert.Equal(t, map[string]float64{
			"source istio-ingressgateway → productpage": 1,
			"destination unknown → productpage":         1, // no peer metadata in the captures: the report names no caller (ADR 0003)
			"source productpage-v1 → details":           1,
			"destination unknown → reviews":             1,
		}, got)
	})
	t.Run("Envoy stats stay cumulative across reconnects", func(t *testing.T) {
		ci := fmt.Sprintf(`instance=%q`, replay.HTTP)
		res := prom.query(t, `envoy_cluster_update_attempt{`+ci+`,envoy_cluster_name="service_stats",node_id="ingress"}`, time.Time{})
		require.Len(t, res, 1)
		// 1 → 2 on the first stream, then 1 again after the restart: 2 + 1.
		assert.InDelta(t, 3, res[0].Value, 0)
		res = prom.query(t, `envoy_server_live{`+ci+`,node_id="ingress"}`, time.Time{})
		require.Len(t, res, 1, "gauges are re-exported")
	})
	t.Run("exemplars link latency to traces", func(t *testing.T) {
		u := prom.URL + "/api/v1/query_exemplars?query=" + "istio_request_duration_milliseconds_bucket" +
			fmt.Sprintf("&start=%d&end=%d", t0.Add(-time.Minute).Unix(), time.Now().Unix()+1)
		code, body, err := httpGet(u, "")
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
		assert.Contains(t, body, `"trace_id"`)
	})
	t.Run("promtool accepts the exposition", func(t *testing.T) {
		promtool := need(t, "promtool")
		_, body, err := httpGet("http://"+mesh.HTTP+"/metrics", "")
		require.NoError(t, err)
		cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil {
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee)
			require.Equal(t, 3, ee.ExitCode(), "exit 3 = parsed, lint findings only:\n%s", out)
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				// Istio's own name and the span-metrics name Jaeger's Monitor
				// tab queries (ADR 0005), which meshlens must keep.
				assert.Contains(t, []string{
					`istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"`,
					`traces_span_metrics_duration_milliseconds use base unit "seconds" instead of "milliseconds"`,
				}, line)
			}
		}
	})
}
