package envoystats

import (
	"math"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
)

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
		if len(h.Bucket) > MaxHistogramBuckets {
			return ReasonTooManyBuckets
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

type labelPair struct{ name, value string }

// labeledKey sorts and checks a labeled sample's labels into s.lbls and
// builds its lookup key into s.key: name, then 0xff name 0xfe value per
// label (bytes that never occur in UTF-8).
func (s *Store) labeledKey(name string, lps []*dto.LabelPair) Reason {
	if len(lps) > maxLabels || len(name) > MaxStatNameLength || !utf8.ValidString(name) {
		return ReasonInvalidName
	}
	s.lbls = s.lbls[:0]
	size := 0
	for _, lp := range lps {
		n, v := lp.GetName(), lp.GetValue()
		size += len(n) + len(v)
		if n == "" || size > MaxSampleLabelBytes || len(v) > MaxLabelValueLength || !utf8.ValidString(n) || !utf8.ValidString(v) {
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
