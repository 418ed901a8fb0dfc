package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  topology.Config
		want string
	}{
		{"zero is the default", topology.Config{}, ""},
		{"default", topology.DefaultConfig(), ""},
		{"three windows", topology.Config{Windows: []time.Duration{30 * time.Second, 5 * time.Minute, time.Hour}, IdleTTL: time.Hour}, ""},
		{"negative max edges", topology.Config{MaxEdges: -1}, "max_edges must not be negative, got -1"},
		{"negative max nodes", topology.Config{MaxNodes: -2}, "max_nodes must not be negative, got -2"},
		{"one slot", topology.Config{SlotsPerWindow: 1}, "slots_per_window must be between 2 and 60, got 1"},
		{"negative ttl", topology.Config{IdleTTL: -time.Second}, "idle_ttl must not be negative, got -1s"},
		{
			"descending windows",
			topology.Config{Windows: []time.Duration{10 * time.Minute, time.Minute}},
			"windows must be strictly ascending, got [10m0s 1m0s]",
		},
		{
			"slots shorter than a second",
			topology.Config{Windows: []time.Duration{3 * time.Second}},
			"windows: 3s does not split into 6 slots of whole seconds",
		},
		{"too many windows", topology.Config{
			Windows: []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 4 * time.Minute, 5 * time.Minute},
		}, "windows: at most 4 windows, got 5"},
		{
			"ttl shorter than window",
			topology.Config{IdleTTL: time.Minute},
			"idle_ttl (1m0s) must not be shorter than the longest window (10m0s)",
		},
		{"global", topology.Config{Global: topology.GlobalConfig{
			PrometheusURL: "http://prometheus:9090", Timeout: 5 * time.Second, Selector: `job="meshlens"`, BearerToken: "t",
		}}, ""},
		{"global with a path prefix and basic auth", topology.Config{Global: topology.GlobalConfig{
			PrometheusURL: "https://mimir.example.com/prometheus", Username: "u", Password: "p",
		}}, ""},
		{
			"global settings without url",
			topology.Config{Global: topology.GlobalConfig{Selector: `job="x"`}},
			"global: prometheus_url is required when the other global settings are set",
		},
		{
			"global url without scheme",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "prometheus:9090"}},
			`global: prometheus_url "prometheus:9090" must be an http:// or https:// URL with a host`,
		},
		{
			"global url unparsable",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://[::1"}},
			`global: prometheus_url: parse "http://[::1": missing ']' in host`,
		},
		{
			"global url with query",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090/?x=1"}},
			`global: prometheus_url "http://p:9090/?x=1" must not carry a query, a fragment or credentials (use bearer_token or username/password)`,
		},
		{
			"global negative timeout",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090", Timeout: -time.Second}},
			"global: timeout must not be negative, got -1s",
		},
		{
			"global bad selector",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090", Selector: "job=x"}},
			`global: selector "job=x": value of job: expected a quoted value at "x"`,
		},
		{
			"global half basic auth",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090", Username: "u"}},
			"global: username and password must be set together",
		},
		{
			"global two kinds of auth",
			topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090", Username: "u", Password: "p", BearerToken: "t"}},
			"global: set bearer_token or username/password, not both",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				_, err = topology.NewGraph(tt.cfg)
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.want)
			_, err = topology.NewGraph(tt.cfg)
			require.Error(t, err)
		})
	}
}

func TestGlobalDefaults(t *testing.T) {
	g, err := topology.NewGraph(topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://p:9090"}})
	require.NoError(t, err)
	assert.Equal(t, topology.DefaultGlobalTimeout, g.Config().Global.Timeout)
	assert.True(t, g.Config().Global.Enabled())
	g, err = topology.NewGraph(topology.Config{})
	require.NoError(t, err)
	assert.False(t, g.Config().Global.Enabled())
	assert.Zero(t, g.Config().Global.Timeout)
}

func TestParseGranularity(t *testing.T) {
	for _, g := range []topology.Granularity{topology.Workload, topology.App, topology.VersionedApp, topology.Service} {
		got, err := topology.ParseGranularity(g.String())
		require.NoError(t, err)
		assert.Equal(t, g, got)
		b, err := g.MarshalText()
		require.NoError(t, err)
		var back topology.Granularity
		require.NoError(t, back.UnmarshalText(b))
		assert.Equal(t, g, back)
	}
	_, err := topology.ParseGranularity("mesh")
	require.EqualError(t, err, `invalid graphType "mesh": want one of workload, app, versionedApp, service`)
	assert.Equal(t, "invalid", topology.Granularity(9).String())
}
