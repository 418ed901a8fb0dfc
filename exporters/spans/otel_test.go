package spans

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/internal/otelconv/oteltest"
)

// TestOTelReaderEqualsCollect: the reader emits, flattened as Prometheus
// remote write flattens it, exactly the span-metrics samples Collect
// exposes (calls and every duration bucket).
func TestOTelReaderEqualsCollect(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewLocked(MetricsConfig{TTL: time.Minute}, func() time.Time { return now })
	r := s.NewOTelReader(now.Add(-time.Second))
	s.ConsumeRecords(bookinfoRecords(t), nil, now)

	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		if mf.GetName() == spmCallsName || mf.GetName() == spmDurationName {
			byName[mf.GetName()] = mf
		}
	}
	want := oteltest.FromExposition(byName)
	emit, got := oteltest.Collect()
	require.NoError(t, r.Read(now, 10, emit))
	samples, points := oteltest.FromOTel(*got)
	require.Greater(t, points, 10)
	assert.Equal(t, want, samples)
}
