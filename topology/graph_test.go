package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

func newGraph(t testing.TB, cfg topology.Config) *topology.Graph {
	t.Helper()
	g, err := topology.NewGraph(cfg)
	require.NoError(t, err)
	return g
}

func meshGraph(t testing.TB) *topology.Graph {
	t.Helper()
	g := newGraph(t, topology.Config{})
	g.SetStart(testNow.Add(-time.Hour)) // counting for an hour: windows fully covered
	batches, times := meshtest.Records(testNow)
	for i := range batches {
		g.ObserveBatch(batches[i], times[i])
	}
	return g
}

// TestGoldenGraphs checks the synthetic mesh's snapshot at every
// granularity against testdata/mesh/*.golden.json.
func TestGoldenGraphs(t *testing.T) {
	tests := []struct {
		name string
		opts topology.SnapshotOptions
	}{
		{"workload", topology.SnapshotOptions{Granularity: topology.Workload, Windows: []time.Duration{time.Minute}}},
		{"workload-injected", topology.SnapshotOptions{Granularity: topology.Workload, Windows: []time.Duration{time.Minute}, InjectServiceNodes: true}},
		{"app", topology.SnapshotOptions{Granularity: topology.App, Windows: []time.Duration{time.Minute}}},
		{"versioned-app", topology.SnapshotOptions{Granularity: topology.VersionedApp, Windows: []time.Duration{time.Minute}}},
		{"service", topology.SnapshotOptions{Granularity: topology.Service}},
		{"service-bankapp", topology.SnapshotOptions{Granularity: topology.Service, Namespaces: []string{"bankapp"}, Windows: []time.Duration{10 * time.Minute}}},
	}
	g := meshGraph(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := g.Snapshot(testNow, tt.opts)
			require.NoError(t, err)
			checkGolden(t, "mesh/"+tt.name+".golden.json", snap)
		})
	}
}
