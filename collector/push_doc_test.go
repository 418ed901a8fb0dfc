package collector

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPushDocConfigIsValid validates the configuration docs/push.md gives
// to copy (meshlens_metrics → prometheusremotewrite) with meshlens's real
// config validation, and that a typo in it is caught.
func TestPushDocConfigIsValid(t *testing.T) {
	cfg := docYAML(t, "push.md", "")
	require.Contains(t, cfg, "meshlens_metrics")
	require.NoError(t, validateConfig(t, cfg))

	bad := strings.Replace(cfg, "collection_interval: 15s", "collection_interval: 15ms", 1)
	require.NotEqual(t, cfg, bad)
	require.ErrorContains(t, validateConfig(t, bad), "collection_interval must be at least 1s")
}
