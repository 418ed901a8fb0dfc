package remotewrite

import (
	"bytes"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/exporters/remotewrite/rwtest"
)

func lp(kv ...string) []*dto.LabelPair {
	var out []*dto.LabelPair
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &dto.LabelPair{Name: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
	return out
}

func bucket(le float64, n uint64) *dto.Bucket {
	return &dto.Bucket{UpperBound: proto.Float64(le), CumulativeCount: proto.Uint64(n)}
}

// TestFamilies: what Families appends, decoded with Prometheus's prompb,
// is exactly what Prometheus's text parser reads from the text exposition
// of the same families (every series, label and value; le and quantile
// written alike), plus the external labels where a series has no label of
// their name.
func TestFamilies(t *testing.T) {
	counter, gauge, untyped := dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED
	summary, histogram, gaugeHist := dto.MetricType_SUMMARY, dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM
	for _, tt := range []struct {
		name     string
		fam      *dto.MetricFamily
		external []Label
		series   int
	}{
		{name: "counter", series: 2, fam: &dto.MetricFamily{Name: proto.String("envoy_cluster_upstream_rq_total"), Type: &counter, Metric: []*dto.Metric{
			{Label: lp("envoy_cluster_name", "reviews", "node_id", "n1"), Counter: &dto.Counter{Value: proto.Float64(42)}},
			{Label: lp("envoy_cluster_name", "ratings", "node_id", "n1"), Counter: &dto.Counter{Value: proto.Float64(1e21)}},
		}}},
		{name: "counter without _total, empty label left out", series: 1, fam: &dto.MetricFamily{Name: proto.String("envoy_server_live"), Type: &counter, Metric: []*dto.Metric{
			{Label: lp("node_id", "n1", "pod", ""), Counter: &dto.Counter{Value: proto.Float64(1)}},
		}}},
		{name: "gauge", series: 2, fam: &dto.MetricFamily{Name: proto.String("envoy_server_memory_allocated"), Type: &gauge, Metric: []*dto.Metric{
			{Label: lp("node_id", "n1"), Gauge: &dto.Gauge{Value: proto.Float64(-0.25)}},
			{Label: lp("node_id", "n2"), Gauge: &dto.Gauge{Value: proto.Float64(math.NaN())}},
		}}},
		{name: "untyped", series: 1, fam: &dto.MetricFamily{Name: proto.String("envoy_x"), Type: &untyped, Metric: []*dto.Metric{
			{Untyped: &dto.Untyped{Value: proto.Float64(7)}},
		}}},
		{name: "summary", series: 5, fam: &dto.MetricFamily{Name: proto.String("envoy_cluster_upstream_rq_time"), Type: &summary, Metric: []*dto.Metric{
			{Label: lp("node_id", "n1", "workload", "reviews-v1"), Summary: &dto.Summary{
				SampleCount: proto.Uint64(10), SampleSum: proto.Float64(123.5),
				Quantile: []*dto.Quantile{
					{Quantile: proto.Float64(0), Value: proto.Float64(1)},
					{Quantile: proto.Float64(0.5), Value: proto.Float64(10.5)},
					{Quantile: proto.Float64(0.999), Value: proto.Float64(99)},
				},
			}},
		}}},
		{name: "histogram, +Inf added", series: 2 * 7, fam: &dto.MetricFamily{Name: proto.String("traces_span_metrics_duration_milliseconds"), Type: &histogram, Metric: []*dto.Metric{
			{Label: lp("service_name", "reviews", "span_name", "x:9080/*", "span_kind", "SPAN_KIND_SERVER", "status_code", "STATUS_CODE_UNSET"), Histogram: &dto.Histogram{
				SampleCount: proto.Uint64(9), SampleSum: proto.Float64(1234.5),
				Bucket: []*dto.Bucket{bucket(2, 1), bucket(0.005, 1), bucket(1, 2), bucket(1.8e6, 9)},
			}},
			{Label: lp("service_name", "ratings", "span_name", "y", "span_kind", "SPAN_KIND_CLIENT", "status_code", "STATUS_CODE_ERROR"), Histogram: &dto.Histogram{
				SampleCount: proto.Uint64(0), SampleSum: proto.Float64(0),
				Bucket: []*dto.Bucket{bucket(2, 0), bucket(0.005, 0), bucket(1, 0), bucket(1.8e6, 0)},
			}},
		}}},
		{name: "histogram with +Inf, float counts", series: 4, fam: &dto.MetricFamily{Name: proto.String("envoy_h"), Type: &histogram, Metric: []*dto.Metric{
			{Histogram: &dto.Histogram{
				SampleCountFloat: proto.Float64(3.5), SampleSum: proto.Float64(2),
				Bucket: []*dto.Bucket{{UpperBound: proto.Float64(0.5), CumulativeCountFloat: proto.Float64(1.5)}, {UpperBound: proto.Float64(math.Inf(1)), CumulativeCountFloat: proto.Float64(3.5)}},
			}},
		}}},
		{name: "gauge histogram", series: 5, fam: &dto.MetricFamily{Name: proto.String("envoy_gh"), Type: &gaugeHist, Metric: []*dto.Metric{
			{Label: lp("a", "b"), Histogram: &dto.Histogram{SampleCount: proto.Uint64(2), SampleSum: proto.Float64(3), Bucket: []*dto.Bucket{bucket(10, 1), bucket(100, 2)}}},
		}}},
		{name: "external labels, the series' own wins", series: 3, external: []Label{{"job", "meshlens"}, {"instance", "pod-0"}, {"cluster", "eu-1"}}, fam: &dto.MetricFamily{Name: proto.String("envoy_c"), Type: &counter, Metric: []*dto.Metric{
			{Label: lp("node_id", "n1"), Counter: &dto.Counter{Value: proto.Float64(1)}},
			{Label: lp("node_id", "n2", "cluster", "own"), Counter: &dto.Counter{Value: proto.Float64(2)}},
			{Label: lp("node_id", "n3", "cluster", ""), Counter: &dto.Counter{Value: proto.Float64(3)}},
		}}},
		{name: "a metric without its type's value is left out", series: 1, fam: &dto.MetricFamily{Name: proto.String("envoy_d"), Type: &counter, Metric: []*dto.Metric{
			{Label: lp("node_id", "n1"), Gauge: &dto.Gauge{Value: proto.Float64(1)}},
			{Label: lp("node_id", "n2"), Counter: &dto.Counter{Value: proto.Float64(2)}},
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var text bytes.Buffer
			valid := &dto.MetricFamily{Name: tt.fam.Name, Type: tt.fam.Type}
			for _, m := range tt.fam.Metric {
				if m.Counter != nil || tt.fam.GetType() != counter {
					valid.Metric = append(valid.Metric, m)
				}
			}
			_, err := expfmt.MetricFamilyToText(&text, valid)
			require.NoError(t, err)
			want, err := rwtest.ParseText(text.Bytes(), nil)
			require.NoError(t, err)
			require.Len(t, want, tt.series, "the exposition:\n%s", text.String())
			if len(tt.external) > 0 {
				want = map[string]float64{
					`envoy_c{cluster="eu-1",instance="pod-0",job="meshlens",node_id="n1",}`: 1,
					`envoy_c{cluster="own",instance="pod-0",job="meshlens",node_id="n2",}`:  2,
					`envoy_c{cluster="eu-1",instance="pod-0",job="meshlens",node_id="n3",}`: 3,
				}
			}

			var bodies [][]byte
			b := &Batch{MaxBytes: 1 << 20, Emit: func(body []byte, _, _ int) error {
				bodies = append(bodies, bytes.Clone(body))
				return nil
			}}
			w := &Families{External: tt.external}
			require.NoError(t, w.Append(tt.fam, 1_700_000_000_000, b))
			require.NoError(t, b.Flush())
			d, err := rwtest.Decode(bodies...)
			require.NoError(t, err)
			assert.Empty(t, d.Problems)
			assertSamplesEqual(t, want, d.Samples)
			s, _, _ := b.Totals()
			assert.Equal(t, tt.series, s, "samples counted")
		})
	}
}

// assertSamplesEqual compares samples, NaN equal to NaN.
func assertSamplesEqual(t *testing.T, want, got map[string]float64) {
	t.Helper()
	nan := func(m map[string]float64) map[string]float64 {
		out := make(map[string]float64, len(m))
		for k, v := range m {
			if math.IsNaN(v) {
				v = -12345.678 // a value none of the cases has
			}
			out[k] = v
		}
		return out
	}
	assert.Equal(t, nan(want), nan(got))
}

// TestFamiliesRequests: requests are cut after the metric that filled
// them, and reusing a Families allocates nothing.
func TestFamiliesRequests(t *testing.T) {
	histogram := dto.MetricType_HISTOGRAM
	fam := &dto.MetricFamily{Name: proto.String("traces_span_metrics_duration_milliseconds"), Type: &histogram}
	for i := range 1000 {
		fam.Metric = append(fam.Metric, &dto.Metric{
			Label:     lp("service_name", "svc", "span_name", string(rune('a'+i%26))+string(rune('a'+i/26))),
			Histogram: &dto.Histogram{SampleCount: proto.Uint64(uint64(i)), SampleSum: proto.Float64(1), Bucket: []*dto.Bucket{bucket(2, 0), bucket(4, 1)}},
		})
	}
	var sizes []int
	b := &Batch{MaxBytes: 16 << 10, Emit: func(body []byte, _, _ int) error {
		sizes = append(sizes, len(body))
		return nil
	}}
	w := &Families{External: []Label{{"job", "meshlens"}}}
	require.NoError(t, w.Append(fam, 1, b))
	require.NoError(t, b.Flush())
	assert.Greater(t, len(sizes), 10)
	for _, s := range sizes {
		assert.Less(t, s, 16<<10+1000, "a request passes MaxBytes by one metric at most")
	}
	allocs := testing.AllocsPerRun(5, func() {
		_ = w.Append(fam, 2, b)
		_ = b.Flush()
	})
	assert.Zero(t, allocs)
}
