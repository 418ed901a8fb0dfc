package spans

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlens/meshlens/accesslog"
)

// Locked is the span metrics' adapter: Metrics behind a mutex, fed by the
// hub with every final HTTP record (not only the sampled ones) and
// exported through the Prometheus registry as the series Jaeger's Monitor
// tab (SPM) queries and the OpenTelemetry spanmetrics connector writes:
// traces_span_metrics_calls_total and
// traces_span_metrics_duration_milliseconds, labelled service_name,
// span_name, span_kind and status_code. The names and label values are
// those of the spans Builder rebuilds, so the Monitor tab and the traces
// agree. Series are bounded (MetricsConfig.MaxSeries and MaxLabelBytes,
// with overflow series) and expire after MetricsConfig.TTL. It is safe for concurrent
// use and follows the aggregations' lock convention (docs/adr/0009): the
// core (Metrics) takes no lock, the adapter holds it only to copy.
type Locked struct {
	mu  sync.Mutex
	m   *Metrics
	now func() time.Time
}

const (
	spmCallsName    = "traces_span_metrics_calls_total"
	spmCallsHelp    = "Requests (spans) by service, span name, kind and status, from every access-log entry."
	spmDurationName = "traces_span_metrics_duration_milliseconds"
	spmDurationHelp = "Request (span) duration in milliseconds, from every access-log entry."
)

var (
	spmLabels     = []string{"service_name", "span_name", "span_kind", "status_code"}
	spmCalls      = prometheus.NewDesc(spmCallsName, spmCallsHelp, spmLabels, nil)
	spmDuration   = prometheus.NewDesc(spmDurationName, spmDurationHelp, spmLabels, nil)
	spmSeries     = prometheus.NewDesc("meshlens_span_metrics_series", "Span-metrics series held.", nil, nil)
	spmLabelBytes = prometheus.NewDesc("meshlens_span_metrics_label_bytes", "Label-set bytes of the span-metrics series held (span_metrics::max_label_bytes).", nil, nil)
	spmOverflow   = prometheus.NewDesc("meshlens_span_metrics_overflow_total", "Records counted in an overflow series because the span-metrics max_series or max_label_bytes budget was spent.", nil, nil)
	spmExpired    = prometheus.NewDesc("meshlens_span_metrics_expired_total", "Span-metrics series removed after series_ttl without records.", nil, nil)
)

// NewLocked returns a Locked around NewMetrics(cfg). now is read at scrape
// time, to expire idle series before they are exported.
func NewLocked(cfg MetricsConfig, now func() time.Time) *Locked {
	return &Locked{m: NewMetrics(cfg), now: now}
}

// ConsumeRecords counts a batch (an aggregation of the hub). The span
// metrics keep nothing per stream, so local is not used.
func (s *Locked) ConsumeRecords(recs []accesslog.Record, _ *accesslog.StreamLocal, now time.Time) {
	s.mu.Lock()
	s.m.Observe(recs, now)
	s.mu.Unlock()
}

// Expire removes the series idle for longer than the TTL and returns how
// many it removed.
func (s *Locked) Expire(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m.Expire(now)
}

// Describe implements prometheus.Collector.
func (s *Locked) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{spmCalls, spmDuration, spmSeries, spmLabelBytes, spmOverflow, spmExpired} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the series are built at scrape
// time, so expired ones vanish. Their values are copied under the lock and
// the metrics built and sent after releasing it: ingest (ConsumeRecords)
// never waits for the scrape's consumer.
func (s *Locked) Collect(ch chan<- prometheus.Metric) {
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
	s.m.Range(func(sr *Series) {
		at := len(counts)
		counts = append(counts, sr.Counts...)
		rows = append(rows, row{
			labels: [4]string{sr.Service, sr.Name, sr.Kind, sr.Status},
			calls:  sr.Calls, sum: sr.SumMillis, counts: counts[at:len(counts):len(counts)],
		})
	})
	n, labelBytes, overflowed, expired := s.m.Len(), s.m.LabelBytes(), s.m.Overflowed, s.m.Expired
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
	ch <- prometheus.MustNewConstMetric(spmLabelBytes, prometheus.GaugeValue, float64(labelBytes))
	ch <- prometheus.MustNewConstMetric(spmOverflow, prometheus.CounterValue, float64(overflowed))
	ch <- prometheus.MustNewConstMetric(spmExpired, prometheus.CounterValue, float64(expired))
}
