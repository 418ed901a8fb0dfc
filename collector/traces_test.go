package collector

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
)

func TestParseTracesEndpoint(t *testing.T) {
	tests := []struct {
		in       string
		hostport string
		insecure bool
		wantErr  string
	}{
		{in: "127.0.0.1:4317", hostport: "127.0.0.1:4317", insecure: true},
		{in: "localhost:4317", hostport: "localhost:4317", insecure: true},
		{in: "http://jaeger-collector.observability:4317", hostport: "jaeger-collector.observability:4317", insecure: true},
		{in: "https://otlp.example.com:443/", hostport: "otlp.example.com:443", insecure: false},
		{in: "[::1]:4317", hostport: "[::1]:4317", insecure: true},
		{in: "127.0.0.1", wantErr: `endpoint "127.0.0.1": want host:port`},
		{in: "a:0", wantErr: `port "0" is not a number in 1-65535`},
		{in: "a:99999", wantErr: `port "99999" is not a number in 1-65535`},
		{in: "a:+80", wantErr: `port "+80" is not a number`},
		{in: "bad host:4317", wantErr: `host "bad host" is neither an IP address nor a DNS name`},
		{in: "x\"\ny:1", wantErr: `is neither an IP address nor a DNS name`},
		{in: "-a:1", wantErr: `is neither`},
		{in: "grpc://a:1", wantErr: "want host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			hp, insecure, err := parseTracesEndpoint(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.hostport, hp)
			assert.Equal(t, tt.insecure, insecure)
		})
	}
}

// The fragment merged after the default config turns the receiver's spans
// on and exports them; the result is a valid collector config.
func TestTracesConfigOnTopOfDefault(t *testing.T) {
	frag, err := TracesConfig("127.0.0.1:4317")
	require.NoError(t, err)
	set := Settings()
	set.ConfigProviderSettings.ResolverSettings.URIs = []string{"yaml:" + DefaultConfig, frag}
	res, err := confmap.NewResolver(set.ConfigProviderSettings.ResolverSettings)
	require.NoError(t, err)
	conf, err := res.Resolve(context.Background())
	require.NoError(t, err)
	assert.Equal(t, true, conf.Get("receivers::envoyals::traces::enabled"))
	assert.Equal(t, []any{"otlp_grpc/traces"}, conf.Get("service::pipelines::traces::exporters"))
	assert.Equal(t, []any{"envoyals"}, conf.Get("service::pipelines::traces::receivers"))
	assert.Equal(t, "127.0.0.1:4317", conf.Get("exporters::otlp_grpc/traces::endpoint"))
	assert.Equal(t, true, conf.Get("exporters::otlp_grpc/traces::tls::insecure"))
	assert.Equal(t, false, conf.Get("exporters::otlp_grpc/traces::sending_queue::enabled"),
		"no exporter queue: an export returns when the backend took the spans or the retries failed")
	assert.NotNil(t, conf.Get("extensions::meshlens"), "the default config is kept")
	require.NoError(t, res.Shutdown(context.Background()))

	col, err := otelcol.NewCollector(set)
	require.NoError(t, err)
	require.NoError(t, col.DryRun(context.Background()))

	_, err = TracesConfig("nope")
	require.Error(t, err)
}

// MESHLENS_TRACES_ENDPOINT works like the flag, and --set still applies on
// top of what it adds.
func TestTracesEndpointFromEnv(t *testing.T) {
	t.Setenv(TracesEndpointEnv, "127.0.0.1:4317")
	cmd := NewCommand()
	assert.Equal(t, "127.0.0.1:4317", cmd.Flags().Lookup(tracesFlag).DefValue)
	cmd.SetArgs([]string{"validate", "--set", "receivers::envoyals::traces::sampling_rate=1"})
	require.NoError(t, cmd.Execute())

	// The config URIs are the default config, then the fragment.
	cmd = NewCommand()
	require.NoError(t, cmd.ParseFlags(nil))
	require.NoError(t, cmd.PersistentPreRunE(cmd, nil))
	uris := cmd.Flags().Lookup("config").Value.String()
	assert.Contains(t, uris, "meshlens default configuration")
	assert.Contains(t, uris, "otlp_grpc/traces")
	assert.Less(t, strings.Index(uris, "meshlens default configuration"), strings.Index(uris, "otlp_grpc/traces"))

	t.Setenv(TracesEndpointEnv, "not an endpoint")
	cmd = NewCommand()
	cmd.SetArgs([]string{"validate"})
	cmd.SilenceErrors = true
	err := cmd.Execute()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--traces-endpoint")
}

// FuzzTracesConfig: whatever --traces-endpoint says, the result is an error
// or a fragment that resolves as YAML to exactly the parsed endpoint (no
// value can inject configuration).
func FuzzTracesConfig(f *testing.F) {
	for _, s := range []string{"127.0.0.1:4317", "https://a.b:443", "[::1]:1", "a:1\nexporters: x", "a\":1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		frag, err := TracesConfig(s)
		if err != nil {
			return
		}
		hostport, _, err := parseTracesEndpoint(s)
		if err != nil {
			t.Fatal(err)
		}
		set := Settings()
		set.ConfigProviderSettings.ResolverSettings.URIs = []string{frag}
		res, err := confmap.NewResolver(set.ConfigProviderSettings.ResolverSettings)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := res.Resolve(context.Background())
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if got := conf.Get("exporters::otlp_grpc/traces::endpoint"); got != hostport {
			t.Fatalf("%q: endpoint %v, want %q", s, got, hostport)
		}
		if n := len(conf.AllKeys()); n != 9 {
			t.Fatalf("%q: %d keys: %v", s, n, conf.AllKeys())
		}
		_ = res.Shutdown(context.Background())
	})
}
