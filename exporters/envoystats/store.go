package envoystats

import (
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Bounds on one sample, far above what Envoy sends (10 quantiles, 20
// default buckets, a handful of tags), so that a hostile or broken client
// cannot make a sample cost more than linear time or unbounded memory.
const (
	maxQuantiles = 64
	// MaxHistogramBuckets bounds the buckets of one histogram sample: Envoy
	// sends 20 by default, and custom histogram_bucket_settings rarely more
	// than a few dozen. A sample with more is rejected as
	// "too_many_buckets"; a histogram series thus writes at most
	// MaxLinesPerSeries lines.
	MaxHistogramBuckets = 64
	maxLabels           = 32 // per sample
	maxFamilyLabels     = 64 // union over a family's series
	// MaxStatNameLength bounds a stat name in bytes: Envoy's longest
	// (cluster, listener and route names embedded) stay far below it.
	MaxStatNameLength = 1024
	// MaxLabelValueLength bounds a tag label's value in bytes, as
	// normalizer.max_label_length bounds the Istio series' labels.
	MaxLabelValueLength = 512
	// MaxSampleLabelBytes bounds the bytes of a labeled sample's labels,
	// names and values together: a tag-extracted stat carries no more than
	// its flat name would (MaxStatNameLength), from which Envoy extracts
	// the same tags.
	MaxSampleLabelBytes = MaxStatNameLength
	// MaxFamilyLabelNameBytes bounds the bytes of the label names of a
	// metric name (the union over its series), which every line of the
	// metric repeats.
	MaxFamilyLabelNameBytes = 2 * MaxStatNameLength
)

// kind is the exposed Prometheus type of a family.
type kind uint8

const (
	kindCounter kind = iota
	kindGauge        // GAUGE and UNTYPED
	kindSummary
	kindHistogram
	numKinds
)

// Store keeps the latest state of every Envoy stat received through the
// Metrics Service and exposes it as Prometheus metrics.
//
// Store is not safe for concurrent use: the caller serializes every call,
// Collect included (a prometheus.Registry calls Collect from its own
// goroutine). [Locked] does that with a mutex.
type Store struct {
	cfg      Config
	nodes    map[string]*nodeState
	families map[string]*family
	names    nameCache
	lru      series // sentinel; lru.next is the least recently updated series
	nseries  int
	// labelBytes is the label-set bytes of the series and families held
	// (Config.MaxLabelBytes; bound.go).
	labelBytes int64

	accepted    uint64
	rejected    [numReasons]uint64
	expired     uint64
	resets      uint64
	replaced    uint64
	extractions uint64

	key  []byte      // scratch: lookup key of a labeled sample
	lbls []labelPair // scratch: its labels, sorted
}

type nodeState struct {
	id NodeIdentity
	// flat holds series of flattened stats keyed by Envoy stat name; labeled
	// holds series of tag-extracted stats (emit_tags_as_labels) keyed by
	// name and sorted labels.
	flat, labeled [numKinds]map[string]*series
	n             int
	lastSeen      time.Time
	gen           uint64           // bumped when id changes
	pairs         []*dto.LabelPair // node label pairs for id; nil when stale
	bytes         int64            // nodeLabelBytes(&id)
}

// New returns an empty store. Invalid or zero Config fields fall back to the
// defaults; call Config.Validate first to report them instead.
func New(cfg Config) *Store {
	cfg = cfg.withDefaults()
	s := &Store{
		cfg:      cfg,
		nodes:    make(map[string]*nodeState),
		families: make(map[string]*family),
		names:    newNameCache(cfg.NameCacheSize),
	}
	s.lru.next, s.lru.prev = &s.lru, &s.lru
	return s
}

// Observe stores the families of one StreamMetricsMessage sent by node at
// now. It returns how many samples (dto.Metric) were stored and how many were
// rejected; rejections are also counted by reason in [Store.Stats]. The store
// keeps no reference to families.
func (s *Store) Observe(node NodeIdentity, families []*dto.MetricFamily, now time.Time) (accepted, rejected int) {
	if node.ID == "" {
		for _, f := range families {
			rejected += len(f.GetMetric())
		}
		s.rejected[ReasonNoNode] += uint64(rejected)
		return 0, rejected
	}
	ns := s.node(node, now)
	for _, f := range families {
		if f == nil {
			continue
		}
		name, typ := f.GetName(), f.GetType()
		k, r := familyKind(name, typ)
		if r != reasonNone {
			rejected += len(f.Metric)
			s.rejected[r] += uint64(len(f.Metric))
			continue
		}
		for _, m := range f.Metric {
			if r := s.observe(ns, k, typ, name, m, now); r != reasonNone {
				rejected++
				s.rejected[r]++
			} else {
				accepted++
			}
		}
	}
	s.accepted += uint64(accepted)
	return accepted, rejected
}

// Stats is a snapshot of the store's counters, for the caller's self-metrics.
type Stats struct {
	Accepted      uint64            // samples stored
	Rejected      map[string]uint64 // samples rejected, by Reason.String(); every reason is present
	Series        int               // series held
	LabelBytes    int64             // their label-set bytes (Config.MaxLabelBytes)
	Families      int               // Prometheus metric names held
	Nodes         int               // nodes held
	Expired       uint64            // series removed by Expire
	CounterResets uint64            // cumulative counters that went down (Envoy restarts)
	Replaced      uint64            // summary series dropped when their name became a histogram
	Extractions   uint64            // stat names run through the tag rules (name cache misses)
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Accepted:      s.accepted,
		Rejected:      make(map[string]uint64, numReasons),
		Series:        s.nseries,
		LabelBytes:    s.labelBytes,
		Families:      len(s.families),
		Nodes:         len(s.nodes),
		Expired:       s.expired,
		CounterResets: s.resets,
		Replaced:      s.replaced,
		Extractions:   s.extractions,
	}
	for r, n := range s.rejected {
		st.Rejected[Reason(r).String()] = n
	}
	return st
}

func (s *Store) node(id NodeIdentity, now time.Time) *nodeState {
	ns := s.nodes[id.ID]
	if ns == nil {
		ns = &nodeState{}
		s.nodes[id.ID] = ns
	}
	if ns.id != id {
		s.setIdentity(ns, id)
	}
	ns.lastSeen = now
	return ns
}

// setIdentity gives ns a new identity, whose node labels every line of its
// series writes: their label-set bytes change by as much for each series.
// When that would take the store over MaxLabelBytes, the node's series are
// removed instead; its samples create them again, within the budgets.
func (s *Store) setIdentity(ns *nodeState, id NodeIdentity) {
	id = NodeIdentity{
		ID:        id.ID,
		Cluster:   strings.ToValidUTF8(id.Cluster, "\uFFFD"),
		Namespace: strings.ToValidUTF8(id.Namespace, "\uFFFD"),
		Workload:  strings.ToValidUTF8(id.Workload, "\uFFFD"),
		Pod:       strings.ToValidUTF8(id.Pod, "\uFFFD"),
	}
	b := nodeLabelBytes(&id)
	if grow := int64(ns.n) * (b - ns.bytes); s.labelBytes+grow > s.cfg.MaxLabelBytes {
		for _, maps := range [...]*[numKinds]map[string]*series{&ns.flat, &ns.labeled} {
			for _, m := range maps {
				for _, ser := range m {
					s.remove(ser)
				}
			}
		}
	} else {
		s.labelBytes += grow
	}
	ns.gen++
	ns.pairs = nil
	ns.id, ns.bytes = id, b
}

// observe stores one sample. The steady state is one map lookup by stat name
// and an update in place: no tag extraction and no allocation.
func (s *Store) observe(ns *nodeState, k kind, typ dto.MetricType, name string, m *dto.Metric, now time.Time) Reason {
	if r := validate(k, typ, m); r != reasonNone {
		return r
	}
	labeled := len(m.Label) > 0
	var ser *series
	if !labeled {
		ser = ns.flat[k][name]
	} else {
		if r := s.labeledKey(name, m.Label); r != reasonNone {
			return r
		}
		ser = ns.labeled[k][string(s.key)]
	}
	if ser == nil {
		var r Reason
		if ser, r = s.create(ns, k, name, labeled, now); ser == nil {
			return r
		}
	}
	s.apply(ser, typ, m)
	s.touch(ser, now)
	return reasonNone
}
