package topology_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// replayBookinfo feeds the four captures to a Graph.
func replayBookinfo(t testing.TB) *topology.Graph {
	t.Helper()
	g := newGraph(t, topology.Config{})
	require.NoError(t, meshtest.ReplayBookinfo(captures.Dir(t, meshtest.BookinfoDir...), testNow, g.ObserveBatch))
	return g
}

// TestBookinfoServiceGraph replays the real Bookinfo captures (Istio 1.x,
// no peer metadata, no mTLS): the service graph has the calls of the
// upstream expected topology (gateway → productpage → details, reviews) as
// the reports' own labels name them, which is what Kiali draws from
// Istio's metrics of the same traffic: the server-side reports name no
// caller (unknown), the client-side reports no callee workload. Every
// report counts once, in its reporter's view.
func TestBookinfoServiceGraph(t *testing.T) {
	g := replayBookinfo(t)
	snap, err := g.Snapshot(testNow.Add(time.Second), topology.SnapshotOptions{Granularity: topology.Service})
	require.NoError(t, err)

	name := func(id string) string {
		for _, n := range snap.Nodes {
			if n.ID == id {
				if n.Service != "" {
					return n.Namespace + "/" + n.Service
				}
				return n.Namespace + "/" + n.Workload
			}
		}
		return "?" + id
	}
	var nodes []string
	for _, n := range snap.Nodes {
		nodes = append(nodes, name(n.ID))
	}
	slices.Sort(nodes)
	assert.Equal(t, []string{"default/details", "default/productpage", "default/reviews", "istio-system/istio-ingressgateway", "unknown/unknown"}, nodes)

	calls := map[string]float64{}
	for _, e := range snap.Edges {
		require.Len(t, e.Stats, 2, "1m and 10m")
		for _, st := range e.Stats {
			assert.InDelta(t, 1.0, st.Requests, 1e-9, "%s → %s counted once in %s", name(e.Source), name(e.Target), st.Window)
		}
		calls[name(e.Source)+" → "+name(e.Target)] = e.Stats[0].Requests
		assert.Equal(t, "http", e.Protocol)
	}
	assert.Equal(t, map[string]float64{
		"istio-system/istio-ingressgateway → default/productpage": 1,
		"unknown/unknown → default/productpage":                   1,
		"default/productpage → default/details":                   1,
		"unknown/unknown → default/reviews":                       1,
	}, calls)

	// Each edge holds the view of the one report that named it.
	for _, e := range snap.Edges {
		st := e.Stats[0]
		if name(e.Source) == "unknown/unknown" {
			assert.Nil(t, st.Client, e.ID)
			assert.NotNil(t, st.Server, e.ID)
		} else {
			assert.NotNil(t, st.Client, e.ID)
			assert.Nil(t, st.Server, e.ID)
		}
	}
	checkGolden(t, "bookinfo/service.golden.json", snap)
}

// TestBookinfoWorkloadGraph checks the other granularities of the replay:
// four edges, each counted once, the servers' callers unknown as their
// reports (and Istio's series) leave them.
func TestBookinfoWorkloadGraph(t *testing.T) {
	g := replayBookinfo(t)
	for _, gran := range []topology.Granularity{topology.Workload, topology.App, topology.VersionedApp} {
		t.Run(gran.String(), func(t *testing.T) {
			snap, err := g.Snapshot(testNow.Add(time.Second), topology.SnapshotOptions{Granularity: gran, Windows: []time.Duration{time.Minute}})
			require.NoError(t, err)
			require.Len(t, snap.Edges, 4)
			unknownCallers := 0
			for _, e := range snap.Edges {
				assert.InDelta(t, 1.0, e.Stats[0].Requests, 1e-9, e.ID)
				if e.Source == "unknown_unknown_source" {
					unknownCallers++
				}
			}
			assert.Equal(t, 2, unknownCallers, "productpage's and reviews' reports name no caller")
			checkGolden(t, "bookinfo/"+gran.String()+".golden.json", snap)
		})
	}
}
