package envoystats

import (
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

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
	// bytes is the series' own label-set bytes (ownBytes): with its node's
	// and its family's, what each of its lines repeats (charge).
	bytes int64
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
	// labelBytes is the bytes the label names take on each line of each
	// series (labelBytes with empty values); header the # HELP and # TYPE
	// lines'. Both are in the store's label-set bytes.
	labelBytes, header int64
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
	if fam != nil && !fitsFamily(fam.labels, tags) {
		return nil, ReasonInvalidName
	}
	canon := canonicalKey(ns.id.ID, tags)
	if fam != nil {
		if _, dup := fam.index[canon]; dup {
			return nil, ReasonDuplicateSeries
		}
	}
	// The budgets: the series count, and the label-set bytes the series
	// adds: its own, its node's and its family's label names (grown by its
	// new tags, which the family's other series write too), and a new
	// family's header.
	own := ownBytes(promName, tags)
	var grown, header int64
	for _, t := range tags {
		if fam == nil || !slices.Contains(fam.labels, t.label) {
			grown += labelBytes(t.label, "")
		}
	}
	cost := own + ns.bytes + grown
	if fam == nil {
		header = headerBytes(promName, help, k)
		cost += header
	} else {
		cost += fam.labelBytes + int64(len(fam.series))*grown
	}
	r := reasonNone
	switch {
	case s.nseries >= s.cfg.MaxSeries:
		r = ReasonSeriesLimit
	case s.labelBytes+cost > s.cfg.MaxLabelBytes:
		r = ReasonLabelBytesLimit
	}
	if r != reasonNone {
		if fam != nil && len(fam.series) == 0 { // emptied by toHistogram
			s.dropFamily(fam)
		}
		return nil, r
	}
	if fam == nil {
		fam = &family{name: promName, help: help, kind: k, index: make(map[string]*series), header: header}
		s.families[promName] = fam
	}
	fam.labelBytes += grown
	s.labelBytes += cost

	ser := &series{node: ns, fam: fam, kind: k, labeled: labeled, canon: canon, lastSeen: now, key: raw, bytes: own}
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

// fitsFamily reports whether a family with labels can take a series with
// tags: at most maxFamilyLabels label names, of MaxFamilyLabelNameBytes
// bytes together.
func fitsFamily(labels []string, tags []tagValue) bool {
	n, size := len(labels), 0
	for _, l := range labels {
		size += len(l)
	}
	for _, t := range tags {
		if !slices.Contains(labels, t.label) {
			n++
			size += len(t.label)
		}
	}
	return n <= maxFamilyLabels && size <= MaxFamilyLabelNameBytes
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
	fam.labelBytes = 0
	fam.desc = nil
	// The header's type grows by two bytes, less than the series given
	// back took: the budget holds.
	header := headerBytes(fam.name, fam.help, fam.kind)
	s.labelBytes += header - fam.header
	fam.header = header
}

// dropFamily deletes an empty family and gives its header's bytes back.
func (s *Store) dropFamily(fam *family) {
	delete(s.families, fam.name)
	s.labelBytes -= fam.header
}
