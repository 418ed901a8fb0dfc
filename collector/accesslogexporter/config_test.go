package accesslogexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/meshlens/meshlens/accesslog/format"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{id: component.NewID(Type), check: func(t *testing.T, c *Config) {
			assert.Equal(t, DefaultHub, c.Hub)
			assert.Equal(t, FormatIstio, c.Format)
			assert.Equal(t, format.EnvoyOTelAttributes, c.Attributes)
			assert.Equal(t, DefaultMaxStreams, c.MaxStreams)
			assert.Equal(t, DefaultStreamIdleTimeout, c.StreamIdleTimeout)
		}},
		{id: component.NewIDWithName(Type, "json"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, component.MustNewIDWithName("meshlens", "edge"), c.Hub)
			assert.Equal(t, "istio_json", c.Format)
			assert.Equal(t, 500, c.MaxStreams)
			assert.Equal(t, time.Minute, c.StreamIdleTimeout)
		}},
		{id: component.NewIDWithName(Type, "custom"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, FormatEnvoy, c.Format)
			assert.Equal(t, "%RESPONSE_CODE%", c.Attributes["code"])
		}},
		{id: component.NewIDWithName(Type, "bad_format"), wantErr: `format must be one of istio, istio_json, envoy, json; got "apache"`},
		{id: component.NewIDWithName(Type, "bad_format_string"), wantErr: "format_string: invalid access log format: %DURATION% follows %START_TIME% with no text between them"},
		{id: component.NewIDWithName(Type, "no_format_string"), wantErr: "format envoy needs format_string"},
		{id: component.NewIDWithName(Type, "bad_bounds"), wantErr: "max_streams must be positive, got 0\nstream_idle_timeout must be at least 1s, got 10ms"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, cfg.(*Config))
		})
	}
}
