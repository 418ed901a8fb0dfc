package collector

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/meshlens/meshlens/accesslog/format"
)

// TestOTelAccessLogDocConfigIsValid: the collector config docs/ingest.md
// gives for OpenTelemetry access logs runs (meshlens validate, on top of
// the default config).
func TestOTelAccessLogDocConfigIsValid(t *testing.T) {
	frag := docYAML(t, "ingest.md", "## OpenTelemetry access logs")
	require.Contains(t, frag, "meshlens_accesslogs")
	// The fragment is merged over the default config, as a second --config
	// would be: its logs pipeline joins the default ones.
	cfg := func(frag string) error { return validateConfig(t, DefaultConfig, frag) }
	require.NoError(t, cfg(frag))
	bad := strings.Replace(frag, "    hub: meshlens\n", "    hub: meshlens\n    format: apache\n", 1)
	require.NotEqual(t, frag, bad)
	require.ErrorContains(t, cfg(bad), `format must be one of`)
}

// TestFileAccessLogDocConfigIsValid: the collector config docs/ingest.md
// gives for a file on meshlens's own machine runs (the filelog receiver
// into the exporter, with an Envoy format string).
func TestFileAccessLogDocConfigIsValid(t *testing.T) {
	frag := docYAML(t, "ingest.md", "## Envoy file access logs")
	require.Contains(t, frag, "filelog/envoy")
	require.NoError(t, validateConfig(t, DefaultConfig, frag))
	bad := strings.Replace(frag, "%RESPONSE_CODE% %RESPONSE_FLAGS%", "%RESPONSE_CODE%%RESPONSE_FLAGS%", 1)
	require.NotEqual(t, frag, bad)
	require.ErrorContains(t, validateConfig(t, DefaultConfig, bad), "format_string")
}

// TestDeployOTelAttributes: the attributes deploy/ configures Istio and
// Envoy to send are those the exporter reads by default.
func TestDeployOTelAttributes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "istio", "otel-accesslogs.yaml"))
	require.NoError(t, err)
	doc, _, _ := strings.Cut(string(raw), "\n---\n")
	var op struct {
		Spec struct {
			MeshConfig struct {
				ExtensionProviders []struct {
					Name         string `json:"name"`
					EnvoyOtelAls struct {
						LogFormat struct {
							Labels map[string]string `json:"labels"`
						} `json:"logFormat"`
					} `json:"envoyOtelAls"`
				} `json:"extensionProviders"`
			} `json:"meshConfig"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &op))
	require.Len(t, op.Spec.MeshConfig.ExtensionProviders, 1)
	labels := op.Spec.MeshConfig.ExtensionProviders[0].EnvoyOtelAls.LogFormat.Labels
	assert.True(t, maps.Equal(format.EnvoyOTelAttributes, labels), "deploy/istio/otel-accesslogs.yaml labels differ from format.EnvoyOTelAttributes")
}
