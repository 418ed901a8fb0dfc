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
// time, so expired ones vanish. Their values are copied under the lock and
// the metrics built and sent after releasing it: ingest (ConsumeRecords)
// never waits for the scrape's consumer.
func (s *spanMetrics) Collect(ch chan<- prometheus.Metric) {
	type row struct {
		labels [4]string
		calls  uint64
		sum    float64
		counts []uint64
	}
	s.mu.Lock()
	s.m.Expire(s.now())
	bounds := s.m.Buckets()
	rows := make([]row, 0, s.m.Len())
	counts := make([]uint64, 0, s.m.Len()*(len(bounds)+1))
	s.m.Range(func(sr *spans.Series) {
		at := len(counts)
		counts = append(counts, sr.Counts...)
		rows = append(rows, row{
			labels: [4]string{sr.Service, sr.Name, sr.Kind, sr.Status},
			calls:  sr.Calls, sum: sr.SumMillis, counts: counts[at:len(counts):len(counts)],
		})
	})
	n, overflowed, expired := s.m.Len(), s.m.Overflowed, s.m.Expired
	s.mu.Unlock()

	for i := range rows {
		r := &rows[i]
		ch <- prometheus.MustNewConstMetric(spmCalls, prometheus.CounterValue, float64(r.calls), r.labels[:]...)
		buckets := make(map[float64]uint64, len(bounds))
		var cum uint64
		for j, b := range bounds {
			cum += r.counts[j]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(spmDuration, r.calls, r.sum, buckets, r.labels[:]...)
	}
	ch <- prometheus.MustNewConstMetric(spmSeries, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(spmOverflow, prometheus.CounterValue, float64(overflowed))
	ch <- prometheus.MustNewConstMetric(spmExpired, prometheus.CounterValue, float64(expired))
}
