package remotewrite

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/exporters/remotewrite/rwtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEncode: what Batch appends decodes with Prometheus's own types to
// the series given, labels sorted with __name__ and le in their places and
// empty values left out, in requests cut at MaxBytes.
func TestEncode(t *testing.T) {
	var bodies [][]byte
	var samples, hists int
	b := &Batch{MaxBytes: 200, Emit: func(body []byte, s, h int) error {
		bodies = append(bodies, append([]byte(nil), body...))
		samples += s
		hists += h
		return nil
	}}
	cases := []struct {
		name   string
		labels []Label
	}{
		{"plain", []Label{{"zone", "a"}, {"app", "x"}, {"Upper", "u"}, {"empty", ""}}},
		{"only after le", []Label{{"reporter", "source"}}},
		{"none", nil},
	}
	const ts = 1_700_000_000_123
	for _, c := range cases {
		l := EncodeLabels(c.labels)
		b.Sample(&l, NewName("m_total"), nil, 42, ts)
		b.Sample(&l, NewName("h_bucket"), NewLE("0.5"), 3, ts)
		b.Histogram(&l, NewName("h"), AppendHistogramMessage(nil, &Histogram{
			Count: 7, Sum: 12.5, Schema: -2, ZeroThreshold: 1e-9, ZeroCount: 1,
			Spans: []Span{{Offset: -3, Length: 2}, {Offset: 4, Length: 1}}, Deltas: AppendDelta(AppendDelta(AppendDelta(nil, 2), -1), 3),
		}, ts))
		require.NoError(t, b.FlushIfFull())
	}
	require.NoError(t, b.Flush())
	require.NoError(t, b.Flush(), "nothing pending: nothing emitted")
	d, err := rwtest.Decode(bodies...)
	require.NoError(t, err)
	assert.Empty(t, d.Problems)
	assert.Equal(t, map[string]float64{
		`m_total{Upper="u",app="x",zone="a",}`:           42,
		`h_bucket{Upper="u",app="x",le="0.5",zone="a",}`: 3,
		`m_total{reporter="source",}`:                    42,
		`h_bucket{le="0.5",reporter="source",}`:          3,
		`m_total{}`:                                      42,
		`h_bucket{le="0.5",}`:                            3,
	}, d.Samples)
	require.Len(t, d.Histograms, 3)
	h := d.Histograms[`h{reporter="source",}`]
	assert.Equal(t, uint64(7), h.GetCountInt())
	assert.InDelta(t, 12.5, h.Sum, 0)
	assert.Equal(t, int32(-2), h.Schema)
	assert.InDelta(t, 1e-9, h.ZeroThreshold, 0)
	assert.Equal(t, uint64(1), h.GetZeroCountInt())
	assert.Equal(t, []prompb.BucketSpan{{Offset: -3, Length: 2}, {Offset: 4, Length: 1}}, h.PositiveSpans)
	assert.Equal(t, []int64{2, -1, 3}, h.PositiveDeltas)
	assert.Equal(t, []int64{ts}, d.Timestamps)
	assert.Equal(t, 6, samples)
	assert.Equal(t, 3, hists)
	s, hs, reqs := b.Totals()
	assert.Equal(t, [3]int{6, 3, len(bodies)}, [3]int{s, hs, reqs})
	assert.Len(t, bodies, 3, "a request each time the pending one passed MaxBytes")
}

// TestEncodeLabelsSizeIsExact: the labels take the bytes they need and no
// more (a series keeps them for its life).
func TestEncodeLabelsSizeIsExact(t *testing.T) {
	l := EncodeLabels([]Label{{"a", "1"}, {"b", ""}, {"destination_workload", "reviews-v1"}})
	assert.Equal(t, len(l.b), l.Size())
	assert.False(t, l.IsZero())
	assert.True(t, (&Labels{}).IsZero())
}
