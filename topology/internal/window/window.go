package window

import (
	"math"
	"time"

	"github.com/meshlens/meshlens/topology/internal/hist"
)

// MaxKinds bounds the distinct response kinds a view tracks. A further kind
// reuses a kind with no traffic in the retained slots, or is folded into a
// kind of the same class (the code shown may then be wrong; the rates are
// not).
const MaxKinds = 8

// Layout is the ring geometry shared by every view of a graph: one ring of
// Slots slots per window, slot width = window / Slots.
type Layout struct {
	windows []time.Duration
	widths  []int64
	slots   int
}

// NewLayout returns a Layout. windows must be ascending, each divisible
// into slots slots of at least one second (the caller validates).
func NewLayout(windows []time.Duration, slots int) *Layout {
	l := &Layout{windows: append([]time.Duration(nil), windows...), slots: slots}
	for _, w := range windows {
		l.widths = append(l.widths, int64(w)/int64(slots))
	}
	return l
}

// Windows returns the configured windows.
func (l *Layout) Windows() []time.Duration { return l.windows }

// Span returns the ring and the number of its slots that cover d at now:
// the smallest window not shorter than d, and the fewest of its latest slots
// (the current, partial one included) that cover at least d, as far as the
// ring holds them. A span never shrinks to the few seconds of a slot that
// just began: right after a slot boundary it reaches one slot further back.
// ok is false when d is longer than every window.
func (l *Layout) Span(d time.Duration, nowNano int64) (w, n int, ok bool) {
	for i, win := range l.windows {
		if d > win {
			continue
		}
		width := l.widths[i]
		partial := max(nowNano, 0) % width
		n = 1
		if rest := int64(d) - partial; rest > 0 {
			n += int((rest + width - 1) / width)
		}
		return i, min(n, l.slots), true
	}
	return 0, 0, false
}

// Covered returns the seconds that n slots of ring w cover at now: n-1 full
// slots and the elapsed part of the current one. Rates divide by it.
func (l *Layout) Covered(w, n int, nowNano int64) float64 {
	width := l.widths[w]
	nowNano = max(nowNano, 0)
	partial := nowNano % width
	return (float64(n-1)*float64(width) + float64(partial)) / 1e9
}

// Slot is one time slot of one ring.
type Slot struct {
	Epoch        uint32 // now / width: which slot of time the counters are for
	Requests     uint32 // finished HTTP/gRPC requests
	MTLS         uint32 // requests or TCP entries over mutual TLS
	Opened       uint32 // TCP connections opened
	Closed       uint32 // TCP connections closed
	MsgsIn       uint32 // gRPC request messages
	MsgsOut      uint32 // gRPC response messages
	MinMicros    uint32 // shortest duration (MaxUint32 when none)
	MaxMicros    uint32 // longest duration
	DurSumMicros uint64
	BytesIn      uint64 // request bytes (HTTP) / received bytes, client → server (TCP)
	BytesOut     uint64 // response bytes (HTTP) / sent bytes, server → client (TCP)
	Kinds        [MaxKinds]uint32
	Hist         [hist.N]uint32
}

// Sample is what one record adds to a view.
type Sample struct {
	Kind              Kind
	CountKind         bool  // the record counts in the response breakdown
	Request           bool  // a finished HTTP/gRPC request
	DurNanos          int64 // < 0: no duration
	MTLS              bool
	BytesIn, BytesOut uint64
	MsgsIn, MsgsOut   uint64
	Opened, Closed    bool
}

// View is one reporter's counters for one edge.
type View struct {
	kinds  [MaxKinds]Kind
	nkinds uint8
	slots  []Slot
}

// NewView returns an empty view for layout l.
func NewView(l *Layout) *View {
	return &View{slots: make([]Slot, len(l.widths)*l.slots)}
}

// Add records a sample at nowNano. It reports whether the sample's kind had
// to be folded into another kind because the kind table was full.
func (v *View) Add(l *Layout, nowNano int64, s *Sample) (folded bool) {
	nowNano = max(nowNano, 0)
	k := -1
	if s.CountKind {
		k, folded = v.kindIndex(l, nowNano, s.Kind)
	}
	dur := s.DurNanos >= 0 && s.Request
	b := hist.Index(s.DurNanos)
	micros := uint32(min(s.DurNanos/1000, math.MaxUint32))
	for w, width := range l.widths {
		epoch := uint32(nowNano / width)
		sl := &v.slots[w*l.slots+int(epoch%uint32(l.slots))]
		switch {
		case sl.Epoch == epoch:
		case sl.Epoch < epoch:
			*sl = Slot{Epoch: epoch, MinMicros: math.MaxUint32}
		default:
			// A late sample whose slot was reused by newer data: count it
			// in the newer slot rather than erase that slot.
		}
		if s.Request {
			sl.Requests++
		}
		if s.MTLS {
			sl.MTLS++
		}
		if s.Opened {
			sl.Opened++
		}
		if s.Closed {
			sl.Closed++
		}
		sl.MsgsIn += uint32(s.MsgsIn)
		sl.MsgsOut += uint32(s.MsgsOut)
		sl.BytesIn += s.BytesIn
		sl.BytesOut += s.BytesOut
		if k >= 0 {
			sl.Kinds[k]++
		}
		if dur {
			sl.Hist[b]++
			sl.DurSumMicros += uint64(s.DurNanos / 1000)
			sl.MinMicros = min(sl.MinMicros, micros)
			sl.MaxMicros = max(sl.MaxMicros, micros)
		}
	}
	return folded
}

func (v *View) kindIndex(l *Layout, nowNano int64, k Kind) (int, bool) {
	for i := range int(v.nkinds) {
		if v.kinds[i] == k {
			return i, false
		}
	}
	if int(v.nkinds) < MaxKinds {
		v.kinds[v.nkinds] = k
		v.nkinds++
		return int(v.nkinds) - 1, false
	}
	// Full: reuse a kind that has no traffic in any retained slot,
	for i := range MaxKinds {
		if !v.kindLive(l, nowNano, i) {
			v.kinds[i] = k
			v.clearKind(i)
			return i, false
		}
	}
	// else count it as a kind of the same class,
	for i := range MaxKinds {
		if v.kinds[i].similar(k) {
			return i, true
		}
	}
	// else merge two kinds of one class to make room,
	for i := range MaxKinds {
		for j := i + 1; j < MaxKinds; j++ {
			if v.kinds[i].similar(v.kinds[j]) {
				for s := range v.slots {
					v.slots[s].Kinds[i] += v.slots[s].Kinds[j]
					v.slots[s].Kinds[j] = 0
				}
				v.kinds[j] = k
				return j, true
			}
		}
	}
	// else (eight kinds of eight classes) count it as the first kind.
	return 0, true
}

func (v *View) kindLive(l *Layout, nowNano int64, k int) bool {
	for w, width := range l.widths {
		cur := uint32(nowNano / width)
		for i := range l.slots {
			sl := &v.slots[w*l.slots+i]
			if cur-sl.Epoch < uint32(l.slots) && sl.Kinds[k] > 0 {
				return true
			}
		}
	}
	return false
}

func (v *View) clearKind(k int) {
	for i := range v.slots {
		v.slots[i].Kinds[k] = 0
	}
}

// Sum adds the n most recent slots of ring w at nowNano to dst; host names
// the destination service of the view's response kinds.
func (v *View) Sum(l *Layout, w, n int, nowNano int64, host string, dst *Agg) {
	nowNano = max(nowNano, 0)
	cur := uint32(nowNano / l.widths[w])
	for i := range l.slots {
		sl := &v.slots[w*l.slots+i]
		if cur-sl.Epoch >= uint32(n) {
			continue
		}
		dst.Requests += float64(sl.Requests)
		dst.MTLS += float64(sl.MTLS)
		dst.Opened += float64(sl.Opened)
		dst.Closed += float64(sl.Closed)
		dst.MsgsIn += float64(sl.MsgsIn)
		dst.MsgsOut += float64(sl.MsgsOut)
		dst.DurSumMicros += float64(sl.DurSumMicros)
		if sl.MaxMicros >= sl.MinMicros { // has durations
			dst.addRange(float64(sl.MinMicros), float64(sl.MaxMicros))
		}
		dst.BytesIn += float64(sl.BytesIn)
		dst.BytesOut += float64(sl.BytesOut)
		for b, c := range sl.Hist {
			dst.Hist[b] += float64(c)
		}
		for k := range int(v.nkinds) {
			if c := sl.Kinds[k]; c > 0 {
				dst.addKind(v.kinds[k], host, float64(c))
			}
		}
	}
}

// LastActive reports whether any slot of the view has traffic within the
// longest window at nowNano.
func (v *View) LastActive(l *Layout, nowNano int64) bool {
	w := len(l.widths) - 1
	cur := uint32(max(nowNano, 0) / l.widths[w])
	for i := range l.slots {
		sl := &v.slots[w*l.slots+i]
		if cur-sl.Epoch < uint32(l.slots) {
			return true
		}
	}
	return false
}
