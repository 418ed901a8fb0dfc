package metricsreceiver

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(Type), want: &Config{
			Hub: DefaultHub, CollectionInterval: 15 * time.Second,
			Sources: []string{"istio", "envoy", "span_metrics"}, MaxBatchPoints: 8192,
		}},
		{id: component.NewIDWithName(Type, "custom"), want: &Config{
			Hub: component.MustNewIDWithName("meshlens", "edge"), CollectionInterval: 30 * time.Second,
			Sources: []string{"istio", "span_metrics"}, MaxBatchPoints: 1000,
		}},
		{id: component.NewIDWithName(Type, "bad_interval"), wantErr: "collection_interval must be at least 1s, got 500ms"},
		{id: component.NewIDWithName(Type, "bad_sources"), wantErr: `sources: unknown source "kiali", want one of [istio envoy span_metrics]` + "\n" +
			`sources: "istio" listed twice`},
		{id: component.NewIDWithName(Type, "no_sources"), wantErr: "max_batch_points must be positive, got 0\n" +
			"sources must name at least one of [istio envoy span_metrics]"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
