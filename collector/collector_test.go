package collector

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/otelcol"
	"go.uber.org/goleak"
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
	for _, typ := range []string{"envoyals", "otlp"} {
		assert.Contains(t, f.Receivers, component.MustNewType(typ), "receiver %s", typ)
	}
	assert.Contains(t, f.Extensions, component.MustNewType("meshlens"))
	for _, typ := range []string{"batch", "memory_limiter"} {
		assert.Contains(t, f.Processors, component.MustNewType(typ), "processor %s", typ)
	}
	for _, typ := range []string{"otlp", "debug", "nop"} {
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
// embedded default config instead of replacing it.
func TestSetAppliesOnTopOfDefault(t *testing.T) {
	cmd := NewCommand()
	cmd.SetArgs([]string{"validate", "--set", "receivers::envoyals::max_streams=7"})
	require.NoError(t, cmd.Execute())
}
