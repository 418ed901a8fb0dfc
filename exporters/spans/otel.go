package spans

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshlens/meshlens/exporters/internal/otelconv"
)

// OTelReader reads the span metrics as OpenTelemetry metrics, for a
// collector metrics pipeline: traces_span_metrics_calls_total as a
// cumulative monotonic Sum and traces_span_metrics_duration_milliseconds as
// a cumulative explicit-bucket Histogram, with the labels and bounds of the
// exposition (Collect). Start times are those of otelconv.Starts.
//
// A reader is used by one goroutine at a time. It is read-only and copies
// under the lock as Collect does (the series are bounded by
// MetricsConfig.MaxSeries), building the pdata after releasing it. It is
// called on an interval, never per record.
type OTelReader struct {
	l     *Locked
	start *otelconv.Starts[*Series]
	attrs otelconv.Attrs
}

// NewOTelReader returns a reader of s whose first read's series start at
// start.
func (s *Locked) NewOTelReader(start time.Time) *OTelReader {
	return &OTelReader{l: s, start: otelconv.NewStarts[*Series](start)}
}

// otelRow is one series copied under the lock.
type otelRow struct {
	s      *Series
	labels [4]string
	calls  uint64
	sum    float64
	counts []uint64
}

// Read emits every span-metrics series as of now to emit, in batches of at
// most batch data points. It returns emit's first error, at once.
func (r *OTelReader) Read(now time.Time, batch int, emit func(pmetric.MetricSlice) error) error {
	s := r.l
	s.mu.Lock()
	s.m.Expire(s.now()) // as Collect: idle series are not exported
	bounds := s.m.Buckets()
	rows := make([]otelRow, 0, s.m.Len())
	counts := make([]uint64, 0, s.m.Len()*(len(bounds)+1))
	s.m.Range(func(sr *Series) {
		at := len(counts)
		counts = append(counts, sr.Counts...)
		rows = append(rows, otelRow{
			s: sr, labels: [4]string{sr.Service, sr.Name, sr.Kind, sr.Status},
			calls: sr.Calls, sum: sr.SumMillis, counts: counts[at:len(counts):len(counts)],
		})
	})
	s.mu.Unlock()

	ts := pcommon.NewTimestampFromTime(now)
	b := &otelconv.Batch{Emit: emit, Max: batch}
	for i := range rows {
		rw := &rows[i]
		r.attrs.Reset()
		for j, n := range spmLabels {
			r.attrs.Add(n, rw.labels[j])
		}
		start := r.start.Of(rw.s)
		otelconv.Counter(b.Metric(spmCallsName, spmCallsHelp, otelconv.KindCounter), &r.attrs, start, ts, float64(rw.calls))
		otelconv.Histogram(b.Metric(spmDurationName, spmDurationHelp, otelconv.KindHistogram), &r.attrs, start, ts, bounds, rw.counts, rw.calls, rw.sum)
		if err := b.Added(2); err != nil {
			r.end(rows, ts) // the series not emitted keep their start times
			return err
		}
	}
	err := b.Flush()
	r.end(rows, ts)
	return err
}

// end ends a read, emitted whole or not: every series listed keeps its
// start time, the others' are forgotten.
func (r *OTelReader) end(rows []otelRow, ts pcommon.Timestamp) {
	for i := range rows {
		r.start.Of(rows[i].s)
	}
	r.start.End(ts)
}
