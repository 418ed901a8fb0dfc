package envoystats

import (
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/internal/otelconv/oteltest"
)

// TestOTelReaderEqualsCollect: the reader emits, flattened as Prometheus
// remote write flattens it, exactly the samples Collect exposes: the real
// Metrics Service capture (counters, gauges), a histogram, a summary, and
// tag labels padded with "" (left out, as Prometheus does).
func TestOTelReaderEqualsCollect(t *testing.T) {
	l := NewLocked(DefaultConfig())
	r := l.NewOTelReader(t0)
	msg := mustSample(t, "metrics.json")
	l.Observe(nodeA, msg.GetEnvoyMetrics(), t0)
	l.Observe(nodeA, families(withLabels(counterFam("cluster.upstream_rq", 4), "envoy.cluster_name", "x")), t0)
	l.Observe(nodeB, families(withLabels(counterFam("cluster.upstream_rq", 5), "envoy.cluster_name", "y", "custom.tag", "z")), t0)
	l.Observe(nodeA, families(histFam("cluster.upstream_rq_time", 6, 120.5, []float64{1, 10, 1.8e6}, []uint64{1, 4, 5})), t0)
	l.Observe(nodeB, families(fam("server.q", dto.MetricType_SUMMARY, &dto.Metric{Summary: &dto.Summary{
		SampleCount: u64(3), SampleSum: f64(1.5), Quantile: []*dto.Quantile{{Quantile: f64(0.5), Value: f64(0.4)}},
	}})), t0)

	mfs := gather(t, l)
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	want := oteltest.FromExposition(byName)
	emit, got := oteltest.Collect()
	require.NoError(t, r.Read(t0, 20, emit))
	samples, points := oteltest.FromOTel(*got)
	require.Greater(t, points, 40)
	assert.Equal(t, want, samples)
	assert.Greater(t, len(*got), 1, "emitted in batches")
}

func u64(v uint64) *uint64   { return &v }
func f64(v float64) *float64 { return &v }
