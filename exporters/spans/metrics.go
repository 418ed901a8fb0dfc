package spans

import (
	"slices"
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// DefaultMetricsBuckets are the bounds, in milliseconds, of the span
// duration histogram: the OpenTelemetry Collector spanmetrics connector's
// defaults, which Jaeger's Monitor tab is used to.
var DefaultMetricsBuckets = []float64{2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10_000, 15_000}

// Span kinds and status codes as the spanmetrics connector writes them in
// the span_kind and status_code labels.
const (
	KindClient  = "SPAN_KIND_CLIENT"
	KindServer  = "SPAN_KIND_SERVER"
	StatusError = "STATUS_CODE_ERROR"
	StatusUnset = "STATUS_CODE_UNSET"
)

// OverflowLabel is the service_name and span_name of the series that takes
// every record once MetricsConfig.MaxSeries series exist.
const OverflowLabel = "meshlens_overflow"

// MetricsConfig bounds the span metrics.
type MetricsConfig struct {
	// MaxSeries caps the series (service, span name, kind, status); records
	// of new series beyond it go to one overflow series per kind and status.
	MaxSeries int
	// TTL removes a series this long after its last record (0: never).
	TTL time.Duration
	// Buckets are the histogram bounds in milliseconds, ascending.
	Buckets []float64
}

// Series is one span-metrics series: the calls and duration histogram of
// one (service_name, span_name, span_kind, status_code).
type Series struct {
	Service, Name string
	Kind, Status  string
	Calls         uint64
	// Counts holds per-bucket (not cumulative) counts; the last is +Inf.
	Counts    []uint64
	SumMillis float64
	last      int64
}

// Metrics aggregates, from every final HTTP record (sampled or not), the
// series the spanmetrics connector would derive from the spans meshlens
// builds: same service.name, span name, kind and status. A record in an
// existing series allocates nothing. Not safe for concurrent use.
type Metrics struct {
	cfg       MetricsConfig
	boundsNs  []int64
	series    map[string]*Series
	key       []byte
	lastSweep int64
	// Overflowed counts records that went to an overflow series; Expired
	// counts series removed after TTL.
	Overflowed, Expired uint64
}

// NewMetrics returns an empty aggregation. Zero MaxSeries means 10,000 and
// nil Buckets DefaultMetricsBuckets.
func NewMetrics(cfg MetricsConfig) *Metrics {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 10_000
	}
	if cfg.Buckets == nil {
		cfg.Buckets = DefaultMetricsBuckets
	}
	cfg.Buckets = slices.Clone(cfg.Buckets)
	m := &Metrics{cfg: cfg, series: map[string]*Series{}, key: make([]byte, 0, 64+MaxNameLen)}
	for _, b := range cfg.Buckets {
		m.boundsNs = append(m.boundsNs, int64(b*1e6))
	}
	return m
}

// Buckets returns the histogram bounds in milliseconds.
func (m *Metrics) Buckets() []float64 { return m.cfg.Buckets }

// Len returns the number of series.
func (m *Metrics) Len() int { return len(m.series) }

// Observe adds the final HTTP records of a batch. now drives expiry.
func (m *Metrics) Observe(recs []accesslog.Record, now time.Time) {
	ts := now.UnixNano()
	for i := range recs {
		r := &recs[i]
		if r.Kind != accesslog.KindHTTP || !r.Final || r.Reporter == 0 {
			continue
		}
		m.observe(r, ts)
	}
	if ttl := int64(m.cfg.TTL); ttl > 0 && ts-m.lastSweep >= ttl/4 {
		m.Expire(now)
	}
}

func (m *Metrics) observe(r *accesslog.Record, ts int64) {
	kind, w := KindServer, &r.Destination
	if r.Reporter == accesslog.ReporterSource {
		kind, w = KindClient, &r.Source
	}
	status := StatusUnset
	if r.IsError() {
		status = StatusError
	}
	service := ServiceName(w)
	m.key = append(m.key[:0], kind[10], status[12]) // 'C' or 'S', 'E' or 'U'
	m.key = append(m.key, service...)
	m.key = append(m.key, 0)
	nameAt := len(m.key)
	m.key = AppendName(m.key, r)
	k := m.key
	s, ok := m.series[string(k)] // no allocation for the lookup
	if !ok {
		if len(m.series) >= m.cfg.MaxSeries {
			m.Overflowed++
			k = append(k[:2], OverflowLabel...)
			k = append(k, 0)
			nameAt = len(k)
			k = append(k, OverflowLabel...)
			m.key = k
			service = OverflowLabel
			s, ok = m.series[string(k)]
		}
		if !ok {
			s = &Series{
				Service: service, Name: string(k[nameAt:]), Kind: kind, Status: status,
				Counts: make([]uint64, len(m.boundsNs)+1),
			}
			m.series[string(k)] = s
		}
	}
	d := max(r.DurationNanos, 0)
	b := 0
	for b < len(m.boundsNs) && d > m.boundsNs[b] {
		b++
	}
	s.Counts[b]++
	s.Calls++
	s.SumMillis += float64(d) / 1e6
	s.last = ts
}

// Expire removes series idle for longer than the TTL and returns how many.
func (m *Metrics) Expire(now time.Time) int {
	ts := now.UnixNano()
	m.lastSweep = ts
	if m.cfg.TTL <= 0 {
		return 0
	}
	cutoff := ts - int64(m.cfg.TTL)
	n := 0
	for k, s := range m.series {
		if s.last < cutoff {
			delete(m.series, k)
			n++
		}
	}
	m.Expired += uint64(n)
	return n
}

// Range calls f for every series, in no particular order. f must not keep s.
func (m *Metrics) Range(f func(s *Series)) {
	for _, s := range m.series {
		f(s)
	}
}
