package rwtest

import (
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestDecodeFindsProblems: a request encoded by Prometheus's own types
// decodes to its samples; unsorted labels, empty values, a series sent
// twice and a series without a sample are reported.
func TestDecodeFindsProblems(t *testing.T) {
	req := prompb.WriteRequest{Timeseries: []prompb.TimeSeries{
		{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}}, Samples: []prompb.Sample{{Value: 1, Timestamp: 5}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "up"}, {Name: "job", Value: "a"}}, Samples: []prompb.Sample{{Value: 2, Timestamp: 5}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "x"}, {Name: "z", Value: "1"}, {Name: "a", Value: ""}}, Samples: []prompb.Sample{{Value: 3, Timestamp: 6}}},
		{Labels: []prompb.Label{{Name: "__name__", Value: "none"}}},
	}}
	body, err := req.Marshal()
	require.NoError(t, err)
	d, err := Decode(body)
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{`up{job="a",}`: 2, `x{a="",z="1",}`: 3}, d.Samples)
	assert.Equal(t, []int64{5, 6}, d.Timestamps)
	assert.Equal(t, []string{
		`up{job="a",}: sent twice`,
		`x{a="",z="1",}: empty value of a`,
		`x{a="",z="1",}: labels not sorted or repeated at a`,
		`none{}: 0 samples, 0 histograms`,
	}, d.Problems)
	_, err = Decode([]byte{0xff})
	require.Error(t, err)
}
