package hubextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/topology"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id       component.ID
		endpoint string
		path     string
		global   topology.GlobalConfig
		metrics  *istiometrics.Config
		envoy    *envoystats.Config
		spm      *SpanMetricsConfig
		wantErr  string
		// unmarshalErr: the YAML does not decode (an unknown key).
		unmarshalErr string
	}{
		{id: component.NewID(Type), endpoint: DefaultEndpoint, path: "/metrics"},
		{id: component.NewIDWithName(Type, "custom"), endpoint: "0.0.0.0:8080", path: "/stats/prometheus"},
		{id: component.NewIDWithName(Type, "bad_path"), wantErr: `metrics_path must start with '/', got "metrics"`},
		{id: component.NewIDWithName(Type, "public_no_auth"), wantErr: `endpoint "0.0.0.0:9102" is not a loopback address: set api_auth.bearer_token or api_auth.username/password`},
		{id: component.NewIDWithName(Type, "public_token"), endpoint: "0.0.0.0:9102", path: "/metrics"},
		{id: component.NewIDWithName(Type, "half_basic"), wantErr: "api_auth: username and password must be set together"},
		{id: component.NewIDWithName(Type, "global"), endpoint: DefaultEndpoint, path: "/metrics", global: topology.GlobalConfig{
			PrometheusURL: "http://prometheus.monitoring:9090", Timeout: 5 * time.Second, Selector: `job="meshlens"`, BearerToken: "t0ken",
		}},
		{id: component.NewIDWithName(Type, "bad_global"), wantErr: `topology: global: prometheus_url "prometheus:9090" must be an http:// or https:// URL with a host`},
		{id: component.NewIDWithName(Type, "label_bytes"), endpoint: DefaultEndpoint, path: "/metrics", metrics: func() *istiometrics.Config {
			c := istiometrics.DefaultConfig()
			c.MaxSeries, c.MaxLabelBytes = 5000, 4<<20
			return &c
		}()},
		{id: component.NewIDWithName(Type, "bad_label_bytes"), wantErr: "metrics: max_label_bytes must be positive, got -1"},
		{
			id: component.NewIDWithName(Type, "budgets"), endpoint: DefaultEndpoint, path: "/metrics",
			envoy: func() *envoystats.Config {
				c := envoystats.DefaultConfig()
				c.MaxSeries, c.MaxLabelBytes = 20_000, 8<<20
				return &c
			}(),
			spm: &SpanMetricsConfig{MaxSeries: 5000, MaxLabelBytes: 1 << 20},
		},
		{id: component.NewIDWithName(Type, "bad_envoy_label_bytes"), wantErr: "envoy_stats: invalid envoystats config: max_label_bytes must be positive, got 0"},
		{id: component.NewIDWithName(Type, "bad_span_series"), wantErr: "span_metrics: max_series must be positive, got 0"},
		{id: component.NewIDWithName(Type, "bad_span_label_bytes"), wantErr: "span_metrics: max_label_bytes must be positive, got -1"},
		{id: component.NewIDWithName(Type, "overrides"), endpoint: DefaultEndpoint, path: "/metrics", metrics: func() *istiometrics.Config {
			c := istiometrics.DefaultConfig()
			c.RequestSizeBuckets = []float64{100, 1000, 10000}
			on := true
			c.Overrides = []istiometrics.Override{
				{Match: istiometrics.MetricSelector{Metric: "REQUEST_SIZE"}, Disabled: &on},
				{Match: istiometrics.MetricSelector{Metric: "ALL_METRICS", Mode: "CLIENT"}, TagOverrides: map[string]istiometrics.TagOverride{
					"source_principal": {Operation: "REMOVE"}, "destination_principal": {Operation: "REMOVE"},
				}},
				{TagOverrides: map[string]istiometrics.TagOverride{"response_flags": {Operation: "REMOVE"}}},
			}
			return &c
		}()},
		{id: component.NewIDWithName(Type, "bad_override_metric"), wantErr: `metrics: overrides[0]::match::metric "REQUEST_COUNTS" is not an Istio metric: one of ALL_METRICS, REQUEST_COUNT, `},
		{id: component.NewIDWithName(Type, "bad_override_upsert"), wantErr: "metrics: overrides[0]::tag_overrides::request_host: not an Istio standard label (custom labels need UPSERT, which is not supported)"},
		{id: component.NewIDWithName(Type, "bad_override_upsert_std"), wantErr: "metrics: overrides[0]::tag_overrides::destination_cluster: operation UPSERT (Istio's default) is not supported: its value is a CEL expression"},
		{id: component.NewIDWithName(Type, "bad_override_mixed"), wantErr: "metrics: overrides: REQUEST_COUNT and REQUEST_DURATION remove different labels for CLIENT ([response_code] vs [])"},
		{id: component.NewIDWithName(Type, "bad_override_key"), unmarshalErr: "unknown key(s) metrics::overrides[0]::disable (valid here: disabled, match, tag_overrides)"},
		{id: component.NewIDWithName(Type, "bad_size_buckets"), wantErr: "metrics: response_size_buckets must be strictly increasing, got [10 5]"},
		{id: component.NewIDWithName(Type, "native"), endpoint: DefaultEndpoint, path: "/metrics", metrics: func() *istiometrics.Config {
			c := istiometrics.DefaultConfig()
			c.NativeHistograms.Enabled, c.NativeHistograms.Schema = true, 2 // max_buckets: the default
			return &c
		}()},
		{id: component.NewIDWithName(Type, "bad_native_schema"), wantErr: "metrics: native_histograms::schema must be between -4 and 8, got 10"},
		{id: component.NewIDWithName(Type, "bad_native_key"), unmarshalErr: "unknown key(s) metrics::native_histograms::enable (valid here: enabled, max_buckets, schema)"},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if tt.unmarshalErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.unmarshalErr)
				return
			}
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			c := cfg.(*Config)
			assert.Equal(t, tt.endpoint, c.HTTP.NetAddr.Endpoint)
			assert.Equal(t, tt.path, c.MetricsPath)
			assert.Equal(t, tt.global, c.Topology.Global)
			if tt.metrics != nil {
				assert.Equal(t, *tt.metrics, c.Metrics)
			} else {
				assert.Equal(t, istiometrics.DefaultConfig(), c.Metrics, "max_label_bytes defaults to 64 MiB")
			}
			if tt.envoy != nil {
				assert.Equal(t, *tt.envoy, c.EnvoyStats)
			} else {
				assert.Equal(t, envoystats.DefaultConfig(), c.EnvoyStats, "envoy_stats::max_label_bytes defaults to 64 MiB")
			}
			if tt.spm != nil {
				assert.Equal(t, *tt.spm, c.SpanMetrics)
			} else {
				assert.Equal(t, SpanMetricsConfig{MaxSeries: 10_000, MaxLabelBytes: 2 << 20}, c.SpanMetrics, "span_metrics' budgets default to 10,000 series and 2 MiB")
			}
		})
	}
}
