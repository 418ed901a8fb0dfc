package hubextension

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
)

// spanMetrics computes, from every final HTTP record (not only the sampled
// ones), the series Jaeger's Monitor tab (SPM) queries and the
// OpenTelemetry spanmetrics connector writes: traces_span_metrics_calls_total
// and traces_span_metrics_duration_milliseconds, labelled service_name,
// span_name, span_kind and status_code. The names and label values are
// those of the spans the receiver rebuilds (exporters/spans), so the
// Monitor tab and the traces agree. Series are bounded (spans.Metrics,
// with an overflow series) and expire with the Istio series' series_ttl.
type spanMetrics struct {
	mu  sync.Mutex
	m   *spans.Metrics
	now func() time.Time
}

var (
	spmLabels   = []string{"service_name", "span_name", "span_kind", "status_code"}
	spmCalls    = prometheus.NewDesc("traces_span_metrics_calls_total", "Requests (spans) by service, span name, kind and status, from every access-log entry.", spmLabels, nil)
	spmDuration = prometheus.NewDesc("traces_span_metrics_duration_milliseconds", "Request (span) duration in milliseconds, from every access-log entry.", spmLabels, nil)
	spmSeries   = prometheus.NewDesc("meshlens_span_metrics_series", "Span-metrics series held.", nil, nil)
	spmOverflow = prometheus.NewDesc("meshlens_span_metrics_overflow_total", "Records counted in an overflow series because the span-metrics series budget was spent.", nil, nil)
	spmExpired  = prometheus.NewDesc("meshlens_span_metrics_expired_total", "Span-metrics series removed after series_ttl without records.", nil, nil)
)

// registerSpanMetrics creates the span metrics and registers them on reg.
func registerSpanMetrics(reg prometheus.Registerer, ttl time.Duration, now func() time.Time) *spanMetrics {
	s := &spanMetrics{m: spans.NewMetrics(spans.MetricsConfig{TTL: ttl}), now: now}
	reg.MustRegister(s)
	return s
}

// ConsumeRecords implements RecordConsumer.
func (s *spanMetrics) ConsumeRecords(recs []accesslog.Record, now time.Time) {
	s.mu.Lock()
	s.m.Observe(recs, now)
	s.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (s *spanMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{spmCalls, spmDuration, spmSeries, spmOverflow, spmExpired} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the series are built at scrape
// time, so expired ones vanish.
func (s *spanMetrics) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m.Expire(s.now())
	bounds := s.m.Buckets()
	s.m.Range(func(sr *spans.Series) {
		labels := []string{sr.Service, sr.Name, sr.Kind, sr.Status}
		ch <- prometheus.MustNewConstMetric(spmCalls, prometheus.CounterValue, float64(sr.Calls), labels...)
		buckets := make(map[float64]uint64, len(bounds))
		var cum uint64
		for i, b := range bounds {
			cum += sr.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(spmDuration, sr.Calls, sr.SumMillis, buckets, labels...)
	})
	ch <- prometheus.MustNewConstMetric(spmSeries, prometheus.GaugeValue, float64(s.m.Len()))
	ch <- prometheus.MustNewConstMetric(spmOverflow, prometheus.CounterValue, float64(s.m.Overflowed))
	ch <- prometheus.MustNewConstMetric(spmExpired, prometheus.CounterValue, float64(s.m.Expired))
}
