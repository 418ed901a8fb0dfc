package hubextension

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

// TestUnknownKeys: a key that names no setting is an error naming it, at
// every level of the hub's own sections, while every documented key loads.
func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name    string
		conf    map[string]any
		wantErr string
	}{
		{"valid", map[string]any{
			"endpoint": "localhost:0", "metrics_path": "/m", "read_header_timeout": "5s",
			"metrics":      map[string]any{"series_ttl": "5m"},
			"topology":     map[string]any{"max_edges": 10, "global": map[string]any{"timeout": "2s"}},
			"span_metrics": map[string]any{"series_ttl": "1m", "max_series": 5, "max_label_bytes": 1000}, "api_auth": map[string]any{"bearer_token": "x"},
			"envoy_stats": map[string]any{"max_series": 5, "max_label_bytes": 1000},
		}, ""},
		{"top level", map[string]any{"metrcs_path": "/x"}, "unknown key(s) metrcs_path (valid here: "},
		{
			"metrics",
			map[string]any{"metrics": map[string]any{"series_tll": "5m"}},
			"unknown key(s) metrics::series_tll (valid here: duration_buckets, exemplars, max_label_bytes, max_series, native_histograms, overrides, request_size_buckets, response_size_buckets, series_ttl, size_buckets)",
		},
		{
			"envoy_stats",
			map[string]any{"envoy_stats": map[string]any{"max_label_byte": 5}},
			"unknown key(s) envoy_stats::max_label_byte (valid here: counters_as_deltas, max_label_bytes, max_series, name_cache_size, ttl)",
		},
		{
			"span_metrics",
			map[string]any{"span_metrics": map[string]any{"max_label_byte": 5}},
			"unknown key(s) span_metrics::max_label_byte (valid here: max_label_bytes, max_series, series_ttl)",
		},
		{
			"metrics overrides",
			map[string]any{"metrics": map[string]any{"overrides": []any{
				map[string]any{"match": map[string]any{"metric": "REQUEST_COUNT"}},
				map[string]any{"tag_overrides": map[string]any{"response_code": map[string]any{"operaton": "REMOVE"}}},
			}}},
			"unknown key(s) metrics::overrides[1]::tag_overrides::response_code::operaton (valid here: operation, value)",
		},
		{
			"metrics overrides match",
			map[string]any{"metrics": map[string]any{"overrides": []any{map[string]any{"match": map[string]any{"metrc": "REQUEST_COUNT"}}}}},
			"unknown key(s) metrics::overrides[0]::match::metrc (valid here: metric, mode)",
		},
		{"topology", map[string]any{"topology": map[string]any{"max_edgs": 5}}, "unknown key(s) topology::max_edgs"},
		{"removed section", map[string]any{"join": map[string]any{"ttl": "5s"}}, "unknown key(s) join"},
		{
			"nested twice",
			map[string]any{"topology": map[string]any{"global": map[string]any{"timeoutx": "5s"}}},
			"unknown key(s) topology::global::timeoutx",
		},
		{
			"two sections",
			map[string]any{"topology": map[string]any{"max_edgs": 5}, "metrics": map[string]any{"ttl": "5s"}},
			"unknown key(s) metrics::ttl (valid here: duration_buckets, exemplars, max_label_bytes, max_series, native_histograms, overrides, request_size_buckets, response_size_buckets, series_ttl, size_buckets); unknown key(s) topology::max_edgs",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			err := confmap.NewFromStringMap(tt.conf).Unmarshal(cfg)
			if tt.wantErr == "" {
				require.NoError(t, err)
				c := cfg.(*Config)
				assert.Equal(t, "/m", c.MetricsPath)
				assert.Equal(t, 5*time.Minute, c.Metrics.SeriesTTL)
				assert.Equal(t, 5*time.Second, c.HTTP.ReadHeaderTimeout, "the squashed HTTP settings still load")
				assert.Equal(t, 2*time.Second, c.Topology.Global.Timeout)
				assert.Equal(t, SpanMetricsConfig{SeriesTTL: time.Minute, MaxSeries: 5, MaxLabelBytes: 1000}, c.SpanMetrics)
				assert.Equal(t, int64(1000), c.EnvoyStats.MaxLabelBytes)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// TestMetricsPathValidated: every metrics_path the HTTP router would panic
// on, or that would hide another route, is a validation error; the ones
// that pass are served without disturbing the other routes.
func TestMetricsPathValidated(t *testing.T) {
	for path, want := range map[string]string{
		"metrics":       `metrics_path must start with '/', got "metrics"`,
		"/":             `metrics_path "/" collides with the hub's route /`,
		"/healthz":      `metrics_path "/healthz" collides with the hub's route /healthz`,
		"/readyz":       `collides with the hub's route /readyz`,
		"/api/":         `collides with the hub's route /api/`,
		"/api":          `collides with the hub's route /api/`,
		"/api/v1/graph": `collides with the hub's route /api/`,
		"/assets/x":     `collides with the hub's route /assets/`,
		"/a b":          `metrics_path "/a b" may only hold letters, digits and / - . _ ~`,
		"/{x}":          `may only hold letters`,
		"/m%20":         `may only hold letters`,
		"//m":           `metrics_path "//m" is not a clean path`,
		"/m/../x":       `is not a clean path`,
	} {
		t.Run(path, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.MetricsPath = path
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
	for _, path := range []string{"/metrics", "/stats/prometheus", "/metrics/", "/m-1_2.x~y"} {
		t.Run(path, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.MetricsPath = path
			cfg.HTTP.NetAddr.Endpoint = freeAddr(t)
			require.NoError(t, cfg.Validate())
			h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
			require.NoError(t, err)
			require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
			defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
			code, body := get(t, "http://"+cfg.HTTP.NetAddr.Endpoint+path)
			assert.Equal(t, http.StatusOK, code)
			assert.Contains(t, body, "meshlens_hub_records_total")
			code, _ = get(t, "http://"+cfg.HTTP.NetAddr.Endpoint+"/healthz")
			assert.Equal(t, http.StatusOK, code)
		})
	}
}
