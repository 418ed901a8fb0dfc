package oteltest

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSameSamples: a histogram flattens to the same samples from pdata and
// from a scraped family (the +Inf bucket and empty labels included).
func TestSameSamples(t *testing.T) {
	ms := pmetric.NewMetricSlice()
	m := ms.AppendEmpty()
	m.SetName("h")
	dp := m.SetEmptyHistogram().DataPoints().AppendEmpty()
	dp.ExplicitBounds().FromRaw([]float64{1, 1.8e6})
	dp.BucketCounts().FromRaw([]uint64{1, 2, 3})
	dp.SetCount(6)
	dp.SetSum(10)
	dp.Attributes().PutStr("a", "x")
	got, n := FromOTel([]pmetric.MetricSlice{ms})
	assert.Equal(t, 1, n)
	want := FromExposition(map[string]*dto.MetricFamily{"h": {Metric: []*dto.Metric{{
		Label: []*dto.LabelPair{{Name: proto.String("a"), Value: proto.String("x")}, {Name: proto.String("b"), Value: proto.String("")}},
		Histogram: &dto.Histogram{SampleCount: proto.Uint64(6), SampleSum: proto.Float64(10), Bucket: []*dto.Bucket{
			{UpperBound: proto.Float64(1), CumulativeCount: proto.Uint64(1)},
			{UpperBound: proto.Float64(1.8e6), CumulativeCount: proto.Uint64(3)},
		}},
	}}}})
	assert.Equal(t, want, got)
	assert.Len(t, got, 5)
}
