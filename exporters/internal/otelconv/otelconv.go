// Package otelconv holds what the aggregations' OpenTelemetry readers
// (exporters/*/otel.go) share: the start times of cumulative series, the
// batches a read is emitted in, and the parser of a rendered label block.
// It does no I/O and takes no lock: each reader is used by one goroutine
// (the meshlens_metrics receiver's) and locks its aggregation itself.
package otelconv

import (
	"time"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Starts remembers, for each series a reader has seen, the start time of
// its cumulative points: the time of the read before the one that first
// saw it (the reader's creation for the series of the first read), which
// is no later than its first record. A series that expires and comes back
// is a new key, so it starts again, and a consumer sees the reset.
// Entries of series no longer seen are dropped at the end of each read.
type Starts[K comparable] struct {
	m    map[K]startEntry
	gen  uint32
	prev pcommon.Timestamp
}

type startEntry struct {
	start pcommon.Timestamp
	gen   uint32
}

// NewStarts returns Starts whose first read's series start at start.
func NewStarts[K comparable](start time.Time) *Starts[K] {
	return &Starts[K]{m: map[K]startEntry{}, gen: 1, prev: pcommon.NewTimestampFromTime(start)}
}

// Of returns the start time of k and marks it seen in this read.
func (s *Starts[K]) Of(k K) pcommon.Timestamp {
	e, ok := s.m[k]
	if !ok {
		e.start = s.prev
	}
	if e.gen != s.gen {
		e.gen = s.gen
		s.m[k] = e
	}
	return e.start
}

// End ends the read made at now: series not seen in it are forgotten, and
// the series first seen by the next read start at now.
func (s *Starts[K]) End(now pcommon.Timestamp) {
	for k, e := range s.m {
		if e.gen != s.gen {
			delete(s.m, k)
		}
	}
	s.gen++
	s.prev = now
}

// Len returns the number of series remembered.
func (s *Starts[K]) Len() int { return len(s.m) }

// Kind is the OpenTelemetry type of a metric.
type Kind uint8

// The kinds a reader emits.
const (
	KindCounter   Kind = iota // cumulative monotonic Sum
	KindGauge                 // Gauge
	KindHistogram             // cumulative Histogram with explicit bounds
	KindSummary               // Summary
)

// Batch collects the metrics of a read and hands them to Emit every Max
// data points, so that a read of many series never holds all of them as
// pdata at once. Within a batch, each metric name has one Metric.
type Batch struct {
	Emit func(pmetric.MetricSlice) error
	Max  int

	ms     pmetric.MetricSlice
	byName map[string]pmetric.Metric
	points int
}

// Metric returns the batch's metric name, creating it with help and kind.
func (b *Batch) Metric(name, help string, kind Kind) pmetric.Metric {
	if b.byName == nil {
		b.byName = map[string]pmetric.Metric{}
		b.ms = pmetric.NewMetricSlice()
	}
	if m, ok := b.byName[name]; ok {
		return m
	}
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(help)
	switch kind {
	case KindCounter:
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case KindGauge:
		m.SetEmptyGauge()
	case KindHistogram:
		m.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	case KindSummary:
		m.SetEmptySummary()
	}
	b.byName[name] = m
	return m
}

// Added counts n data points added; at Max it emits the batch.
func (b *Batch) Added(n int) error {
	b.points += n
	if b.points < b.Max {
		return nil
	}
	return b.Flush()
}

// Flush emits what the batch holds, if anything.
func (b *Batch) Flush() error {
	if b.points == 0 {
		return nil
	}
	ms := b.ms
	b.ms, b.points = pmetric.NewMetricSlice(), 0
	clear(b.byName)
	return b.Emit(ms)
}

// Points returns the data points added since the last emit.
func (b *Batch) Points() int { return b.points }

// Counter appends a cumulative point of value to the counter m.
func Counter(m pmetric.Metric, attrs *Attrs, start, now pcommon.Timestamp, value float64) {
	dp := m.Sum().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	dp.SetDoubleValue(value)
	attrs.To(dp.Attributes())
}

// Histogram appends a cumulative point to the histogram m: counts are per
// bucket (not cumulative), the last one +Inf's.
func Histogram(m pmetric.Metric, attrs *Attrs, start, now pcommon.Timestamp, bounds []float64, counts []uint64, count uint64, sum float64) {
	dp := m.Histogram().DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	dp.ExplicitBounds().FromRaw(bounds)
	dp.BucketCounts().FromRaw(counts)
	dp.SetCount(count)
	dp.SetSum(sum)
	attrs.To(dp.Attributes())
}

// Attrs is the label set of one series as OpenTelemetry attributes. Its
// first To fills a map label by label; later ones copy that map, which
// does not search for duplicate keys.
type Attrs struct {
	names, values []string
	first         pcommon.Map
	filled        bool
}

// Reset empties a for the next series.
func (a *Attrs) Reset() {
	a.names, a.values = a.names[:0], a.values[:0]
	a.filled = false
}

// Add adds a label; empty values are left out, as Prometheus does.
func (a *Attrs) Add(name, value string) {
	if value == "" {
		return
	}
	a.names = append(a.names, name)
	a.values = append(a.values, value)
}

// To puts the labels into dst, an empty map.
func (a *Attrs) To(dst pcommon.Map) {
	if a.filled {
		a.first.CopyTo(dst)
		return
	}
	dst.EnsureCapacity(len(a.names))
	for i, n := range a.names {
		dst.PutStr(n, a.values[i])
	}
	a.first, a.filled = dst, true
}

// AddBlock adds the labels of a rendered label block, `{name="value",...`
// as istiometrics renders it once per series (Prometheus text escaping:
// \\, \" and \n; no closing brace). The strings of labels without escapes
// share block's bytes: block must never be modified afterwards. It returns
// false, having added what came before, on a malformed block.
func (a *Attrs) AddBlock(block []byte) bool {
	i := 0
	if i < len(block) && block[i] == '{' {
		i++
	}
	for i < len(block) {
		j := i
		for j < len(block) && block[j] != '=' {
			j++
		}
		if j+1 >= len(block) || block[j+1] != '"' {
			return false
		}
		name := alias(block[i:j])
		v, end, ok := quoted(block, j+2)
		if !ok {
			return false
		}
		a.Add(name, v)
		i = end
		if i < len(block) && block[i] == ',' {
			i++
		}
	}
	return true
}

// quoted reads a quoted value starting after its opening quote at i and
// returns it and the index after its closing quote.
func quoted(b []byte, i int) (string, int, bool) {
	start := i
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			return alias(b[start:i]), i + 1, true
		case '\\':
			return unescape(b, start)
		}
	}
	return "", 0, false
}

func unescape(b []byte, i int) (string, int, bool) {
	out := make([]byte, 0, 64)
	for ; i < len(b); i++ {
		c := b[i]
		switch c {
		case '"':
			return string(out), i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return "", 0, false
			}
			i++
			switch b[i] {
			case 'n':
				c = '\n'
			default:
				c = b[i]
			}
		}
		out = append(out, c)
	}
	return "", 0, false
}

// alias returns b as a string without copying: b must never change.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
