package collector

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPushDocConfigIsValid validates the configurations docs/push.md gives
// to copy (the own sender; meshlens_metrics → prometheusremotewrite) with
// meshlens's real config validation, and that a typo in each is caught.
func TestPushDocConfigIsValid(t *testing.T) {
	own := docYAML(t, "push.md", "## meshlens's own sender")
	require.Contains(t, own, "remote_write:")
	require.NoError(t, validateConfig(t, own))
	bad := strings.Replace(own, "interval: 15s", "interval: 15ms", 1)
	require.NotEqual(t, own, bad)
	require.ErrorContains(t, validateConfig(t, bad), "remote_write: interval must be at least 1s")

	cfg := docYAML(t, "push.md", "## The stock pipeline")
	require.Contains(t, cfg, "meshlens_metrics")
	require.NoError(t, validateConfig(t, cfg))
	bad = strings.Replace(cfg, "collection_interval: 15s", "collection_interval: 15ms", 1)
	require.NotEqual(t, cfg, bad)
	require.ErrorContains(t, validateConfig(t, bad), "collection_interval must be at least 1s")
}
