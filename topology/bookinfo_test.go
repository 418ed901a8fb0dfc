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

// replayBookinfo feeds the four captures through a Joiner (as the hub does)
// and a Graph.
func replayBookinfo(t testing.TB) *topology.Graph {
	t.Helper()
	g := newGraph(t, topology.Config{})
	j, err := meshtest.ReplayBookinfo(captures.Dir(t, meshtest.BookinfoDir...), testNow, g.ObserveBatch)
	require.NoError(t, err)
	require.Equal(t, uint64(1), j.Joined, "the gateway's and productpage's reports of one hop join")
	return g
}

// TestBookinfoServiceGraph replays the real Bookinfo captures: the service
// graph has exactly the nodes and calls of the upstream expected topology
// (gateway → productpage → details, reviews), each hop counted once though
// the gateway hop was reported by both proxies.
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
	assert.Equal(t, []string{"default/details", "default/productpage", "default/reviews", "istio-system/istio-ingressgateway"}, nodes)

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
		"default/productpage → default/details":                   1,
		"default/productpage → default/reviews":                   1,
	}, calls)

	// The gateway hop was seen from both sides: both views are kept.
	for _, e := range snap.Edges {
		st := e.Stats[0]
		switch name(e.Target) {
		case "default/productpage":
			require.NotNil(t, st.Client)
			require.NotNil(t, st.Server)
			assert.InDelta(t, 1.0, st.Client.Requests, 1e-9)
			assert.InDelta(t, 1.0, st.Server.Requests, 1e-9)
			require.NotNil(t, st.LatencyOverhead)
		case "default/details":
			assert.NotNil(t, st.Client)
			assert.Nil(t, st.Server, "details' sidecar report is not in the captures")
		case "default/reviews":
			assert.Nil(t, st.Client)
			assert.NotNil(t, st.Server)
		}
	}
	checkGolden(t, "bookinfo/service.golden.json", snap)
}

// TestBookinfoWorkloadGraph checks the other granularities of the replay:
// the gateway's client-side report, which could not name productpage's
// workload, is folded into the hop productpage's server side reported, and
// reviews' anonymous caller is named from productpage's pod address.
func TestBookinfoWorkloadGraph(t *testing.T) {
	g := replayBookinfo(t)
	assert.Equal(t, uint64(1), g.Stats().ResolvedByAddress)
	for _, gran := range []topology.Granularity{topology.Workload, topology.App, topology.VersionedApp} {
		t.Run(gran.String(), func(t *testing.T) {
			snap, err := g.Snapshot(testNow.Add(time.Second), topology.SnapshotOptions{Granularity: gran, Windows: []time.Duration{time.Minute}})
			require.NoError(t, err)
			require.Len(t, snap.Edges, 3)
			for _, e := range snap.Edges {
				assert.InDelta(t, 1.0, e.Stats[0].Requests, 1e-9, e.ID)
				assert.NotContains(t, e.Source, "unknown_source", "every caller is named")
			}
			checkGolden(t, "bookinfo/"+gran.String()+".golden.json", snap)
		})
	}
}
