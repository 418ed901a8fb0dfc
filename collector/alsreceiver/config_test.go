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
			assert.Equal(t, uint32(100), c.GRPC.MaxConcurrentStreams)
			assert.Equal(t, 10*time.Second, c.MessageTimeout)
			assert.Equal(t, 5*time.Minute, c.StreamIdleTimeout)
			assert.Equal(t, int64(DefaultReceiveBudgetMiB)<<20, c.receiveBudget())
			assert.False(t, c.BindSPIFFEIdentity)
			assert.False(t, c.EventLoop.Enabled)
			assert.Equal(t, DefaultEventLoopTick, c.EventLoop.Tick)
		}},
		{id: component.NewIDWithName(Type, "guard"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, uint32(20), c.GRPC.MaxConcurrentStreams)
			assert.Equal(t, int64(32)<<20, c.receiveBudget())
			assert.Equal(t, 5*time.Second, c.MessageTimeout)
			assert.Equal(t, time.Minute, c.StreamIdleTimeout)
		}},
		{id: component.NewIDWithName(Type, "bad_guard"), wantErr: "receive_budget_mib (2) must be at least max_recv_msg_size_mib (4), or no message that large could be received\n" +
			"message_timeout must be positive, got 0s\nstream_idle_timeout must be positive, got -1s"},
		{id: component.NewIDWithName(Type, "huge_budget"), wantErr: "receive_budget_mib must be between 0 and 1048576, got 9007199254740991"},
		{id: component.NewIDWithName(Type, "bad_spiffe"), wantErr: "bind_spiffe_identity needs mutual TLS: set tls::client_ca_file"},
		{id: component.NewIDWithName(Type, "custom"), check: func(t *testing.T, c *Config) {
			assert.Equal(t, "0.0.0.0:4317", c.GRPC.NetAddr.Endpoint)
			assert.Equal(t, component.MustNewIDWithName("meshlens", "edge"), c.Hub)
			assert.Equal(t, 16, c.GRPC.MaxRecvMsgSizeMiB)
			assert.Equal(t, 5000, c.MaxTCPConnections)
			assert.Equal(t, 2*time.Minute, c.TCPConnectionTTL)
			assert.Equal(t, "corp.local", c.Normalizer.ClusterDomain)
			assert.Equal(t, 1000, c.Normalizer.MaxInterned)
		}},
		{id: component.NewIDWithName(Type, "event_loop"), check: func(t *testing.T, c *Config) {
			assert.True(t, c.EventLoop.Enabled)
			assert.Equal(t, 4, c.EventLoop.Loops)
			assert.Equal(t, 50*time.Millisecond, c.EventLoop.Tick)
		}},
		{id: component.NewIDWithName(Type, "bad_event_loop"), wantErr: "event_loop serves plaintext only: remove tls, or turn event_loop off\n" +
			"event_loop::loops must be between 0 and 1024, got -1\nevent_loop::tick must be between 0 and 1s, got 2s"},
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

// TestReceiveBudget: the budget follows memory_limit_mib unless set, and
// never falls below the largest message.
func TestReceiveBudget(t *testing.T) {
	tests := []struct {
		name                    string
		budget, memory, maxRecv int
		want                    int64
	}{
		{"default", 0, 0, 4, DefaultReceiveBudgetMiB << 20},
		{"a quarter of the memory limit", 0, 256, 4, 64 << 20},
		{"at least the largest message", 0, 8, 4, 4 << 20},
		{"set", 100, 256, 4, 100 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := createDefaultConfig().(*Config)
			c.ReceiveBudgetMiB, c.MemoryLimitMiB, c.GRPC.MaxRecvMsgSizeMiB = tt.budget, tt.memory, tt.maxRecv
			require.NoError(t, c.Validate())
			assert.Equal(t, tt.want, c.receiveBudget())
		})
	}
}
