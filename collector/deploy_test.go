package collector

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

// kubernetesConfig returns the collector YAML that deploy/kubernetes/
// configmap.yaml gives meshlens in a cluster.
func kubernetesConfig(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "kubernetes", "configmap.yaml"))
	require.NoError(t, err)
	ret, err := confmap.NewRetrievedFromYAML(raw)
	require.NoError(t, err)
	conf, err := ret.AsConf()
	require.NoError(t, err)
	require.Equal(t, "ConfigMap", conf.Get("kind"))
	cfg, ok := conf.Get("data::config.yaml").(string)
	require.True(t, ok, "configmap.yaml: no data key config.yaml")
	return cfg
}

// validateConfig runs `meshlens validate --config <file> [--config <file>...]`,
// one file per config, merged in order as the collector merges them: the
// collector's own resolution (env vars included) and every component's
// Validate.
func validateConfig(t *testing.T, cfgs ...string) error {
	t.Helper()
	args := []string{"validate"}
	for i, cfg := range cfgs {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("config-%d.yaml", i))
		require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
		args = append(args, "--config", path)
	}
	cmd := NewCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	return cmd.Execute()
}

// docYAML returns the first yaml block of docs/<file> after the text
// after ("" for the first of the file).
func docYAML(t *testing.T, file, after string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "docs", file))
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(raw), after)
	require.True(t, ok, "docs/%s has %q", file, after)
	_, rest, ok = strings.Cut(rest, "```yaml\n")
	require.True(t, ok, "docs/%s has a yaml block after %q", file, after)
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	return block
}

// TestKubernetesConfigMapIsValid validates the in-cluster config with
// meshlens's real config validation, as the pod would with the token Secret
// mounted: a misspelt key or a bad value fails here rather than in a
// CrashLoopBackOff.
func TestKubernetesConfigMapIsValid(t *testing.T) {
	cfg := kubernetesConfig(t)
	t.Setenv("MESHLENS_API_TOKEN", "a-token-from-the-secret")
	require.NoError(t, validateConfig(t, cfg))

	// With the optional basic-auth keys of the Secret too.
	t.Setenv("MESHLENS_API_USERNAME", "admin")
	t.Setenv("MESHLENS_API_PASSWORD", "a-password")
	require.NoError(t, validateConfig(t, cfg))
	// Only one of them is a mistake meshlens reports.
	t.Setenv("MESHLENS_API_PASSWORD", "")
	require.ErrorContains(t, validateConfig(t, cfg), "username and password")
	t.Setenv("MESHLENS_API_USERNAME", "")

	// The same checks reject a typo (the test is not vacuous).
	bad := strings.Replace(cfg, "memory_limit_mib:", "memory_limit_mb:", 1)
	require.NotEqual(t, cfg, bad)
	require.Error(t, validateConfig(t, bad))
}

// TestKubernetesConfigMapNeedsToken: the ConfigMap binds the HTTP port to
// all interfaces, so without the token meshlens must refuse to start.
func TestKubernetesConfigMapNeedsToken(t *testing.T) {
	t.Setenv("MESHLENS_API_TOKEN", "")
	err := validateConfig(t, kubernetesConfig(t))
	require.Error(t, err)
	require.Contains(t, err.Error(), "api_auth")
}
