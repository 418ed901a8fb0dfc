package istiometrics

import (
	"errors"
	"fmt"
	"math"
)

// NativeHistograms configures the native (sparse, exponential) histograms
// kept beside the classic buckets of the three Istio histograms
// (istio_request_duration_milliseconds, istio_request_bytes,
// istio_response_bytes) and served in the Prometheus protobuf exposition
// to scrapers that ask for it (ADR 0011).
type NativeHistograms struct {
	// Enabled keeps the native buckets and offers the protobuf exposition.
	Enabled bool `mapstructure:"enabled"`
	// Schema is the initial resolution: bucket boundaries are powers of
	// 2^(2^-schema), from -4 (a factor of 65,536) to 8 (0.27 %). 3, the
	// default, is client_golang's bucket factor 1.1: a factor of 1.09, so a
	// quantile read from it is off by at most 9 %.
	Schema int32 `mapstructure:"schema"`
	// MaxBuckets caps the span of each native histogram, from its lowest to
	// its highest populated bucket: when a value would widen it beyond, the
	// histogram halves its resolution (schema - 1, merging bucket pairs)
	// until it fits. The schema a series ends with depends only on the
	// values it saw, not on their order.
	MaxBuckets int `mapstructure:"max_buckets"`
}

// Native histogram limits, as Prometheus defines them.
const (
	minNativeSchema = -4
	maxNativeSchema = 8
	// nativeZeroThreshold is client_golang's default zero bucket width:
	// the zero bucket holds the values <= 2^-128, in practice the zeros.
	nativeZeroThreshold = 2.938735877055719e-39
	// DefaultNativeSchema and DefaultNativeMaxBuckets are the defaults.
	DefaultNativeSchema     = 3
	DefaultNativeMaxBuckets = 160
	// minNativeMaxBuckets is the least span allowed. At schema -4 (a factor
	// of 2^16 a bucket) 33 buckets cover 2^528, far beyond any duration or
	// size; only values spanning more (which meshlens's clamped durations
	// and sizes cannot) would widen a histogram past max_buckets there,
	// the lowest schema.
	minNativeMaxBuckets = 33
	// maxNativeMaxBuckets: 1.5 MiB of buckets a series at most.
	maxNativeMaxBuckets = 1 << 16
)

// Validate checks the native histogram settings.
func (n *NativeHistograms) Validate() error {
	var errs error
	if n.Schema < minNativeSchema || n.Schema > maxNativeSchema {
		errs = errors.Join(errs, fmt.Errorf("native_histograms::schema must be between %d and %d, got %d", minNativeSchema, maxNativeSchema, n.Schema))
	}
	if n.MaxBuckets < minNativeMaxBuckets || n.MaxBuckets > maxNativeMaxBuckets {
		errs = errors.Join(errs, fmt.Errorf("native_histograms::max_buckets must be between %d and %d, got %d", minNativeMaxBuckets, maxNativeMaxBuckets, n.MaxBuckets))
	}
	return errs
}

// nativeBounds[s] are the fractions (in [0.5, 1)) at which the buckets of
// schema s > 0 start within a power of two, generated as client_golang
// documents for its table: each schema reuses its parent's bounds, so
// merging two buckets of schema s gives exactly one bucket of s-1.
var nativeBounds = func() [maxNativeSchema + 1][]float64 {
	var nb [maxNativeSchema + 1][]float64
	n := 1
	for s := range nb {
		bounds := []float64{0.5}
		factor := math.Exp2(math.Exp2(float64(-s)))
		for j := range n - 1 {
			if j%2 == 1 {
				bounds = append(bounds, nb[s-1][j/2+1])
			} else {
				bounds = append(bounds, bounds[j]*factor)
			}
		}
		nb[s] = bounds
		n *= 2
	}
	return nb
}()

// keyCells indexes the schema-8 bounds by the top 12 bits of a value's
// mantissa: keyCells[c] is the first bound at or above the start of cell c.
// The bounds are at least 0.0013 apart and a cell 0.00012 wide, so a cell
// holds at most one bound, and one comparison finishes the search.
var keyCells = func() (cells [1 << 12]uint16) {
	b := nativeBounds[maxNativeSchema]
	i := 0
	for c := range cells {
		start := 0.5 + float64(c)/(1<<13)
		for i < len(b) && b[i] < start {
			i++
		}
		cells[c] = uint16(i) //nolint:gosec // <= 256
	}
	return cells
}()

// nativeKey is the index of the bucket of schema s holding v > 0: bucket i
// holds (2^((i-1)·2^-s), 2^(i·2^-s)], as Prometheus defines it. It finds
// the bucket of schema 8 as client_golang does (the first bound at or
// above v's fraction in [0.5, 1), plus 256 a power of two), without a
// search (keyCells), and takes the schema-s bucket holding it: the bounds
// of schema s are among those of schema 8 (nativeBounds).
func nativeKey(v float64, s int32) int32 {
	bits := math.Float64bits(v)
	var frac float64
	var exp int
	if e := int((bits >> 52) & 0x7ff); e != 0 {
		// v = frac × 2^exp with frac in [0.5, 1).
		frac = math.Float64frombits(bits&^(0x7ff<<52) | 1022<<52)
		exp = e - 1022
	} else { // subnormal
		frac, exp = math.Frexp(v)
		bits = math.Float64bits(frac)
	}
	b := &nativeBounds[maxNativeSchema]
	i := int(keyCells[(bits>>40)&(1<<12-1)])
	if i < len(*b) && (*b)[i] < frac {
		i++
	}
	k := i + (exp-1)<<maxNativeSchema
	shift := maxNativeSchema - s
	return int32((k + 1<<shift - 1) >> shift) //nolint:gosec // exp is within ±1075
}

// nhist is one native histogram with positive values only (durations and
// sizes are never negative): a dense run of bucket counts from index lo,
// the span of the populated buckets, at most the configured max.
type nhist struct {
	schema int32
	lo     int32    // the index of counts[0]
	counts []uint64 // nil until the first value above the zero threshold
	zero   uint64   // values <= nativeZeroThreshold
}

// observe adds v (>= 0). It allocates only when v widens the span: at most
// maxBuckets times in a series' life (the run grows with headroom).
func (h *nhist) observe(v float64, maxBuckets int) {
	if v <= nativeZeroThreshold {
		h.zero++
		return
	}
	k := nativeKey(v, h.schema)
	if i := int(k) - int(h.lo); h.counts != nil && i >= 0 && i < len(h.counts) {
		h.counts[i]++
		return
	}
	k = h.widen(k, maxBuckets)
	h.counts[k-h.lo]++
}

// widen makes the run cover key k of the current schema, halving the
// resolution while the span of the populated buckets and k exceeds
// maxBuckets. It returns k's index at the schema it ends with.
func (h *nhist) widen(k int32, maxBuckets int) int32 {
	if h.counts == nil {
		h.lo, h.counts = k, make([]uint64, 1, 4)
		return k
	}
	lo, hi := h.populated()
	for {
		nlo, nhi := min(lo, k), max(hi, k)
		if int(nhi-nlo)+1 <= maxBuckets || h.schema == minNativeSchema {
			break
		}
		h.reduce()
		lo, hi, k = halve(lo), halve(hi), halve(k)
	}
	nlo, nhi := min(lo, k), max(hi, k)
	if nlo >= h.lo && int(nhi-h.lo) < cap(h.counts) {
		h.counts = h.counts[:nhi-h.lo+1]
		return k
	}
	// A new run with headroom on the side it grew, within maxBuckets.
	span := int(nhi-nlo) + 1
	room := min(max(span/2, 4), max(maxBuckets-span, 0))
	start := nlo
	if k < lo {
		start = nlo - int32(room) //nolint:gosec // room <= maxBuckets
		room = 0
	}
	counts := make([]uint64, int(nhi-start)+1, int(nhi-start)+1+room)
	copy(counts[lo-start:], h.counts[lo-h.lo:hi-h.lo+1])
	h.lo, h.counts = start, counts
	return k
}

// populated returns the lowest and highest bucket index with a count
// (the run has at least one: widen is only called after a first value).
func (h *nhist) populated() (lo, hi int32) {
	i, j := 0, len(h.counts)-1
	for i < j && h.counts[i] == 0 {
		i++
	}
	for j > i && h.counts[j] == 0 {
		j--
	}
	return h.lo + int32(i), h.lo + int32(j) //nolint:gosec // len <= maxBuckets
}

// halve maps bucket index i of schema s to its bucket of schema s-1, which
// holds buckets 2j-1 and 2j of s: j = ceil(i/2).
func halve(i int32) int32 { return (i + 1) >> 1 }

// reduce halves the resolution in place: schema - 1, pairs merged.
func (h *nhist) reduce() {
	nlo := halve(h.lo)
	n := int(halve(h.lo+int32(len(h.counts))-1)-nlo) + 1 //nolint:gosec // len <= maxBuckets
	for i, c := range h.counts {
		j := int(halve(h.lo+int32(i)) - nlo) //nolint:gosec // as above
		if j != i {
			h.counts[j] += c
			h.counts[i] = 0
		}
	}
	h.lo, h.counts = nlo, h.counts[:n]
	h.schema--
}

// nativeSet is the native histograms of one HTTP series, allocated with
// the series when native histograms are on.
type nativeSet struct {
	duration, reqBytes, respBytes nhist
}

func newNativeSet(schema int32) *nativeSet {
	return &nativeSet{duration: nhist{schema: schema}, reqBytes: nhist{schema: schema}, respBytes: nhist{schema: schema}}
}

// spans calls f for each run of populated buckets: its offset from the
// end of the previous run (the first run's from index 0) and its counts.
func (h *nhist) spans(f func(offset int32, counts []uint64)) {
	prev := int32(0)
	for i := 0; i < len(h.counts); {
		if h.counts[i] == 0 {
			i++
			continue
		}
		j := i
		for j < len(h.counts) && h.counts[j] != 0 {
			j++
		}
		start := h.lo + int32(i) //nolint:gosec // len <= maxBuckets
		f(start-prev, h.counts[i:j])
		prev = h.lo + int32(j) //nolint:gosec // as above
		i = j
	}
}
