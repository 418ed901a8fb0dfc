package spans

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

// registerLocked creates the span metrics' adapter and registers it on reg,
// as the hub does.
func registerLocked(reg prometheus.Registerer, ttl time.Duration, now func() time.Time) *Locked {
	s := NewLocked(MetricsConfig{TTL: ttl}, now)
	reg.MustRegister(s)
	return s
}

// captureBatch decodes real captures, one stream each, into one batch.
func captureBatch(t testing.TB, names ...string) []accesslog.Record {
	t.Helper()
	var out []accesslog.Record
	for _, name := range names {
		out = append(out, captureRecords(t, name)...)
	}
	return out
}

// bookinfoRecords decodes the HTTP streams of generated Bookinfo traffic.
func bookinfoRecords(t testing.TB) []accesslog.Record {
	t.Helper()
	return trafficRecords(t, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 2, Requests: 5000}))
}

func TestSpanMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := time.Unix(1000, 0)
	s := registerLocked(reg, time.Minute, func() time.Time { return now })
	recs := captureBatch(t, "envoy-ingress.json", "envoy-ingress2sidecar.json", "envoy-mesh-client-sidecar.json", "envoy-mesh-server-sidecar.json")
	s.ConsumeRecords(recs, nil, now)
	s.ConsumeRecords(recs[:1], nil, now)

	const want = `
# HELP traces_span_metrics_calls_total Requests (spans) by service, span name, kind and status, from every access-log entry.
# TYPE traces_span_metrics_calls_total counter
traces_span_metrics_calls_total{service_name="istio-ingressgateway",span_kind="SPAN_KIND_CLIENT",span_name="productpage.default.svc.cluster.local:9080/*",status_code="STATUS_CODE_UNSET"} 2
traces_span_metrics_calls_total{service_name="product",span_kind="SPAN_KIND_SERVER",span_name="productpage.default.svc.cluster.local:9080/*",status_code="STATUS_CODE_UNSET"} 1
traces_span_metrics_calls_total{service_name="productpage",span_kind="SPAN_KIND_CLIENT",span_name="details.default.svc.cluster.local:9080/*",status_code="STATUS_CODE_UNSET"} 1
traces_span_metrics_calls_total{service_name="reviews",span_kind="SPAN_KIND_SERVER",span_name="reviews.default.svc.cluster.local:9080/*",status_code="STATUS_CODE_UNSET"} 1
`
	require.NoError(t, testutil.CollectAndCompare(s, strings.NewReader(want), "traces_span_metrics_calls_total"))

	// The histogram: the gateway's two 1010 ms requests fall in (1000, 1400].
	fams, err := reg.Gather()
	require.NoError(t, err)
	found := false
	for _, f := range fams {
		if f.GetName() != "traces_span_metrics_duration_milliseconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() != "istio-ingressgateway" { // labels sorted: service_name first
				continue
			}
			found = true
			h := m.GetHistogram()
			assert.Equal(t, uint64(2), h.GetSampleCount())
			assert.InDelta(t, 2*1010.43291, h.GetSampleSum(), 1e-6)
			for _, b := range h.GetBucket() {
				want := uint64(0)
				if b.GetUpperBound() >= 1400 {
					want = 2
				}
				assert.Equal(t, want, b.GetCumulativeCount(), "le=%v", b.GetUpperBound())
			}
		}
	}
	assert.True(t, found)

	// Series expire with series_ttl.
	now = now.Add(2 * time.Minute)
	require.NoError(t, testutil.CollectAndCompare(s, strings.NewReader(""), "traces_span_metrics_calls_total"))
	s.mu.Lock()
	assert.Equal(t, uint64(4), s.m.Expired)
	s.mu.Unlock()
}

func TestSpanMetricsSteadyStateAllocatesNothing(t *testing.T) {
	recs := bookinfoRecords(t)
	s := registerLocked(prometheus.NewRegistry(), time.Hour, time.Now)
	now := time.Now()
	s.ConsumeRecords(recs, nil, now)
	allocs := testing.AllocsPerRun(20, func() { s.ConsumeRecords(recs, nil, now) })
	assert.Zero(t, allocs)
}

// BenchmarkSpanMetrics measures the span metrics per record in steady state
// (series exist), lock included, over 1,000 records: the hub counts a
// message's records right after they were decoded, while the message's
// bytes are still in cache.
func BenchmarkSpanMetrics(b *testing.B) {
	recs := bookinfoRecords(b)[:1100]
	s := registerLocked(prometheus.NewRegistry(), time.Hour, time.Now)
	now := time.Now()
	s.ConsumeRecords(recs, nil, now)
	batches := 0
	b.ReportAllocs()
	for b.Loop() {
		lo := (batches * 100) % (len(recs) - 100)
		s.ConsumeRecords(recs[lo:lo+100], nil, now)
		batches++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(batches*100), "ns/record")
}

// TestSpanMetricsCollectDoesNotBlockIngest checks that a scrape whose
// consumer stops reading does not hold the lock ingest needs: values are
// copied under it, metrics sent after.
func TestSpanMetricsCollectDoesNotBlockIngest(t *testing.T) {
	now := func() time.Time { return time.Unix(1_700_000_000, 0) }
	s := registerLocked(prometheus.NewRegistry(), time.Hour, now)
	recs := captureRecords(t, "envoy-ingress.json")
	s.ConsumeRecords(recs, nil, now())
	ch := make(chan prometheus.Metric) // never read until the end
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		s.Collect(ch)
	}()
	time.Sleep(50 * time.Millisecond) // Collect is blocked sending by now
	ingested := make(chan struct{})
	go func() {
		defer close(ingested)
		s.ConsumeRecords(recs, nil, now())
	}()
	select {
	case <-ingested:
	case <-time.After(5 * time.Second):
		t.Error("ingest waited for a blocked scrape")
	}
	go func() {
		for m := range ch { // drain
			_ = m
		}
	}()
	<-collected
	close(ch)
}
