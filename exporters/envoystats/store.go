package envoystats

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Bounds on one sample, far above what Envoy sends (10 quantiles, 19
// default buckets, a handful of tags), so that a hostile or broken client
// cannot make a sample cost more than linear time or unbounded memory.
const (
	maxQuantiles    = 64
	maxBuckets      = 512
	maxLabels       = 32 // per sample
	maxFamilyLabels = 64 // union over a family's series
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

	accepted    uint64
	rejected    [numReasons]uint64
	expired     uint64
	resets      uint64
	streams     uint64
	reconnects  uint64
	replaced    uint64
	extractions uint64

	key  []byte      // scratch: lookup key of a labeled sample
	lbls []labelPair // scratch: its labels, sorted
}

type labelPair struct{ name, value string }

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
}

type quantile struct{ q, v float64 }

// series is one exported series: one node, one stat.
type series struct {
	node       *nodeState
	fam        *family
	kind       kind
	labeled    bool
	key        string // in node.flat/labeled[kind]
	canon      string // in fam.index
	idx        int    // in fam.series
	prev, next *series
	lastSeen   time.Time
	vals       []string // tag label values, aligned with a prefix of fam.labels
	// lp caches the exported label pairs; valid while lpGen == node.gen and
	// lpN == len(fam.labels).
	lp    []*dto.LabelPair
	lpGen uint64
	lpN   int

	seen bool
	// counter and gauge: value is what is exported; a counter's last is
	// Envoy's last cumulative value and offset what earlier Envoy lifetimes
	// contributed.
	value, last, offset float64

	// summary: last interval's quantiles; count and sum accumulated.
	quantiles []quantile
	// summary and histogram
	count uint64
	sum   float64
	// histogram: finite upper bounds and accumulated cumulative counts.
	bounds []float64
	counts []uint64
}

// family is one Prometheus metric name: one type, one help text, and the
// union of its tag label names (series without a label export it as "").
type family struct {
	name   string
	help   string
	kind   kind
	labels []string
	index  map[string]*series // canonical identity -> series
	series []*series
	desc   *prometheus.Desc
	descN  int // len(labels) when desc was built
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

// StreamStarted tells the store that node opened a new Metrics Service
// stream (its identifier arrived). It records or refreshes the node's
// identity labels and counts the stream; a known node ID counts as a
// reconnect. Counter continuity does not depend on it: a counter that goes
// down, after a reconnect or not, is always treated as an Envoy restart.
func (s *Store) StreamStarted(node NodeIdentity, now time.Time) {
	if node.ID == "" {
		return
	}
	s.streams++
	if _, ok := s.nodes[node.ID]; ok {
		s.reconnects++
	}
	s.node(node, now)
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

// Expire removes the series whose last sample is older than TTL at now, and
// the nodes left without series and without news for TTL. It returns the
// number of series removed. now should not go backwards between calls.
func (s *Store) Expire(now time.Time) int {
	n := 0
	for ser := s.lru.next; ser != &s.lru; {
		if now.Sub(ser.lastSeen) <= s.cfg.TTL {
			break
		}
		next := ser.next
		s.remove(ser)
		n++
		ser = next
	}
	for id, ns := range s.nodes {
		if ns.n == 0 && now.Sub(ns.lastSeen) > s.cfg.TTL {
			delete(s.nodes, id)
		}
	}
	s.expired += uint64(n)
	return n
}

// RemoveNode drops a node and all its series at once (e.g. when the caller
// knows the pod is gone) and returns the number of series removed.
func (s *Store) RemoveNode(nodeID string) int {
	ns, ok := s.nodes[nodeID]
	if !ok {
		return 0
	}
	n := 0
	for _, maps := range [2]*[numKinds]map[string]*series{&ns.flat, &ns.labeled} {
		for _, m := range maps {
			for _, ser := range m {
				s.remove(ser)
				n++
			}
		}
	}
	delete(s.nodes, nodeID)
	return n
}

// Stats is a snapshot of the store's counters, for the caller's self-metrics.
type Stats struct {
	Accepted      uint64            // samples stored
	Rejected      map[string]uint64 // samples rejected, by Reason.String(); every reason is present
	Series        int               // series held
	Families      int               // Prometheus metric names held
	Nodes         int               // nodes held
	Expired       uint64            // series removed by Expire
	CounterResets uint64            // cumulative counters that went down (Envoy restarts)
	Streams       uint64            // StreamStarted calls
	Reconnects    uint64            // StreamStarted calls for a node ID already held
	Replaced      uint64            // summary series dropped when their name became a histogram
	Extractions   uint64            // stat names run through the tag rules (name cache misses)
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Accepted:      s.accepted,
		Rejected:      make(map[string]uint64, numReasons),
		Series:        s.nseries,
		Families:      len(s.families),
		Nodes:         len(s.nodes),
		Expired:       s.expired,
		CounterResets: s.resets,
		Streams:       s.streams,
		Reconnects:    s.reconnects,
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
		ns.gen++
		ns.pairs = nil
		ns.id = NodeIdentity{
			ID:        id.ID,
			Cluster:   strings.ToValidUTF8(id.Cluster, "\uFFFD"),
			Namespace: strings.ToValidUTF8(id.Namespace, "\uFFFD"),
			Workload:  strings.ToValidUTF8(id.Workload, "\uFFFD"),
			Pod:       strings.ToValidUTF8(id.Pod, "\uFFFD"),
		}
	}
	ns.lastSeen = now
	return ns
}

func familyKind(name string, typ dto.MetricType) (kind, Reason) {
	if name == "" {
		return 0, ReasonInvalidName
	}
	if isIstioCustom(name) {
		return 0, ReasonIstioCustom
	}
	switch typ {
	case dto.MetricType_COUNTER:
		return kindCounter, reasonNone
	case dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
		return kindGauge, reasonNone
	case dto.MetricType_SUMMARY:
		return kindSummary, reasonNone
	case dto.MetricType_HISTOGRAM:
		return kindHistogram, reasonNone
	default:
		return 0, ReasonUnsupportedType
	}
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

// validate checks a sample against its family type before any state changes.
func validate(k kind, typ dto.MetricType, m *dto.Metric) Reason {
	if m == nil {
		return ReasonInvalidValue
	}
	switch k {
	case kindCounter:
		if m.Counter == nil {
			return ReasonInvalidValue
		}
		v := m.Counter.GetValue()
		if math.IsNaN(v) {
			return ReasonNaN
		}
		if v < 0 || math.IsInf(v, 0) {
			return ReasonInvalidValue
		}
	case kindGauge:
		var v float64
		if typ == dto.MetricType_UNTYPED {
			if m.Untyped == nil {
				return ReasonInvalidValue
			}
			v = m.Untyped.GetValue()
		} else {
			if m.Gauge == nil {
				return ReasonInvalidValue
			}
			v = m.Gauge.GetValue()
		}
		if math.IsNaN(v) {
			return ReasonNaN
		}
	case kindSummary:
		sm := m.Summary
		if sm == nil {
			return ReasonInvalidValue
		}
		if r := checkSum(sm.GetSampleSum()); r != reasonNone {
			return r
		}
		if len(sm.Quantile) > maxQuantiles {
			return ReasonInvalidValue
		}
		for _, q := range sm.Quantile {
			if q == nil || math.IsNaN(q.GetQuantile()) {
				return ReasonInvalidValue
			}
		}
	case kindHistogram:
		h := m.Histogram
		if h == nil {
			return ReasonInvalidValue
		}
		if r := checkSum(h.GetSampleSum()); r != reasonNone {
			return r
		}
		if len(h.Bucket) > maxBuckets {
			return ReasonInvalidValue
		}
		prev, inf := math.Inf(-1), false
		for _, b := range h.Bucket {
			if b == nil || inf {
				return ReasonInvalidValue // +Inf must be the last bucket
			}
			ub := b.GetUpperBound()
			switch {
			case math.IsInf(ub, 1):
				inf = true
			case math.IsNaN(ub) || ub <= prev:
				return ReasonInvalidValue
			default:
				prev = ub
			}
		}
	}
	return reasonNone
}

func checkSum(v float64) Reason {
	switch {
	case math.IsNaN(v):
		return ReasonNaN
	case math.IsInf(v, 0):
		return ReasonInvalidValue
	}
	return reasonNone
}

// labeledKey sorts and checks a labeled sample's labels into s.lbls and
// builds its lookup key into s.key: name, then 0xff name 0xfe value per
// label (bytes that never occur in UTF-8).
func (s *Store) labeledKey(name string, lps []*dto.LabelPair) Reason {
	if len(lps) > maxLabels || !utf8.ValidString(name) {
		return ReasonInvalidName
	}
	s.lbls = s.lbls[:0]
	for _, lp := range lps {
		n, v := lp.GetName(), lp.GetValue()
		if n == "" || !utf8.ValidString(n) || !utf8.ValidString(v) {
			return ReasonInvalidName
		}
		s.lbls = append(s.lbls, labelPair{n, v})
	}
	for i := 1; i < len(s.lbls); i++ { // insertion sort: Envoy sends a handful of tags
		for j := i; j > 0 && s.lbls[j].name < s.lbls[j-1].name; j-- {
			s.lbls[j], s.lbls[j-1] = s.lbls[j-1], s.lbls[j]
		}
	}
	s.key = append(s.key[:0], name...)
	for i, l := range s.lbls {
		if i > 0 && l.name == s.lbls[i-1].name {
			return ReasonInvalidName
		}
		s.key = append(s.key, 0xff)
		s.key = append(s.key, l.name...)
		s.key = append(s.key, 0xfe)
		s.key = append(s.key, l.value...)
	}
	return reasonNone
}

// create makes a new series (the slow path): tag extraction through the
// name cache, family checks, limits.
func (s *Store) create(ns *nodeState, k kind, raw string, labeled bool, now time.Time) (*series, Reason) {
	var (
		promName, help string
		tags           []tagValue
	)
	if !labeled {
		ex := s.extract(raw)
		if ex == nil {
			return nil, ReasonInvalidName
		}
		promName, help, tags = ex.promName, ex.help, ex.tags
	} else {
		promName, help = "envoy_"+sanitizeName(raw), "Envoy stat "+raw
		tags = make([]tagValue, 0, len(s.lbls))
		for _, l := range s.lbls {
			ln := sanitizeLabelName(l.name)
			if slices.ContainsFunc(tags, func(t tagValue) bool { return t.label == ln }) {
				return nil, ReasonInvalidName
			}
			tags = append(tags, tagValue{label: ln, value: l.value})
		}
	}
	tags = renameReserved(tags)

	fam := s.families[promName]
	if fam != nil && fam.kind != k {
		switch {
		case fam.kind == kindHistogram && k == kindSummary:
			return nil, ReasonSummaryShadowed
		case fam.kind == kindSummary && k == kindHistogram:
			if s.families[promName+"_bucket"] != nil {
				return nil, ReasonNameCollision
			}
			s.toHistogram(fam)
		default:
			return nil, ReasonTypeConflict
		}
	}
	if fam == nil && s.collides(promName, k) {
		return nil, ReasonNameCollision
	}
	if fam != nil && len(fam.labels)+len(tags) > maxFamilyLabels && unionSize(fam.labels, tags) > maxFamilyLabels {
		return nil, ReasonInvalidName
	}
	canon := canonicalKey(ns.id.ID, tags)
	if fam != nil {
		if _, dup := fam.index[canon]; dup {
			return nil, ReasonDuplicateSeries
		}
	}
	if s.nseries >= s.cfg.MaxSeries {
		if fam != nil && len(fam.series) == 0 { // emptied by toHistogram
			delete(s.families, promName)
		}
		return nil, ReasonSeriesLimit
	}
	if fam == nil {
		fam = &family{name: promName, help: help, kind: k, index: make(map[string]*series)}
		s.families[promName] = fam
	}

	ser := &series{node: ns, fam: fam, kind: k, labeled: labeled, canon: canon, lastSeen: now, key: raw}
	if labeled {
		ser.key = string(s.key)
	}
	for _, t := range tags {
		if !slices.Contains(fam.labels, t.label) {
			fam.labels = append(fam.labels, t.label)
		}
	}
	ser.vals = make([]string, len(fam.labels))
	for _, t := range tags {
		ser.vals[slices.Index(fam.labels, t.label)] = t.value
	}
	fam.index[canon] = ser
	ser.idx = len(fam.series)
	fam.series = append(fam.series, ser)

	maps := &ns.flat
	if labeled {
		maps = &ns.labeled
	}
	if maps[k] == nil {
		maps[k] = make(map[string]*series)
	}
	maps[k][ser.key] = ser
	ns.n++
	s.nseries++
	s.pushBack(ser)
	return ser, reasonNone
}

// extract returns the cached tag extraction of a flattened name, or nil when
// the name cannot be exposed.
func (s *Store) extract(raw string) *extracted {
	if ex := s.names.get(raw); ex != nil {
		return ex
	}
	s.extractions++
	ex, ok := extractTags(raw)
	if !ok {
		return nil
	}
	s.names.put(raw, ex)
	return ex
}

// renameReserved renames tag labels that clash with node labels or with
// "le"/"quantile" to "exported_<name>" (repeatedly, until free).
func renameReserved(tags []tagValue) []tagValue {
	var out []tagValue
	for i, t := range tags {
		if !slices.Contains(reservedLabels, t.label) {
			continue
		}
		if out == nil {
			out = slices.Clone(tags)
		}
		ln := t.label
		for slices.Contains(reservedLabels, ln) || slices.ContainsFunc(out, func(o tagValue) bool { return o.label == ln }) {
			ln = "exported_" + ln
		}
		out[i].label = ln
	}
	if out == nil {
		return tags
	}
	return out
}

// unionSize is the number of labels a family would have with tags added.
func unionSize(labels []string, tags []tagValue) int {
	n := len(labels)
	for _, t := range tags {
		if !slices.Contains(labels, t.label) {
			n++
		}
	}
	return n
}

// canonicalKey identifies what a series exports: its node and its non-empty
// tag labels (an absent label and an empty one export the same).
func canonicalKey(nodeID string, tags []tagValue) string {
	var b strings.Builder
	b.WriteString(nodeID)
	sorted := slices.Clone(tags)
	slices.SortFunc(sorted, func(a, b tagValue) int { return strings.Compare(a.label, b.label) })
	for _, t := range sorted {
		if t.value == "" {
			continue
		}
		b.WriteByte(0xff)
		b.WriteString(t.label)
		b.WriteByte(0xfe)
		b.WriteString(t.value)
	}
	return b.String()
}

// collides reports whether a new family would break the exposition next to
// the existing ones (client_golang's checkSuffixCollisions).
func (s *Store) collides(name string, k kind) bool {
	if k == kindSummary || k == kindHistogram {
		if s.families[name+"_count"] != nil || s.families[name+"_sum"] != nil {
			return true
		}
		if k == kindHistogram && s.families[name+"_bucket"] != nil {
			return true
		}
	}
	for _, suffix := range [...]string{"_count", "_sum", "_bucket"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f := s.families[base]; f != nil && (f.kind == kindHistogram || f.kind == kindSummary && suffix != "_bucket") {
			return true
		}
	}
	return false
}

// toHistogram turns a summary family into a histogram one, dropping its
// summary series: Envoy's default histogram_emit_mode sends each histogram
// both ways under one name, and the histogram is the one that aggregates.
func (s *Store) toHistogram(fam *family) {
	for _, ser := range fam.series {
		s.unlink(ser)
	}
	s.replaced += uint64(len(fam.series))
	fam.series = nil
	clear(fam.index)
	fam.kind = kindHistogram
	fam.labels = nil
	fam.desc = nil
}

// apply updates a series with a validated sample.
func (s *Store) apply(ser *series, typ dto.MetricType, m *dto.Metric) {
	switch ser.kind {
	case kindCounter:
		v := m.Counter.GetValue()
		switch {
		case s.cfg.CountersAsDeltas:
			ser.value += v
		case !ser.seen:
			ser.value, ser.last = v, v
		default:
			if v < ser.last { // Envoy restarted (or the stat was recreated)
				ser.offset += ser.last
				s.resets++
			}
			ser.last = v
			ser.value = ser.offset + v
		}
	case kindGauge:
		if typ == dto.MetricType_UNTYPED {
			ser.value = m.Untyped.GetValue()
		} else {
			ser.value = m.Gauge.GetValue()
		}
	case kindSummary:
		sm := m.Summary
		ser.quantiles = ser.quantiles[:0]
	next:
		for _, q := range sm.Quantile {
			x := quantile{q.GetQuantile(), q.GetValue()}
			for i := range ser.quantiles { // a repeated quantile keeps its last value
				if ser.quantiles[i].q == x.q {
					ser.quantiles[i] = x
					continue next
				}
			}
			ser.quantiles = append(ser.quantiles, x)
		}
		ser.count += sm.GetSampleCount()
		ser.sum += sm.GetSampleSum()
	case kindHistogram:
		s.applyHistogram(ser, m.Histogram)
	}
	ser.seen = true
}

// applyHistogram adds one flush interval of an Envoy histogram to the
// accumulated cumulative one. A change of bucket layout restarts it.
func (s *Store) applyHistogram(ser *series, h *dto.Histogram) {
	same, i := true, 0
	for _, b := range h.Bucket {
		ub := b.GetUpperBound()
		if math.IsInf(ub, 1) {
			continue
		}
		if i >= len(ser.bounds) || ser.bounds[i] != ub {
			same = false
			break
		}
		i++
	}
	if !same || i != len(ser.bounds) {
		// A new slice, not ser.bounds[:0]: scrape snapshots share bounds.
		ser.bounds, ser.counts = nil, ser.counts[:0]
		for _, b := range h.Bucket {
			if ub := b.GetUpperBound(); !math.IsInf(ub, 1) {
				ser.bounds = append(ser.bounds, ub)
				ser.counts = append(ser.counts, 0)
			}
		}
		ser.count, ser.sum = 0, 0
	}
	i = 0
	for _, b := range h.Bucket {
		if !math.IsInf(b.GetUpperBound(), 1) {
			ser.counts[i] += b.GetCumulativeCount()
			i++
		}
	}
	ser.count += h.GetSampleCount()
	ser.sum += h.GetSampleSum()
}

// touch marks ser as updated at now: it moves to the back of the expiry list.
func (s *Store) touch(ser *series, now time.Time) {
	ser.lastSeen = now
	if s.lru.prev == ser {
		return
	}
	ser.prev.next, ser.next.prev = ser.next, ser.prev
	s.pushBack(ser)
}

func (s *Store) pushBack(ser *series) {
	ser.prev, ser.next = s.lru.prev, &s.lru
	s.lru.prev.next = ser
	s.lru.prev = ser
}

// unlink removes ser from the expiry list and its node, not from its family.
func (s *Store) unlink(ser *series) {
	ser.prev.next, ser.next.prev = ser.next, ser.prev
	ser.prev, ser.next = nil, nil
	maps := &ser.node.flat
	if ser.labeled {
		maps = &ser.node.labeled
	}
	delete(maps[ser.kind], ser.key)
	ser.node.n--
	s.nseries--
}

// remove deletes ser everywhere, and its family when it was the last series.
func (s *Store) remove(ser *series) {
	s.unlink(ser)
	fam := ser.fam
	delete(fam.index, ser.canon)
	last := len(fam.series) - 1
	fam.series[ser.idx] = fam.series[last]
	fam.series[ser.idx].idx = ser.idx
	fam.series[last] = nil
	fam.series = fam.series[:last]
	if len(fam.series) == 0 {
		delete(s.families, fam.name)
	}
}

// nameCache is a bounded two-generation cache of tag extractions: lookups
// hit the current generation, then the previous one (promoting the entry);
// when the current one is full it becomes the previous one. It never holds
// more than 2*gen entries, and hot names survive rotation.
type nameCache struct {
	gen      int
	cur, old map[string]*extracted
}

func newNameCache(size int) nameCache {
	gen := max(size/2, 1)
	return nameCache{gen: gen, cur: make(map[string]*extracted)}
}

func (c *nameCache) get(name string) *extracted {
	if ex, ok := c.cur[name]; ok {
		return ex
	}
	if ex, ok := c.old[name]; ok {
		c.put(name, ex)
		return ex
	}
	return nil
}

func (c *nameCache) put(name string, ex *extracted) {
	if len(c.cur) >= c.gen {
		c.old, c.cur = c.cur, make(map[string]*extracted, c.gen)
	}
	c.cur[name] = ex
}

func (c *nameCache) len() int { return len(c.cur) + len(c.old) }
