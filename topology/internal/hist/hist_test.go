package hist

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestIndex(t *testing.T) {
	tests := []struct {
		name  string
		nanos int64
		want  int
	}{
		{"negative", -5, 0},
		{"zero", 0, 0},
		{"first bound inclusive", 500_000, 0},
		{"just above first bound", 500_001, 1},
		{"0.75ms is the second bound", 750_000, 1},
		{"one second", 1_000_000_000, 19},
		{"huge", math.MaxInt64, N - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Index(tt.nanos)
			assert.Equal(t, tt.want, got)
			if got < N-1 {
				assert.LessOrEqual(t, float64(tt.nanos)/1e6, UpperMillis(got))
			}
			if got > 0 {
				assert.Greater(t, float64(tt.nanos)/1e6, UpperMillis(got-1))
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	var empty [N]float64
	_, ok := Quantile(&empty, 0.5)
	assert.False(t, ok)

	// 100 samples at 10 ms: every quantile lies inside 10 ms's bucket.
	var one [N]float64
	b := Index(10_000_000)
	one[b] = 100
	for _, q := range []float64{0.5, 0.95, 0.99} {
		v, ok := Quantile(&one, q)
		require.True(t, ok)
		assert.Greater(t, v, UpperMillis(b-1))
		assert.LessOrEqual(t, v, UpperMillis(b))
	}

	// 99 fast and 1 slow request: p50 is fast, p99 is fast (rank 99), the
	// maximum is slow.
	var two [N]float64
	two[Index(1_000_000)] = 99
	two[Index(2_000_000_000)] = 1
	p50, _ := Quantile(&two, 0.5)
	p100, _ := Quantile(&two, 1)
	assert.Less(t, p50, 2.0)
	assert.Greater(t, p100, 1000.0)

	// The open last bucket answers its lower bound.
	var last [N]float64
	last[N-1] = 3
	v, ok := Quantile(&last, 0.99)
	require.True(t, ok)
	assert.InDelta(t, UpperMillis(N-2), v, 1e-9)
}

func TestBoundsGrow(t *testing.T) {
	for i := 1; i < N-1; i++ {
		ratio := UpperMillis(i) / UpperMillis(i-1)
		assert.InDelta(t, 1.5, ratio, 0.001, "bucket %d", i)
	}
	assert.True(t, math.IsInf(UpperMillis(N-1), 1))
	assert.Greater(t, UpperMillis(N-2), 90_000.0, "the last finite bound covers long requests")
}
