package envoystats

import (
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/internal/captures"
)

var t0 = time.Date(2019, 3, 5, 10, 27, 38, 343e6, time.UTC) // identify.json's timestampMs

// TestSkywalkingStream replays one real stream: identify.v3.json (message 1,
// with the identifier) then metrics.json (message 2, 5 s later, no
// identifier). The identity of message 1 applies to message 2, counters stay
// Envoy's cumulative values, and the SUMMARY is exposed.
func TestSkywalkingStream(t *testing.T) {
	first := mustSample(t, "identify.v3.json")
	second := mustSample(t, "metrics.json")
	require.Nil(t, second.GetIdentifier())

	s := New(DefaultConfig())
	node := identityOf(first.GetIdentifier().GetNode())
	assert.Equal(t, NodeIdentity{ID: "ingress", Cluster: "envoy-proxy"}, node)

	acc, rej := s.Observe(node, first.GetEnvoyMetrics(), t0)
	assert.Equal(t, 31, acc)
	assert.Zero(t, rej)
	mfs := gather(t, s)
	updateAttempt := find(t, mfs, "envoy_cluster_update_attempt", L{"envoy_cluster_name": "service_stats", "node_id": "ingress"})
	assert.InDelta(t, 1.0, updateAttempt.GetCounter().GetValue(), 0)

	acc, rej = s.Observe(node, second.GetEnvoyMetrics(), t0.Add(5001*time.Millisecond))
	assert.Equal(t, 45, acc)
	assert.Zero(t, rej)

	mfs = gather(t, s)
	updateAttempt = find(t, mfs, "envoy_cluster_update_attempt", L{"envoy_cluster_name": "service_stats"})
	assert.InDelta(t, 2.0, updateAttempt.GetCounter().GetValue(), 0, "cumulative, not summed")
	assert.Equal(t, "envoy_cluster_name,namespace,node_cluster,node_id,pod,workload", labelNames(updateAttempt))
	for _, lp := range updateAttempt.Label {
		switch lp.GetName() {
		case LabelNodeID:
			assert.Equal(t, "ingress", lp.GetValue())
		case LabelNodeCluster:
			assert.Equal(t, "envoy-proxy", lp.GetValue())
		}
	}
	assert.InDelta(t, 1.0, find(t, mfs, "envoy_http_rq_total", L{"envoy_http_conn_manager_prefix": "async-client"}).GetCounter().GetValue(), 0)

	connect := find(t, mfs, "envoy_cluster_upstream_cx_connect_ms", L{"envoy_cluster_name": "service_stats"})
	require.NotNil(t, connect.GetSummary())
	assert.Len(t, connect.GetSummary().GetQuantile(), 10)
	assert.Zero(t, connect.GetSummary().GetSampleCount(), "the 2019 capture has quantiles only")

	st := s.Stats()
	assert.Equal(t, uint64(76), st.Accepted)
	assert.Zero(t, st.CounterResets)

	golden(t, "skywalking-stream.prom", render(t, s))
}

// TestSamplesParse decodes every capture in the samples folder: the strict
// ones must decode and be accepted in full; the non-strict original
// envoy-metric.msg files must fail with a clear parser error, not a panic.
func TestSamplesParse(t *testing.T) {
	want := map[string]struct {
		families int
		err      string
	}{
		"identify.json":    {families: 31}, // v2 JSON: buildVersion discarded
		"identify.v3.json": {families: 31},
		"metrics.json":     {families: 45},
		"captured-envoy-1.11.1-v2-StreamMetricsMessage.txtpb":       {families: 1}, // v2: prototext skips the reserved build_version
		"captured-envoy-1.19-v3-StreamMetricsMessage.partial.txtpb": {families: 1},
		"envoy-metric.canonical.txtpb":                              {families: 5},
		"envoy-metric.msg":                                          {err: `map entry "key" cannot be repeated`},
		"v2-original/envoy-metric.v2.msg":                           {err: `map entry "key" cannot be repeated`},
	}
	samplesDir := captures.Dir(t, "metrics", "skywalking")
	seen := map[string]bool{}
	err := filepath.WalkDir(samplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(samplesDir, path)
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		t.Run(rel, func(t *testing.T) {
			w, ok := want[rel]
			require.True(t, ok, "new sample %s: add it to this table", rel)
			msg, err := parseSample(path)
			if w.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), w.err)
				assert.Contains(t, err.Error(), rel)
				return
			}
			require.NoError(t, err)
			require.Len(t, msg.GetEnvoyMetrics(), w.families)

			node := identityOf(msg.GetIdentifier().GetNode())
			if node.ID == "" {
				node.ID = "ingress" // metrics.json: a later message of the identify stream
			}
			s := New(DefaultConfig())
			acc, rej := s.Observe(node, msg.GetEnvoyMetrics(), t0)
			assert.Positive(t, acc)
			assert.Zero(t, rej)
			assert.Equal(t, w.families, s.Stats().Series, "one series per Envoy family")
			assert.NotEmpty(t, gather(t, s))
		})
		return nil
	})
	require.NoError(t, err)
	for name := range want {
		assert.True(t, seen[name], "sample %s missing", name)
	}
}
