package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/collector/alsreceiver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The collector's telemetry SDK and the OpenCensus bridge start
		// process-wide goroutines on first use.
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

func TestComponents(t *testing.T) {
	f, err := Components()
	require.NoError(t, err)
	for _, typ := range []string{"envoyals", "meshlens_metrics", "otlp"} {
		assert.Contains(t, f.Receivers, component.MustNewType(typ), "receiver %s", typ)
	}
	assert.Contains(t, f.Extensions, component.MustNewType("meshlens"))
	for _, typ := range []string{"batch", "memory_limiter"} {
		assert.Contains(t, f.Processors, component.MustNewType(typ), "processor %s", typ)
	}
	for _, typ := range []string{"otlp", "otlphttp", "prometheus_remote_write", "prometheusremotewrite", "debug", "nop"} {
		assert.Contains(t, f.Exporters, component.MustNewType(typ), "exporter %s", typ)
	}
	assert.NotNil(t, f.Telemetry)
}

// TestDefaultConfigIsValid resolves and validates the embedded default
// config the way `meshlens` does with no --config.
func TestDefaultConfigIsValid(t *testing.T) {
	col, err := otelcol.NewCollector(Settings())
	require.NoError(t, err)
	require.NoError(t, col.DryRun(context.Background()))
}

func TestCommandFlags(t *testing.T) {
	cmd := NewCommand()
	for _, name := range []string{"config", "set", "demo", "demo-rate", "demo-endpoint"} {
		assert.NotNil(t, cmd.Flags().Lookup(name), "flag --%s", name)
	}
	var sub []string
	for _, c := range cmd.Commands() {
		sub = append(sub, c.Name())
	}
	assert.Contains(t, sub, "loadgen")
	assert.Contains(t, sub, "validate")
}

// TestSetAppliesOnTopOfDefault checks that --set without --config edits the
// embedded default config instead of replacing it: validate accepts it, and
// the config the command resolves is the default one with max_streams 7
// and nothing else changed. The resolved config is read back through the
// command's print-config, which resolves --config and --set (and our
// PersistentPreRunE) exactly as validate and run do.
func TestSetAppliesOnTopOfDefault(t *testing.T) {
	for _, env := range []string{"MESHLENS_GRPC_ENDPOINT", "MESHLENS_HTTP_ENDPOINT", TracesEndpointEnv} {
		unsetEnv(t, env) // the default config's own defaults apply
	}
	cmd := NewCommand()
	cmd.SetArgs([]string{"validate", "--set", "receivers::envoyals::max_streams=7"})
	require.NoError(t, cmd.Execute())

	def := printConfig(t)
	got := printConfig(t, "--set", "receivers::envoyals::max_streams=7")

	rcv := alsreceiver.NewFactory().CreateDefaultConfig().(*alsreceiver.Config)
	sub, err := got.Sub("receivers::envoyals")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(rcv))
	assert.Equal(t, 7, rcv.MaxStreams, "--set applied")
	assert.Equal(t, "localhost:9001", rcv.GRPC.NetAddr.Endpoint, "the default config's receiver endpoint")
	assert.Equal(t, component.MustNewID("meshlens"), rcv.Hub)

	defRcv := alsreceiver.NewFactory().CreateDefaultConfig().(*alsreceiver.Config)
	sub, err = def.Sub("receivers::envoyals")
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(defRcv))
	assert.Equal(t, 10_000, defRcv.MaxStreams, "the default before --set")

	assert.Equal(t, "localhost:9102", got.Get("extensions::meshlens::endpoint"), "the hub extension of the default config")
	assert.Equal(t, []any{"meshlens"}, got.Get("service::extensions"))
	assert.Equal(t, []any{"envoyals"}, got.Get("service::pipelines::traces::receivers"))
	assert.Equal(t, []any{"nop"}, got.Get("service::pipelines::traces::exporters"))

	// Everything but max_streams is the default config as resolved without
	// --set.
	want := def.ToStringMap()
	envoyals := want["receivers"].(map[string]any)["envoyals"].(map[string]any)
	require.Contains(t, envoyals, "max_streams")
	envoyals["max_streams"] = float64(7)
	assert.Equal(t, want, got.ToStringMap())
}

// printConfig runs `meshlens print-config --format json args...` and returns
// the config it prints.
func printConfig(t *testing.T, args ...string) *confmap.Conf {
	t.Helper()
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(append([]string{"print-config", "--format", "json"}, args...))
	require.NoError(t, cmd.Execute())
	var m map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &m), out.String())
	return confmap.NewFromStringMap(m)
}

// unsetEnv unsets an environment variable for the test.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value at the end of the test
	require.NoError(t, os.Unsetenv(name))
}

// TestValidateRejectsWhatWouldFailAtStart: meshlens validate catches a typo
// in the hub's sections and a metrics_path the HTTP router would panic on.
func TestValidateRejectsWhatWouldFailAtStart(t *testing.T) {
	for set, want := range map[string]string{
		"extensions::meshlens::metrcs_path=/x":         "unknown key(s) metrcs_path",
		"extensions::meshlens::metrics::series_tll=5m": "unknown key(s) metrics::series_tll",
		"extensions::meshlens::topology::max_edgs=5":   "unknown key(s) topology::max_edgs",
		"extensions::meshlens::join::ttl=5s":           "unknown key(s) join",
		"extensions::meshlens::metrics_path=/healthz":  `metrics_path "/healthz" collides with the hub's route /healthz`,
		"extensions::meshlens::metrics_path=/":         `metrics_path "/" collides`,
		"extensions::meshlens::metrics_path=/api/":     `metrics_path "/api/" collides`,
		"extensions::meshlens::metrics_path=/a b":      `metrics_path "/a b" may only hold`,
	} {
		t.Run(set, func(t *testing.T) {
			cmd := NewCommand()
			cmd.SetArgs([]string{"validate", "--set", set})
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}
