package remotewrite

import (
	"math"
	"strconv"

	dto "github.com/prometheus/client_model/go"
)

// Families appends client_golang metric families (a registry's Gather) to
// a Batch with the names, labels and values the text exposition (expfmt,
// format 0.0.4) writes for them, as Prometheus stores them when it scrapes
// it: a counter, gauge or untyped metric is one series; a summary one
// series per quantile (its quantile label written as the exposition writes
// it) plus _sum and _count; a histogram (or gauge histogram) one _bucket
// series per bucket, le written as the exposition writes it (2, 1.8e+06,
// +Inf), a +Inf bucket of the sample count added when it has none, plus
// _sum and _count. Labels with an empty value are left out; the push's
// external labels are added to every series but one whose own label of the
// same name is not empty (as Prometheus's external_labels). Native
// histogram fields are not read: the families meshlens pushes this way (the
// span metrics, envoy_*) have none, and their protobuf exposition has none.
//
// A metric's labels are encoded anew at every push, into one reused
// buffer: Families allocates nothing once its buffers have grown. It holds
// no lock and keeps nothing of the families. One goroutine at a time.
type Families struct {
	// External are the push's external labels.
	External []Label

	labels                   Labels
	scratch                  []Label
	name, bucket, sum, count []byte // encoded __name__ labels
	extra                    []byte // an encoded le or quantile label
	num                      []byte
}

// Append appends every series of f as of ts (milliseconds since the
// epoch) to b, handing a full request to b.Emit after each metric (label
// set); it returns Emit's first error, at once. A metric without the value
// of its family's type is left out (the exposition would fail on it).
func (w *Families) Append(f *dto.MetricFamily, ts int64, b *Batch) error {
	n := f.GetName()
	w.name = appendName(w.name[:0], n, "")
	typ := f.GetType()
	switch typ {
	case dto.MetricType_SUMMARY:
		w.sum, w.count = appendName(w.sum[:0], n, "_sum"), appendName(w.count[:0], n, "_count")
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		w.bucket = appendName(w.bucket[:0], n, "_bucket")
		w.sum, w.count = appendName(w.sum[:0], n, "_sum"), appendName(w.count[:0], n, "_count")
	}
	for _, m := range f.GetMetric() {
		switch typ {
		case dto.MetricType_COUNTER:
			if m.GetCounter() == nil {
				continue
			}
			w.encode(m, "le")
			b.Sample(&w.labels, w.name, nil, m.GetCounter().GetValue(), ts)
		case dto.MetricType_GAUGE:
			if m.GetGauge() == nil {
				continue
			}
			w.encode(m, "le")
			b.Sample(&w.labels, w.name, nil, m.GetGauge().GetValue(), ts)
		case dto.MetricType_UNTYPED:
			if m.GetUntyped() == nil {
				continue
			}
			w.encode(m, "le")
			b.Sample(&w.labels, w.name, nil, m.GetUntyped().GetValue(), ts)
		case dto.MetricType_SUMMARY:
			s := m.GetSummary()
			if s == nil {
				continue
			}
			w.encode(m, "quantile")
			for _, q := range s.GetQuantile() {
				b.Sample(&w.labels, w.name, w.bound("quantile", q.GetQuantile()), q.GetValue(), ts)
			}
			b.Sample(&w.labels, w.sum, nil, s.GetSampleSum(), ts)
			b.Sample(&w.labels, w.count, nil, float64(s.GetSampleCount()), ts)
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			w.encode(m, "le")
			inf := false
			for _, bk := range h.GetBucket() {
				v := bk.GetCumulativeCountFloat()
				if v == 0 {
					v = float64(bk.GetCumulativeCount())
				}
				b.Sample(&w.labels, w.bucket, w.bound("le", bk.GetUpperBound()), v, ts)
				inf = inf || math.IsInf(bk.GetUpperBound(), +1)
			}
			count := h.GetSampleCountFloat()
			if count == 0 {
				count = float64(h.GetSampleCount())
			}
			if !inf {
				b.Sample(&w.labels, w.bucket, w.bound("le", math.Inf(+1)), count, ts)
			}
			b.Sample(&w.labels, w.sum, nil, h.GetSampleSum(), ts)
			b.Sample(&w.labels, w.count, nil, count, ts)
		default:
			continue
		}
		if err := b.FlushIfFull(); err != nil {
			return err
		}
	}
	return nil
}

// encode encodes m's labels and the external ones into w.labels, the place
// of a sample's le or quantile label where extra sorts.
func (w *Families) encode(m *dto.Metric, extra string) {
	w.scratch = w.scratch[:0]
	for _, lp := range m.GetLabel() {
		w.scratch = append(w.scratch, Label{Name: lp.GetName(), Value: lp.GetValue()})
	}
	own := len(w.scratch)
	for _, e := range w.External {
		shadowed := false
		for _, l := range w.scratch[:own] {
			if l.Name == e.Name && l.Value != "" {
				shadowed = true
				break
			}
		}
		if !shadowed {
			w.scratch = append(w.scratch, e)
		}
	}
	w.labels.Encode(w.scratch, extra)
}

// bound encodes a le or quantile label of value v as the text exposition
// writes it (strconv's shortest 'g': 0.005, 2, 1.8e+06, +Inf, NaN).
func (w *Families) bound(label string, v float64) LE {
	w.num = strconv.AppendFloat(w.num[:0], v, 'g', -1, 64)
	w.extra = appendLabelBytes(w.extra[:0], label, w.num)
	return w.extra
}

// appendName appends the encoded __name__ label of metric+suffix.
func appendName(b []byte, metric, suffix string) []byte {
	b = appendLabelHeader(b, "__name__", len(metric)+len(suffix))
	b = append(b, metric...)
	return append(b, suffix...)
}
