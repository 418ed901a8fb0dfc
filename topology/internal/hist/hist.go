package hist

import "math"

// N is the number of buckets.
const N = 32

const (
	firstBound = 500_000 // ns: 0.5 ms
	growth     = 1.5
)

// bounds[i] is the inclusive upper bound, in nanoseconds, of bucket i; the
// last bucket (N-1) has no upper bound.
var bounds [N - 1]int64

func init() {
	b := float64(firstBound)
	for i := range bounds {
		bounds[i] = int64(math.Round(b))
		b *= growth
	}
}

// Index returns the bucket of a duration in nanoseconds (negative values go
// to bucket 0).
func Index(nanos int64) int {
	lo, hi := 0, len(bounds)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if nanos > bounds[mid] {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// UpperMillis returns the upper bound of bucket i in milliseconds, or +Inf
// for the last bucket.
func UpperMillis(i int) float64 {
	if i >= len(bounds) {
		return math.Inf(1)
	}
	return float64(bounds[i]) / 1e6
}

func lowerMillis(i int) float64 {
	if i == 0 {
		return 0
	}
	return float64(bounds[i-1]) / 1e6
}

// Quantile returns the q-quantile (0 < q ≤ 1), in milliseconds, of a
// histogram given as N bucket counts, and false when it is empty. Inside the
// selected bucket the value is interpolated linearly; in the open last
// bucket its lower bound is returned.
func Quantile(counts *[N]float64, q float64) (float64, bool) {
	var total float64
	for _, c := range counts {
		total += c
	}
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	var cum float64
	for i, c := range counts {
		if c <= 0 {
			continue
		}
		if cum+c >= rank {
			lo := lowerMillis(i)
			if i == N-1 {
				return lo, true
			}
			frac := (rank - cum) / c
			return lo + frac*(UpperMillis(i)-lo), true
		}
		cum += c
	}
	// Rounding left rank just above the sum: the highest non-empty bucket.
	for i := N - 1; i >= 0; i-- {
		if counts[i] > 0 {
			if i == N-1 {
				return lowerMillis(i), true
			}
			return UpperMillis(i), true
		}
	}
	return 0, false
}
