package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

// remoteWriteConfig is meshlens's default config plus the meshlens_metrics
// receiver pushing every %s (first argument) to the Prometheus at %s
// (second) with Prometheus remote write, configured as docs/push.md says
// so that the pushed series are named and labelled as the scraped ones.
const remoteWriteConfig = `extensions:
  meshlens:
    endpoint: ${env:MESHLENS_HTTP_ENDPOINT}
receivers:
  envoyals:
    endpoint: ${env:MESHLENS_GRPC_ENDPOINT}
    hub: meshlens
  meshlens_metrics:
    hub: meshlens
    collection_interval: %s
exporters:
  nop:
  prometheus_remote_write:
    http:
      endpoint: %s/api/v1/write
      tls:
        insecure: true
    translation_strategy: UnderscoreEscapingWithoutSuffixes
    disable_scope_info: true
    target_info:
      enabled: false
    remote_write_queue:
      enabled: false
service:
  extensions: [meshlens]
  pipelines:
    traces:
      receivers: [envoyals]
      exporters: [nop]
    metrics:
      receivers: [meshlens_metrics]
      exporters: [prometheus_remote_write]
  telemetry:
    metrics:
      level: none
`

// TestE2ERemoteWrite: the real Prometheus, with its remote-write receiver
// on, receives meshlens's push (meshlens_metrics → prometheusremotewrite)
// and scrapes the same meshlens's /metrics; PromQL over the pushed series
// (job="meshlens", from service.name) gives exactly what it gives over the
// scraped ones (job="scrape") and what the generated traffic's ledger says:
// Istio requests, duration histograms (count, sum, p99 from the buckets),
// TCP counters, envoy_* from real Metrics Service captures, span metrics.
func TestE2ERemoteWrite(t *testing.T) {
	need(t, "prometheus")
	captures.Dir(t) // without the real captures, skip before starting anything
	promAddr := freePort(t)
	cfgPath := filepath.Join(t.TempDir(), "meshlens.yaml")
	require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, remoteWriteConfig, "1s", "http://"+promAddr), 0o644))
	mesh := startMeshlens(t, "--config", cfgPath)
	prom := startPrometheusWith(t, promAddr, "scrape", []string{"--web.enable-remote-write-receiver"}, mesh.HTTP)

	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 18, Requests: 3000, TCPPeriodic: true})
	_, err := loadgen.Send(context.Background(), dial(t, mesh.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, float64(tr.EntryCount()))
	sendMetricsCaptures(t, mesh.GRPC, "identify.v3.json", "metrics.json")
	require.Eventually(t, func() bool {
		_, body, err := httpGet("http://"+mesh.HTTP+"/metrics", "")
		return err == nil && strings.Contains(body, "\nenvoy_server_live{")
	}, 30*time.Second, 50*time.Millisecond,
		"envoy_* from the Metrics Service capture in /metrics")

	var total float64
	for _, v := range tr.Ledger.Requests {
		total += float64(v.Count)
	}
	// Both the push and the scrape have caught up once each job's total is
	// the ledger's and envoy_* arrived by both ways.
	require.Eventually(t, func() bool {
		for _, job := range []string{"meshlens", "scrape"} {
			r := prom.query(t, fmt.Sprintf(`sum(istio_requests_total{job=%q})`, job), time.Time{})
			e := prom.query(t, fmt.Sprintf(`envoy_server_live{job=%q}`, job), time.Time{})
			if len(r) != 1 || r[0].Value != total || len(e) != 1 {
				return false
			}
		}
		return true
	}, 60*time.Second, 250*time.Millisecond, "Prometheus holds the pushed and the scraped series, %v requests each", total)
	res := prom.query(t, `count(istio_requests_total{job="meshlens"}) by (instance)`, time.Time{})
	require.Len(t, res, 1)
	host, _ := os.Hostname()
	assert.Equal(t, host, res[0].Metric["instance"], "pushed series: instance is service.instance.id, the host name")

	for _, q := range []string{
		`sum by (reporter, response_code, source_workload, destination_workload) (istio_requests_total{JOB})`,
		`sum by (reporter, source_workload, destination_workload) (istio_request_duration_milliseconds_count{JOB})`,
		`sum by (reporter, source_workload, destination_workload) (istio_request_duration_milliseconds_sum{JOB})`,
		`histogram_quantile(0.99, sum by (le, destination_workload) (istio_request_duration_milliseconds_bucket{JOB,reporter="destination"}))`,
		`sum by (reporter) (istio_request_bytes_count{JOB})`,
		`sum by (reporter) (istio_response_bytes_sum{JOB})`,
		`sum by (reporter, source_workload, destination_workload) (istio_tcp_sent_bytes_total{JOB})`,
		`sum by (reporter, source_workload, destination_workload) (istio_tcp_connections_opened_total{JOB})`,
		`sum by (reporter) (istio_request_messages_total{JOB})`,
		`sum by (__name__) ({__name__=~"envoy_.+",JOB})`,
		`count by (__name__) ({__name__=~"envoy_.+",JOB})`,
		`sum by (service_name, span_kind, status_code) (traces_span_metrics_calls_total{JOB})`,
		`sum by (service_name) (traces_span_metrics_duration_milliseconds_count{JOB})`,
		`count by (__name__) ({__name__=~"istio_.+|traces_span_metrics_.+",JOB})`,
	} {
		t.Run(q, func(t *testing.T) {
			pushed, scraped := prom.byLabels(t, q, "meshlens"), prom.byLabels(t, q, "scrape")
			require.NotEmpty(t, scraped)
			assert.Equal(t, scraped, pushed)
		})
	}

	t.Run("requests equal the ledger", func(t *testing.T) {
		got := prom.requests(t, `sum by (reporter, source_workload, destination_workload, response_code) (istio_requests_total{job="meshlens"})`, time.Time{})
		require.Len(t, got, len(tr.Ledger.Requests))
		for k, want := range tr.Ledger.Requests {
			assert.InDelta(t, float64(want.Count), got[k], 0, "%v: exactly", k)
		}
	})
	t.Run("TCP bytes equal the ledger", func(t *testing.T) {
		got := map[loadgen.PairKey]float64{}
		for _, s := range prom.query(t, `sum by (reporter, source_workload, destination_workload) (istio_tcp_sent_bytes_total{job="meshlens"})`, time.Time{}) {
			got[loadgen.PairKey{Reporter: loadgen.Reporter(s.Metric["reporter"]), Source: s.Metric["source_workload"], Destination: s.Metric["destination_workload"]}] = s.Value
		}
		require.Len(t, got, len(tr.Ledger.TCP))
		for k, v := range tr.Ledger.TCP {
			assert.InDelta(t, float64(v.SentBytes), got[k], 0, "%v: exactly", k)
		}
	})
}

// TestE2EOwnRemoteWrite: meshlens's own remote-write sender
// (extensions::meshlens::remote_write) pushes to the real Prometheus (2.42,
// --web.enable-remote-write-receiver), which also scrapes the same
// meshlens; PromQL over the pushed series (job="meshlens", the sender's
// default external label) gives exactly what it gives over the scraped
// ones (job="scrape"): Istio requests, duration, sizes, TCP and gRPC
// counters, quantiles over the buckets (le written as the exposition
// writes it, so even an le matcher agrees), envoy_* from a real Metrics
// Service capture (a counter by cluster and node, every family's sum and
// series), the span metrics (calls, duration count, a quantile over the
// buckets), the number of series per name. With native histograms on
// (meshlens and Prometheus), the three Istio histograms are pushed as
// native histograms and stored as the scraped ones: counts, sums and
// quantiles per label set agree exactly, and neither has classic buckets;
// the span metrics' histogram stays classic in both.
func TestE2EOwnRemoteWrite(t *testing.T) {
	need(t, "prometheus")
	for _, tt := range []struct {
		name    string
		native  bool
		queries []string
	}{
		{name: "classic", queries: []string{
			`sum by (reporter, response_code, source_workload, destination_workload) (istio_requests_total{JOB})`,
			`sum by (reporter, source_workload, destination_workload) (istio_request_duration_milliseconds_count{JOB})`,
			`sum by (reporter, source_workload, destination_workload) (istio_request_duration_milliseconds_sum{JOB})`,
			`histogram_quantile(0.99, sum by (le, destination_workload) (istio_request_duration_milliseconds_bucket{JOB,reporter="destination"}))`,
			`sum by (destination_workload) (istio_response_bytes_bucket{JOB,le="1.8e+06"})`,
			`sum by (reporter) (istio_request_bytes_count{JOB})`,
			`sum by (reporter) (istio_response_bytes_sum{JOB})`,
			`sum by (reporter, source_workload, destination_workload) (istio_tcp_sent_bytes_total{JOB})`,
			`sum by (reporter, source_workload, destination_workload) (istio_tcp_connections_opened_total{JOB})`,
			`sum by (reporter) (istio_request_messages_total{JOB})`,
			`count by (__name__) ({__name__=~"istio_.+|traces_span_metrics_.+",JOB})`,
		}},
		{name: "native", native: true, queries: []string{
			`sum by (reporter, response_code, source_workload, destination_workload) (istio_requests_total{JOB})`,
			`sum by (reporter, source_workload, destination_workload) (histogram_count(istio_request_duration_milliseconds{JOB}))`,
			`sum by (reporter, source_workload, destination_workload) (histogram_sum(istio_request_duration_milliseconds{JOB}))`,
			`histogram_quantile(0.99, sum by (destination_workload) (istio_request_duration_milliseconds{JOB,reporter="destination"}))`,
			`histogram_quantile(0.5, sum by (source_workload) (istio_request_bytes{JOB}))`,
			`sum by (reporter) (histogram_count(istio_response_bytes{JOB}))`,
			`sum by (reporter, source_workload, destination_workload) (istio_tcp_sent_bytes_total{JOB})`,
			`sum by (reporter) (istio_response_messages_total{JOB})`,
			`count by (__name__) ({__name__=~"istio_.+|traces_span_metrics_.+",JOB})`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			promAddr := freePort(t)
			args := []string{
				"--set", "extensions::meshlens::remote_write::endpoint=http://" + promAddr + "/api/v1/write",
				"--set", "extensions::meshlens::remote_write::interval=1s",
			}
			flags := []string{"--web.enable-remote-write-receiver"}
			if tt.native {
				args = append(args, "--set", "extensions::meshlens::metrics::native_histograms::enabled=true")
				flags = append(flags, "--enable-feature=native-histograms")
			}
			mesh := startMeshlens(t, args...)
			prom := startPrometheusWith(t, promAddr, "scrape", flags, mesh.HTTP)

			tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 21, Requests: 3000, TCPPeriodic: true})
			_, err := loadgen.Send(context.Background(), dial(t, mesh.GRPC), tr, loadgen.SendOptions{})
			require.NoError(t, err)
			waitProcessed(t, mesh, float64(tr.EntryCount()))
			// envoy_* from a real Envoy's Metrics Service stream, when the
			// captures are there (CI requires them).
			_, capErr := captures.Path("metrics", "skywalking", "metrics.json")
			envoy := capErr == nil || captures.Required()
			queries := slices.Clone(tt.queries)
			queries = append(queries,
				`sum by (service_name, span_kind, status_code) (traces_span_metrics_calls_total{JOB})`,
				`sum by (service_name, span_name) (traces_span_metrics_duration_milliseconds_count{JOB})`,
				`sum by (service_name) (traces_span_metrics_duration_milliseconds_sum{JOB})`,
				`histogram_quantile(0.9, sum by (le, service_name) (traces_span_metrics_duration_milliseconds_bucket{JOB}))`,
			)
			if envoy {
				sendMetricsCaptures(t, mesh.GRPC, "identify.v3.json", "metrics.json")
				queries = append(queries,
					`sum by (envoy_cluster_name, node_id) (envoy_cluster_upstream_rq_total{JOB})`,
					`sum by (__name__) ({__name__=~"envoy_.+",JOB})`,
					`count by (__name__) ({__name__=~"envoy_.+",JOB})`,
				)
			} else {
				t.Logf("envoy_* not checked: %v", capErr)
			}
			var total float64
			for _, v := range tr.Ledger.Requests {
				total += float64(v.Count)
			}
			count := `sum(istio_request_duration_milliseconds_count{job=%q})`
			if tt.native {
				count = `sum(histogram_count(istio_request_duration_milliseconds{job=%q}))`
			}
			require.Eventually(t, func() bool {
				var calls []float64
				for _, job := range []string{"meshlens", "scrape"} {
					r := prom.query(t, fmt.Sprintf(`sum(istio_requests_total{job=%q})`, job), time.Time{})
					c := prom.query(t, fmt.Sprintf(count, job), time.Time{})
					if len(r) != 1 || r[0].Value != total || len(c) != 1 || c[0].Value != total {
						return false
					}
					s := prom.query(t, fmt.Sprintf(`sum(traces_span_metrics_calls_total{job=%q})`, job), time.Time{})
					if len(s) != 1 {
						return false
					}
					calls = append(calls, s[0].Value)
					if envoy && len(prom.query(t, fmt.Sprintf(`envoy_server_live{job=%q}`, job), time.Time{})) != 1 {
						return false
					}
				}
				return calls[0] == calls[1]
			}, 60*time.Second, 250*time.Millisecond, "Prometheus holds the pushed and the scraped series, %v requests each", total)
			res := prom.query(t, `count(istio_requests_total{job="meshlens"}) by (instance)`, time.Time{})
			require.Len(t, res, 1)
			host, _ := os.Hostname()
			assert.Equal(t, host, res[0].Metric["instance"], "pushed series: instance is the host name by default")

			for _, q := range queries {
				t.Run(q, func(t *testing.T) {
					pushed, scraped := prom.byLabels(t, q, "meshlens"), prom.byLabels(t, q, "scrape")
					require.NotEmpty(t, scraped)
					assert.Equal(t, scraped, pushed)
				})
			}
			if tt.native {
				for _, job := range []string{"meshlens", "scrape"} {
					r := prom.query(t, fmt.Sprintf(`count({__name__=~"istio_.+_bucket",job=%q})`, job), time.Time{})
					assert.Empty(t, r, "%s: native histograms only", job)
					r = prom.query(t, fmt.Sprintf(`count(traces_span_metrics_duration_milliseconds_bucket{job=%q})`, job), time.Time{})
					assert.Len(t, r, 1, "%s: the span metrics' histogram is classic", job)
				}
			}
			t.Run("requests equal the ledger", func(t *testing.T) {
				got := prom.requests(t, `sum by (reporter, source_workload, destination_workload, response_code) (istio_requests_total{job="meshlens"})`, time.Time{})
				require.Len(t, got, len(tr.Ledger.Requests))
				for k, want := range tr.Ledger.Requests {
					assert.InDelta(t, float64(want.Count), got[k], 0, "%v: exactly", k)
				}
			})
		})
	}
}

// byLabels runs q with JOB replaced by job="<job>" and keys the result by
// its labels.
func (p *prometheus) byLabels(t *testing.T, q, job string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range p.query(t, strings.ReplaceAll(q, "JOB", fmt.Sprintf("job=%q", job)), time.Time{}) {
		out[fmt.Sprint(s.Metric)] = s.Value
	}
	return out
}
