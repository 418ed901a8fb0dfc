package window

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promQuantile is Prometheus's histogram_quantile over cumulative buckets
// (bounds ascending, cum per bound then +Inf), written out independently.
func promQuantile(q float64, bounds, cum []float64) float64 {
	total := cum[len(cum)-1]
	rank := q * total
	for i, b := range bounds {
		if cum[i] >= rank {
			lo, prev := 0.0, 0.0
			if i > 0 {
				lo, prev = bounds[i-1], cum[i-1]
			}
			return lo + (b-lo)*(rank-prev)/(cum[i]-prev)
		}
	}
	return bounds[len(bounds)-1]
}

func TestExtQuantile(t *testing.T) {
	istio := []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000}
	tests := []struct {
		name string
		cum  []float64
	}{
		{"one bucket", []float64{0, 0, 0, 0, 0, 100, 100, 100, 100, 100, 100}},
		{"spread", []float64{1, 3, 10, 40, 70, 90, 95, 99, 100, 100, 100}},
		{"tail above the last bound", []float64{0, 0, 0, 0, 10, 20, 30, 40, 50, 60, 100}},
		{"first bucket", []float64{10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Agg
			a.AddCumulative(istio, tt.cum)
			assert.InDelta(t, tt.cum[len(tt.cum)-1], a.Samples(), 1e-9)
			for _, q := range []float64{0.5, 0.95, 0.99} {
				got, ok := a.Quantile(q)
				require.True(t, ok)
				assert.InDelta(t, promQuantile(q, istio, tt.cum), got, 1e-9, "q=%v", q)
			}
		})
	}
	var empty Agg
	empty.AddCumulative(istio, make([]float64, len(istio)+1))
	_, ok := empty.Quantile(0.5)
	assert.False(t, ok)
	var bad Agg
	bad.AddCumulative(istio, []float64{1})
	assert.Nil(t, bad.Ext, "mismatched lengths are ignored")
	var noisy Agg
	noisy.AddCumulative([]float64{1, 2}, []float64{5, 4.9, 6})
	assert.Equal(t, []float64{5, 0, 1}, noisy.Ext.Counts, "decreasing counts are zero")
}

// TestExtAdd checks that external histograms add, scaled, and that
// histograms with other bounds are re-bucketed onto the union.
func TestExtAdd(t *testing.T) {
	var a, b Agg
	a.AddCumulative([]float64{10, 20}, []float64{4, 8, 8})
	b.AddCumulative([]float64{10, 20}, []float64{2, 2, 4})
	var sum Agg
	sum.Add(&a, 1)
	sum.Add(&b, 0.5)
	assert.Equal(t, []float64{10, 20}, sum.Ext.Bounds)
	assert.Equal(t, []float64{5, 4, 1}, sum.Ext.Counts)
	assert.Equal(t, []float64{4, 4, 0}, a.Ext.Counts, "the addend is not modified")

	var c Agg
	c.AddCumulative([]float64{5, 20}, []float64{2, 6, 6})
	sum.Add(&c, 1)
	assert.Equal(t, []float64{5, 10, 20}, sum.Ext.Bounds)
	// sum had 5 in (0,10]: 2.5 in (0,5], 2.5 in (5,10]; c had 4 in (5,20]:
	// 4/3 in (5,10], 8/3 in (10,20].
	want := []float64{2.5 + 2, 2.5 + 4.0/3, 4 + 8.0/3, 1}
	require.Len(t, sum.Ext.Counts, len(want))
	for i := range want {
		assert.InDelta(t, want[i], sum.Ext.Counts[i], 1e-9, "bucket %d", i)
	}
	assert.InDelta(t, 16, sum.Samples(), 1e-9)
}

// TestCountOnceExt checks that the merged view takes the client's external
// histogram, as a copy.
func TestCountOnceExt(t *testing.T) {
	var c, s, dst Agg
	c.Requests, s.Requests = 10, 10
	c.AddCumulative([]float64{10, 20}, []float64{0, 10, 10})
	s.AddCumulative([]float64{10, 20}, []float64{10, 10, 10})
	c.AddKind(Kind{Code: 200}, "h", 10)
	s.AddKind(Kind{Code: 200}, "h", 10)
	CountOnce(&dst, &c, &s)
	require.NotNil(t, dst.Ext)
	assert.Equal(t, []float64{0, 10, 0}, dst.Ext.Counts)
	p50, ok := dst.Quantile(0.5)
	require.True(t, ok)
	assert.InDelta(t, 15, p50, 1e-9)
	dst.Ext.Counts[0] = 99
	assert.Equal(t, []float64{0, 10, 0}, c.Ext.Counts)
}
