package envoystats

import (
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshlens/meshlens/exporters/internal/otelconv"
)

// OTelReader reads the envoy_* series as OpenTelemetry metrics, for a
// collector metrics pipeline: the same names, label names and values as
// the exposition (Collect), counters as cumulative monotonic Sums, gauges
// as Gauges, histograms as cumulative explicit-bucket Histograms with the
// bounds Envoy sent, summaries as Summaries. Labels with an empty value are
// left out, as Prometheus leaves them out of a scraped series. Start times
// are those of otelconv.Starts.
//
// A reader is used by one goroutine at a time. It is read-only: it takes
// the lock Collect takes, lists the series under it, then copies their
// values a chunk at a time, each under the lock, and builds the pdata after
// releasing it, so Observe waits at most for the copy of one chunk. It is
// called on an interval, never per sample.
type OTelReader struct {
	l     *Locked
	start *otelconv.Starts[*series]
	list  []*series
	rows  []otelRow
	attrs otelconv.Attrs
}

type otelRow struct {
	ser        *series
	name, help string
	kind       kind
	labels     []string // name, value, name, value...
	value, sum float64
	count      uint64
	quantiles  []quantile
	bounds     []float64
	counts     []uint64 // per bucket, +Inf last
}

// otelChunk is how many series a reader copies under one lock hold.
const otelChunk = 512

// NewOTelReader returns a reader of l whose first read's series start at
// start.
func (l *Locked) NewOTelReader(start time.Time) *OTelReader {
	return &OTelReader{l: l, start: otelconv.NewStarts[*series](start)}
}

// Read emits every envoy_* series as of now to emit, in batches of at most
// batch data points. It returns emit's first error, at once. A series
// expired meanwhile is left out; one created meanwhile is in the next read.
func (r *OTelReader) Read(now time.Time, batch int, emit func(pmetric.MetricSlice) error) error {
	ts := pcommon.NewTimestampFromTime(now)
	b := &otelconv.Batch{Emit: emit, Max: batch}
	r.l.mu.Lock()
	r.list = r.list[:0]
	for _, fam := range r.l.store.families {
		r.list = append(r.list, fam.series...)
	}
	r.l.mu.Unlock()
	for j := 0; j < len(r.list); {
		r.rows = r.rows[:0]
		r.l.mu.Lock()
		for end := min(j+otelChunk, len(r.list)); j < end; j++ {
			if ser := r.list[j]; ser.next != nil { // unlinked when removed
				r.rows = append(r.rows, copyRow(ser))
			}
		}
		r.l.mu.Unlock()
		for i := range r.rows {
			r.emit(&r.rows[i], ts, b)
			if err := b.Added(1); err != nil {
				r.end(ts)
				return err
			}
		}
	}
	err := b.Flush()
	r.end(ts)
	return err
}

// end ends a read, emitted whole or not: every series listed keeps its
// start time, the others' are forgotten (a long outage of the consumer
// holds no expired series).
func (r *OTelReader) end(ts pcommon.Timestamp) {
	for _, ser := range r.list {
		r.start.Of(ser)
	}
	clear(r.list[:cap(r.list)])
	r.start.End(ts)
}

// copyRow copies what the exposition shows of ser; it runs under the lock.
func copyRow(ser *series) otelRow {
	row := otelRow{ser: ser, name: ser.fam.name, help: ser.fam.help, kind: ser.kind, value: ser.value, sum: ser.sum, count: ser.count}
	for _, lp := range ser.labelPairs() {
		row.labels = append(row.labels, lp.GetName(), lp.GetValue())
	}
	switch ser.kind {
	case kindSummary:
		row.quantiles = slices.Clone(ser.quantiles)
	case kindHistogram:
		row.bounds = ser.bounds // replaced, never modified
		row.counts = make([]uint64, len(ser.counts)+1)
		var prev uint64
		for i, c := range ser.counts { // cumulative to per bucket
			row.counts[i] = c - min(prev, c)
			prev = c
		}
		row.counts[len(ser.counts)] = ser.count - min(prev, ser.count)
	}
	return row
}

func (r *OTelReader) emit(row *otelRow, ts pcommon.Timestamp, b *otelconv.Batch) {
	r.attrs.Reset()
	for i := 0; i+1 < len(row.labels); i += 2 {
		r.attrs.Add(row.labels[i], row.labels[i+1])
	}
	start := r.start.Of(row.ser)
	switch row.kind {
	case kindCounter:
		otelconv.Counter(b.Metric(row.name, row.help, otelconv.KindCounter), &r.attrs, start, ts, row.value)
	case kindGauge:
		dp := b.Metric(row.name, row.help, otelconv.KindGauge).Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(row.value)
		r.attrs.To(dp.Attributes())
	case kindHistogram:
		otelconv.Histogram(b.Metric(row.name, row.help, otelconv.KindHistogram), &r.attrs, start, ts, row.bounds, row.counts, row.count, row.sum)
	case kindSummary:
		dp := b.Metric(row.name, row.help, otelconv.KindSummary).Summary().DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(ts)
		dp.SetCount(row.count)
		dp.SetSum(row.sum)
		qs := dp.QuantileValues()
		qs.EnsureCapacity(len(row.quantiles))
		for _, q := range row.quantiles {
			v := qs.AppendEmpty()
			v.SetQuantile(q.q)
			v.SetValue(q.v)
		}
		r.attrs.To(dp.Attributes())
	}
}
