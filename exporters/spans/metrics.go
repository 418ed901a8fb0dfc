package spans

import (
	"math/rand/v2"
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
// every record once MetricsConfig.MaxSeries series exist, or once a new
// series would take their label-set bytes over MetricsConfig.MaxLabelBytes.
const OverflowLabel = "meshlens_overflow"

// Defaults of MetricsConfig's budgets, used for zero values.
const (
	DefaultMetricsMaxSeries = 10_000
	// DefaultMetricsMaxLabelBytes is 2 MiB: 210 bytes a series at 10,000
	// series, where a service name and a span name of Kubernetes names take
	// 40–120.
	DefaultMetricsMaxLabelBytes = 2 << 20
)

// MetricsConfig bounds the span metrics.
type MetricsConfig struct {
	// MaxSeries caps the series (service, span name, kind, status); records
	// of new series beyond it go to one overflow series per kind and status.
	MaxSeries int
	// MaxLabelBytes caps the label-set bytes of the series: the sum over
	// them of their service_name and span_name as the exposition writes
	// them (escaped); the other labels have a bounded length. Records of a
	// new series that would pass it go to the overflow series, as over
	// MaxSeries. With MaxSeries it bounds the exposition (ExpositionBound).
	MaxLabelBytes int64
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
// builds: same service.name, span name, kind and status. A record
// allocates nothing once its series and its raw key (below) were seen.
// Not safe for concurrent use.
//
// The labels come from bounded sources only (see AppendName): the service
// of the reporting workload, the destination service host, a port, kind and
// status. No request field that varies per request (path, query, ids) is
// part of a label or of the key, so the series of a mesh do not depend on
// its traffic's paths, nor on the order records arrive in.
//
// The span name is not built for every record. The fast path hashes what
// the name is made of (the raw key: the service, the host and port of the
// name as nameHost and namePort find them, kind and status), looks the hash
// up in raws and compares the raw key found with the record's; nothing is
// copied or validated. Only a raw key not remembered takes the slow path:
// the span name is built (AppendName: UTF-8 repair and cut), the series
// found or created by its labels in series, which alone defines the series
// and holds the budget, and the raw key remembered for it. Several raw keys
// may so lead to one series: hosts that repair or cut to the same name.
type Metrics struct {
	cfg      MetricsConfig
	boundsNs []int64
	// series holds every series by its labels: appendLabelKey, then the
	// span name.
	series map[string]*series
	// raws maps the hashes of remembered raw keys to them.
	raws rawTable
	seed [2]uint64
	// hashMask is and-ed into every raw-key hash; tests clear it to make
	// all raw keys collide.
	hashMask uint64
	// service and serviceHash remember the last service hashed, host and
	// hostHash the last host: the records of a batch come from one proxy
	// and mostly share them.
	service     string
	serviceHash uint64
	host        string
	hostHash    uint64
	key         []byte
	lastSweep   int64
	// labelBytes is the label-set bytes of the series held, overflow series
	// aside (MaxLabelBytes).
	labelBytes int64
	// Overflowed counts records that went to an overflow series; Expired
	// counts series removed after TTL.
	Overflowed, Expired uint64
}

// series is a Series with the raw keys remembered for it, the first inline
// (for locality: the fast path reads it and then the counts).
type series struct {
	first rawKey
	Series
	rawKeys int
	bytes   int64 // label-set bytes (labelBytes); 0 for an overflow series
}

// maxRawPerSeries bounds the raw keys remembered per series: hosts that
// repair or cut to one name are countless (invalid bytes vary). The records
// of a series whose raw key is not remembered take the slow path, as do the
// records of overflow series.
const maxRawPerSeries = 4

// withDefaults replaces zero (or negative) budgets with the defaults and
// nil Buckets with DefaultMetricsBuckets.
func (cfg MetricsConfig) withDefaults() MetricsConfig {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMetricsMaxSeries
	}
	if cfg.MaxLabelBytes <= 0 {
		cfg.MaxLabelBytes = DefaultMetricsMaxLabelBytes
	}
	if cfg.Buckets == nil {
		cfg.Buckets = DefaultMetricsBuckets
	}
	return cfg
}

// NewMetrics returns an empty aggregation. Zero MaxSeries means
// DefaultMetricsMaxSeries, zero MaxLabelBytes DefaultMetricsMaxLabelBytes
// and nil Buckets DefaultMetricsBuckets.
func NewMetrics(cfg MetricsConfig) *Metrics {
	cfg = cfg.withDefaults()
	cfg.Buckets = slices.Clone(cfg.Buckets)
	m := &Metrics{
		cfg: cfg, series: map[string]*series{}, seed: [2]uint64{rand.Uint64(), rand.Uint64()}, hashMask: ^uint64(0),
		key: make([]byte, 0, 64+MaxNameLen),
	}
	m.raws.reset(0)
	for _, b := range cfg.Buckets {
		m.boundsNs = append(m.boundsNs, int64(b*1e6))
	}
	return m
}

// Buckets returns the histogram bounds in milliseconds.
func (m *Metrics) Buckets() []float64 { return m.cfg.Buckets }

// Len returns the number of series.
func (m *Metrics) Len() int { return len(m.series) }

// LabelBytes returns the label-set bytes of the series, overflow series
// aside (MetricsConfig.MaxLabelBytes).
func (m *Metrics) LabelBytes() int64 { return m.labelBytes }

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
	ks, w := uint8(0), &r.Destination
	if r.Reporter == accesslog.ReporterSource {
		ks, w = rawClient, &r.Source
	}
	if r.IsError() {
		ks |= rawError
	}
	service := ServiceName(w)
	if service != m.service {
		m.service, m.serviceHash = service, rawHash(&m.seed, stringBytes(service))
	}
	host, port := nameHost(r), namePort(r)
	if host != m.host { // equal pointers compare without reading the bytes
		m.host, m.hostHash = host, rawHash(&m.seed, stringBytes(host))
	}
	h := mum(m.hostHash^m.seed[0], m.serviceHash^(uint64(port)<<2|uint64(ks))) & m.hashMask
	// The first slot is tried here, without a call: most records stop there.
	var s *series
	if sl := m.raws.slot(h); sl.hash == h && sl.key != nil && sl.key.matches(host, port, service, ks) {
		s = sl.key.series
	} else {
		s = m.raws.find(h, host, port, service, ks)
	}
	if s == nil {
		s = m.miss(r, h, host, port, service, ks)
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

// miss finds or creates the series of r, whose raw key (host, port,
// service and ks, hashing to h) is not remembered, and remembers the raw
// key when it may.
func (m *Metrics) miss(r *accesslog.Record, h uint64, host string, port uint32, service string, ks uint8) *series {
	kind, status := KindServer, StatusUnset
	if ks&rawClient != 0 {
		kind = KindClient
	}
	if ks&rawError != 0 {
		status = StatusError
	}
	k := appendLabelKey(m.key[:0], kind, status, service)
	nameAt := len(k)
	k = AppendName(k, r)
	m.key = k
	s, ok := m.series[string(k)] // no allocation for the lookup
	if !ok {
		lb := escapedLen(service) + escapedLen(k[nameAt:])
		if len(m.series) >= m.cfg.MaxSeries || m.labelBytes+lb > m.cfg.MaxLabelBytes {
			m.Overflowed++
			return m.overflow(kind, status)
		}
		s = m.newSeries(string(k), nameAt, service, kind, status)
		s.bytes = lb
		m.labelBytes += lb
	}
	if s.rawKeys < maxRawPerSeries {
		rk := &s.first
		if s.rawKeys > 0 {
			rk = new(rawKey)
		}
		s.rawKeys++
		*rk = rawKey{series: s, service: service, host: host, port: port, ks: ks}
		m.raws.insert(h, rk)
	}
	return s
}

// overflow returns the overflow series of kind and status, creating it if
// needed.
func (m *Metrics) overflow(kind, status string) *series {
	k := appendLabelKey(m.key[:0], kind, status, OverflowLabel)
	nameAt := len(k)
	k = append(k, OverflowLabel...)
	m.key = k
	if s, ok := m.series[string(k)]; ok {
		return s
	}
	return m.newSeries(string(k), nameAt, OverflowLabel, kind, status)
}

// newSeries adds a series under its label key, whose span name starts at
// nameAt.
func (m *Metrics) newSeries(key string, nameAt int, service, kind, status string) *series {
	s := &series{Series: Series{
		Service: service, Name: key[nameAt:], Kind: kind, Status: status,
		Counts: make([]uint64, len(m.boundsNs)+1),
	}}
	m.series[key] = s
	return s
}

// appendLabelKey appends the start of a series' label key: kind and status
// ('C' or 'S', 'E' or 'U'), the service and a 0 byte; the span name
// follows.
func appendLabelKey(dst []byte, kind, status, service string) []byte {
	dst = append(dst, kind[10], status[12])
	dst = append(dst, service...)
	return append(dst, 0)
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
			m.labelBytes -= s.bytes
			n++
		}
	}
	if n > 0 {
		m.raws.retain(func(k *rawKey) bool { return k.series.last >= cutoff })
	}
	m.Expired += uint64(n)
	return n
}

// Range calls f for every series, in no particular order. f must not keep s.
func (m *Metrics) Range(f func(s *Series)) {
	for _, s := range m.series {
		f(&s.Series)
	}
}
