package hubextension

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/remotewrite/rwtest"
	"github.com/meshlens/meshlens/internal/benchrecs"
)

// envoyRqTimeBounds are Envoy's default histogram bucket bounds (ms).
var envoyRqTimeBounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// envoyStats returns what one Envoy sends over the Metrics Service for
// clusters upstream clusters, as Envoy names and types them: per cluster
// four counters, two gauges, the request time as a histogram (Envoy's 19
// default bounds) and the connect time as a summary; and two server
// gauges. A cluster is 4 + 2 + 22 + 7 = 35 envoy_* series; seed varies the
// values.
func envoyStats(clusters, seed int) []*dto.MetricFamily {
	counter, gauge := dto.MetricType_COUNTER.Enum(), dto.MetricType_GAUGE.Enum()
	one := func(typ *dto.MetricType, name string, m *dto.Metric) *dto.MetricFamily {
		return &dto.MetricFamily{Name: proto.String(name), Type: typ, Metric: []*dto.Metric{m}}
	}
	v := func(i int) float64 { return float64((seed*7919 + i*104729) % 100_000) }
	fams := []*dto.MetricFamily{
		one(gauge, "server.live", &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(1)}}),
		one(gauge, "server.memory_allocated", &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(v(1) * 1024)}}),
	}
	for c := range clusters {
		p := fmt.Sprintf("cluster.outbound|9080||svc%d.default.svc.cluster.local.", c)
		for i, n := range []string{"upstream_rq_total", "upstream_cx_total", "upstream_rq_retry", "upstream_rq_timeout"} {
			fams = append(fams, one(counter, p+n, &dto.Metric{Counter: &dto.Counter{Value: proto.Float64(v(c*10 + i))}}))
		}
		for i, n := range []string{"upstream_cx_active", "membership_healthy"} {
			fams = append(fams, one(gauge, p+n, &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(v(c*10 + 5 + i))}}))
		}
		h := &dto.Histogram{SampleCount: proto.Uint64(uint64(v(c))), SampleSum: proto.Float64(v(c) * 12.5)}
		for i, b := range envoyRqTimeBounds {
			n := uint64(v(c)) * uint64(i+1) / uint64(len(envoyRqTimeBounds))
			h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(b), CumulativeCount: proto.Uint64(n)})
		}
		fams = append(fams, one(dto.MetricType_HISTOGRAM.Enum(), p+"upstream_rq_time", &dto.Metric{Histogram: h}))
		s := &dto.Summary{SampleCount: proto.Uint64(uint64(v(c + 1))), SampleSum: proto.Float64(v(c+1) * 0.75)}
		for i, q := range []float64{0, 0.25, 0.5, 0.75, 0.9} {
			s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: proto.Float64(q), Value: proto.Float64(float64(i) * 1.5)})
		}
		fams = append(fams, one(dto.MetricType_SUMMARY.Enum(), p+"upstream_cx_connect_ms", &dto.Metric{Summary: s}))
	}
	return fams
}

// feedEnvoyStats has proxies Envoys report envoyStats(clusters).
func feedEnvoyStats(h *Hub, proxies, clusters int, now time.Time) {
	for p := range proxies {
		id := fmt.Sprintf("sidecar~10.0.%d.%d~productpage-v1-%d.default~default.svc.cluster.local", p/256, p%256, p)
		h.ConsumeEnvoyStats(accesslog.NewProxy(id, "productpage.default", nil), envoyStats(clusters, p), now)
	}
}

// rwFamiliesHub is rwHub (sets HTTP label sets) whose records also feed the
// span metrics, and to which proxies Envoys report envoyStats(clusters).
func rwFamiliesHub(t *testing.T, sets, proxies, clusters int, sink *rwSink, edit func(*Config)) *Hub {
	t.Helper()
	cfg := rwConfig(t, sets, sink)
	if edit != nil {
		edit(cfg)
	}
	now := time.Now()
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), func() time.Time { return now })
	require.NoError(t, err)
	for b := range slicesChunk(benchrecs.LabelSets(sets), 1000) {
		require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), b))
	}
	feedEnvoyStats(h, proxies, clusters, now)
	require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
	return h
}

// scrapeText returns the hub's /metrics as text (format 0.0.4) parsed by
// Prometheus's parser: the series of the families whose names start with
// one of prefixes.
func scrapeText(t *testing.T, h *Hub, prefixes ...string) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", http.NoBody)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	h.serveMetrics(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	out, err := rwtest.ParseText(rec.Body.Bytes(), func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	})
	require.NoError(t, err)
	return out
}

// rwExternalLabel matches the external labels rwFamiliesHub sets (and job's
// default) in a rwtest key.
var rwExternalLabel = regexp.MustCompile(`([{,])(cluster="eu-1"|instance="pod-0"|job="meshlens"),`)

// pushedSamples decodes what sink received, checks that every series has
// the external labels, and returns the samples without them, and the
// native histograms' keys.
func pushedSamples(t *testing.T, sink *rwSink) (map[string]float64, *rwtest.Decoded) {
	t.Helper()
	sink.mu.Lock()
	bodies := sink.bodies
	sink.mu.Unlock()
	d, err := rwtest.Decode(bodies...)
	require.NoError(t, err)
	assert.Empty(t, d.Problems)
	out := make(map[string]float64, len(d.Samples))
	for k, v := range d.Samples {
		stripped := k
		for range 3 {
			stripped = rwExternalLabel.ReplaceAllString(stripped, "$1")
		}
		require.Len(t, stripped, len(k)-len(`cluster="eu-1",instance="pod-0",job="meshlens",`), "%s: the three external labels", k)
		out[stripped] = v
	}
	return out, d
}

// TestRemoteWriteEqualsScrape: decoded with Prometheus's prompb, one push of
// the default sources is, series for series, label for label and value
// for value, what Prometheus's parser reads from the text exposition of
// /metrics for the Istio series, envoy_* (counters, gauges, an Envoy
// histogram with its le as written, a summary with its quantiles) and the
// span metrics, plus the external labels; whatever the request size. With
// native histograms on, the Istio histograms go native and the rest as the
// scrape has them: the span metrics' histogram stays classic, as the
// protobuf exposition writes it (no native buckets). The self-metrics
// count every sample and request.
func TestRemoteWriteEqualsScrape(t *testing.T) {
	for _, tt := range []struct {
		name     string
		native   bool
		maxBytes int
	}{
		{name: "classic", maxBytes: DefaultRemoteWriteMaxRequestBytes},
		{name: "small requests", maxBytes: 64 << 10},
		{name: "native histograms", native: true, maxBytes: DefaultRemoteWriteMaxRequestBytes},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &rwSink{}
			h := rwFamiliesHub(t, 40, 20, 5, sink, func(c *Config) {
				c.Metrics.NativeHistograms.Enabled = tt.native
				c.RemoteWrite.MaxRequestBytes = tt.maxBytes
			})
			h.rw.push(context.Background())
			got, d := pushedSamples(t, sink)

			prefixes := []string{"envoy_", "traces_span_metrics_"}
			if !tt.native {
				prefixes = append(prefixes, "istio_")
			}
			want := scrapeText(t, h, prefixes...)
			if tt.native {
				for k := range got {
					if strings.HasPrefix(k, "istio_") {
						delete(got, k)
					}
				}
				for k := range d.Histograms {
					assert.True(t, strings.HasPrefix(k, "istio_"), "%s: only the Istio histograms are native", k)
				}
				assert.NotEmpty(t, d.Histograms)
				assertNoNativeSpanMetrics(t, h)
			}
			require.Equal(t, want, got)
			names := map[string]bool{}
			for k := range want {
				names[k[:strings.IndexByte(k, '{')]] = true
			}
			for _, n := range []string{
				"envoy_cluster_upstream_rq_total", "envoy_server_live", "envoy_cluster_upstream_rq_time_bucket",
				"envoy_cluster_upstream_cx_connect_ms", "envoy_cluster_upstream_cx_connect_ms_count",
				"traces_span_metrics_calls_total", "traces_span_metrics_duration_milliseconds_bucket",
			} {
				assert.True(t, names[n], "%s pushed", n)
			}
			assert.Contains(t, want, `envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="outbound|9080||svc0.default.svc.cluster.local",le="1.8e+06",namespace="default",node_cluster="productpage.default",node_id="sidecar~10.0.0.0~productpage-v1-0.default~default.svc.cluster.local",pod="productpage-v1-0",workload="productpage-v1-0",}`,
				"le as the exposition writes it")

			sink.mu.Lock()
			requests := len(sink.bodies)
			sink.mu.Unlock()
			if tt.maxBytes < 1<<20 {
				assert.Greater(t, requests, 5)
			}
			assert.InDelta(t, float64(requests), metricValue(t, h, "meshlens_remote_write_requests_total"), 0)
			assert.InDelta(t, float64(len(d.Samples)), metricValue(t, h, "meshlens_remote_write_samples_total"), 0, "every sample counted once")
			assert.InDelta(t, float64(len(d.Histograms)), metricValue(t, h, "meshlens_remote_write_histograms_total"), 0)
			assert.Zero(t, metricValue(t, h, "meshlens_remote_write_dropped_total"))
		})
	}
}

// assertNoNativeSpanMetrics checks that the protobuf exposition's span
// metrics and Envoy histograms are classic: what a Prometheus with native
// histograms on stores when it scrapes, and so what the sender pushes.
func assertNoNativeSpanMetrics(t *testing.T, h *Hub) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", http.NoBody)
	req.Header.Set("Accept", promProtoAccept)
	h.serveMetrics(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	r := bufio.NewReader(rec.Body)
	seen := map[string]bool{}
	for {
		mf := &dto.MetricFamily{}
		if err := protodelim.UnmarshalFrom(r, mf); err != nil {
			require.ErrorIs(t, err, io.EOF)
			break
		}
		if !strings.HasPrefix(mf.GetName(), "traces_span_metrics_") && !strings.HasPrefix(mf.GetName(), "envoy_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hg := m.GetHistogram(); hg != nil {
				seen[mf.GetName()] = true
				assert.Nil(t, hg.Schema, "%s: no native histogram in the exposition", mf.GetName())
				assert.Empty(t, hg.GetPositiveSpan())
				assert.NotEmpty(t, hg.GetBucket())
			}
		}
	}
	assert.True(t, seen["traces_span_metrics_duration_milliseconds"])
	assert.True(t, seen["envoy_cluster_upstream_rq_time"])
}

// TestRemoteWriteSources: the sender pushes the families of the sources
// listed, and only those; the self-metrics' families never.
func TestRemoteWriteSources(t *testing.T) {
	for _, tt := range []struct {
		sources []string
		want    []string // the name prefixes pushed
	}{
		{sources: []string{"istio"}, want: []string{"istio_"}},
		{sources: []string{"envoy"}, want: []string{"envoy_"}},
		{sources: []string{"span_metrics"}, want: []string{"traces_span_metrics_"}},
		{sources: []string{"span_metrics", "envoy"}, want: []string{"envoy_", "traces_span_metrics_"}},
		{sources: []string{"istio", "envoy", "span_metrics"}, want: []string{"envoy_", "istio_", "traces_span_metrics_"}},
	} {
		t.Run(strings.Join(tt.sources, ","), func(t *testing.T) {
			sink := &rwSink{}
			h := rwFamiliesHub(t, 10, 3, 2, sink, func(c *Config) { c.RemoteWrite.Sources = tt.sources })
			h.rw.push(context.Background())
			got, _ := pushedSamples(t, sink)
			prefixes := map[string]int{}
			for k := range got {
				p := "other: " + k
				for _, q := range []string{"envoy_", "istio_", "traces_span_metrics_"} {
					if strings.HasPrefix(k, q) {
						p = q
					}
				}
				prefixes[p]++
			}
			var pushed []string
			for p := range prefixes {
				pushed = append(pushed, p)
			}
			assert.ElementsMatch(t, tt.want, pushed)
			assert.Equal(t, scrapeText(t, h, tt.want...), got)
		})
	}
}

// TestRemoteWriteFamiliesReleaseLocks: while a request of envoy_* and span
// metrics waits for the remote, Envoy stats and records are still taken
// in: no aggregation's lock is held across a network write.
func TestRemoteWriteFamiliesReleaseLocks(t *testing.T) {
	sink := &rwSink{block: make(chan struct{})}
	h := rwFamiliesHub(t, 10, 50, 10, sink, func(c *Config) {
		c.RemoteWrite.Sources = []string{RemoteWriteSourceEnvoy, RemoteWriteSourceSpanMetrics}
		c.RemoteWrite.MaxRequestBytes = 64 << 10
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.rw.push(context.Background())
	}()
	require.Eventually(t, func() bool { return sink.inFlight.Load() == 1 }, 10*time.Second, time.Millisecond)
	ingested := make(chan struct{})
	go func() {
		defer close(ingested)
		feedEnvoyStats(h, 50, 10, time.Now())
		_ = h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), benchrecs.LabelSets(10))
	}()
	select {
	case <-ingested:
	case <-time.After(5 * time.Second):
		t.Error("ingest waited for the remote")
	}
	close(sink.block)
	<-done
	<-ingested
	assert.Zero(t, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"))
	assert.Positive(t, metricValue(t, h, "meshlens_remote_write_samples_total"))
}
