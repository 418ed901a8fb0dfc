package envoystats

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

var (
	_ prometheus.Collector = (*Store)(nil)
	_ prometheus.Collector = (*Locked)(nil)
	_ prometheus.Metric    = (*snapshot)(nil)
)

// Describe sends nothing: the store is an unchecked collector, since its
// metric names are only known once Envoys report them.
func (s *Store) Describe(chan<- *prometheus.Desc) {}

// Collect sends one metric per series, a snapshot of the current state, so
// expired series disappear from the next scrape. Like every Store method it
// must not run concurrently with another one; the metrics it sends stay
// valid after it returns.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	s.collect(func(m prometheus.Metric) { ch <- m })
}

func (s *Store) collect(emit func(prometheus.Metric)) {
	for _, fam := range s.families {
		desc := fam.describe()
		for _, ser := range fam.series {
			emit(ser.snapshot(desc))
		}
	}
}

// describe returns the family's Desc, rebuilt when its label set grew.
func (f *family) describe() *prometheus.Desc {
	if f.desc == nil || f.descN != len(f.labels) {
		labels := make([]string, 0, len(nodeLabelNames)+len(f.labels))
		labels = append(labels, nodeLabelNames...)
		labels = append(labels, f.labels...)
		f.desc = prometheus.NewDesc(f.name, f.help, labels, nil)
		f.descN = len(f.labels)
	}
	return f.desc
}

// snapshot is a series' state at scrape time. It implements
// prometheus.Metric like client_golang's const metrics, but shares its label
// pairs with the series: they are built once per series (and once per node
// for the node labels) and only rebuilt when the node's identity or the
// family's label set changes. They must therefore never be modified, which
// the prometheus.Metric contract already requires of callers of Write.
type snapshot struct {
	desc      *prometheus.Desc
	labels    []*dto.LabelPair
	kind      kind
	value     float64
	count     uint64
	sum       float64
	quantiles []quantile
	bounds    []float64 // shared with the series: replaced, never modified
	counts    []uint64
}

func (ser *series) snapshot(desc *prometheus.Desc) *snapshot {
	m := &snapshot{desc: desc, labels: ser.labelPairs(), kind: ser.kind, value: ser.value, count: ser.count, sum: ser.sum}
	switch ser.kind {
	case kindSummary:
		m.quantiles = slices.Clone(ser.quantiles)
	case kindHistogram:
		m.bounds, m.counts = ser.bounds, slices.Clone(ser.counts)
	}
	return m
}

// Desc implements prometheus.Metric.
func (m *snapshot) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric.
func (m *snapshot) Write(out *dto.Metric) error {
	out.Label = m.labels
	switch m.kind {
	case kindCounter:
		out.Counter = &dto.Counter{Value: proto.Float64(m.value)}
	case kindGauge:
		out.Gauge = &dto.Gauge{Value: proto.Float64(m.value)}
	case kindSummary:
		sm := &dto.Summary{SampleCount: proto.Uint64(m.count), SampleSum: proto.Float64(m.sum)}
		qs := make([]dto.Quantile, len(m.quantiles))
		for i, q := range m.quantiles {
			qs[i].Quantile, qs[i].Value = proto.Float64(q.q), proto.Float64(q.v)
			sm.Quantile = append(sm.Quantile, &qs[i])
		}
		slices.SortFunc(sm.Quantile, func(a, b *dto.Quantile) int { return cmpFloat(a.GetQuantile(), b.GetQuantile()) })
		out.Summary = sm
	case kindHistogram:
		h := &dto.Histogram{SampleCount: proto.Uint64(m.count), SampleSum: proto.Float64(m.sum)}
		bs := make([]dto.Bucket, len(m.bounds))
		h.Bucket = make([]*dto.Bucket, len(m.bounds))
		for i, ub := range m.bounds {
			bs[i].UpperBound, bs[i].CumulativeCount = proto.Float64(ub), proto.Uint64(m.counts[i])
			h.Bucket[i] = &bs[i]
		}
		out.Histogram = h
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// labelPairs returns the series' label pairs, sorted by name: the node's
// (shared by all its series) and the family's tag labels, "" where the series
// has none.
func (ser *series) labelPairs() []*dto.LabelPair {
	ns, fam := ser.node, ser.fam
	if ser.lp != nil && ser.lpGen == ns.gen && ser.lpN == len(fam.labels) {
		return ser.lp
	}
	lp := make([]*dto.LabelPair, 0, len(nodeLabelNames)+len(fam.labels))
	lp = append(lp, ns.labelPairs()...)
	for i, name := range fam.labels {
		v := ""
		if i < len(ser.vals) {
			v = ser.vals[i]
		}
		lp = append(lp, newLabelPair(name, v))
	}
	slices.SortFunc(lp, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	ser.lp, ser.lpGen, ser.lpN = lp, ns.gen, len(fam.labels)
	return ser.lp
}

// labelPairs returns the node's label pairs, built once per identity.
func (ns *nodeState) labelPairs() []*dto.LabelPair {
	if ns.pairs == nil {
		id := &ns.id
		ns.pairs = []*dto.LabelPair{
			newLabelPair(LabelNodeID, id.ID),
			newLabelPair(LabelNodeCluster, id.Cluster),
			newLabelPair(LabelNamespace, id.Namespace),
			newLabelPair(LabelWorkload, id.Workload),
			newLabelPair(LabelPod, id.Pod),
		}
	}
	return ns.pairs
}

func newLabelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)}
}
