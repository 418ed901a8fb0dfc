package alsreceiver

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
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{id: component.NewID(Type), check: func(t *testing.T, c *Config) {
			assert.Equal(t, DefaultEndpoint, c.GRPC.NetAddr.Endpoint)
			assert.Equal(t, DefaultHub, c.Hub)
			assert.Equal(t, 4, c.GRPC.MaxRecvMsgSizeMiB)
		}},
		{id: component.NewIDWithName(Type, "custom"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, "0.0.0.0:4317", c.GRPC.NetAddr.Endpoint)
			assert.Equal(t, component.MustNewIDWithName("meshlens", "edge"), c.Hub)
			assert.Equal(t, 16, c.GRPC.MaxRecvMsgSizeMiB)
			assert.Equal(t, 5000, c.MaxTCPConnections)
			assert.Equal(t, 2*time.Minute, c.TCPConnectionTTL)
			assert.Equal(t, "corp.local", c.Normalizer.ClusterDomain)
			assert.Equal(t, 1000, c.Normalizer.MaxInterned)
		}},
		{id: component.NewIDWithName(Type, "bad_ttl"), wantErr: "tcp_connection_ttl must be positive, got 0s"},
		{id: component.NewIDWithName(Type, "bad_domain"), wantErr: `normalizer: cluster_domain "a|b" is not a DNS domain`},
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
