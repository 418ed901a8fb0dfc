package topology_test

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// stepped computes a snapshot with a cursor, step edges at a time, calling
// between (if not nil) after every step.
func stepped(t *testing.T, g *topology.Graph, now time.Time, o topology.SnapshotOptions, step int, between func()) *topology.Snapshot {
	t.Helper()
	c, err := g.NewSnapshotCursor(now, o)
	require.NoError(t, err)
	for !g.SnapshotStep(c, step) {
		if between != nil {
			between()
		}
	}
	return c.Snapshot()
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestSnapshotCursorSteps checks that a snapshot read in steps of any size
// from a graph that does not change is Graph.Snapshot's, number for number.
func TestSnapshotCursorSteps(t *testing.T) {
	mesh := meshGraph(t)
	// 500 edges, one in three expired (free slots), then the first 40 edges
	// again, some into those slots, so that storage and expiry orders
	// differ.
	large := newGraph(t, topology.Config{})
	recs := meshtest.LargeRecords(100, 5)
	for _, old := range []bool{true, false} {
		for i := range recs {
			if i/2%3 == 0 == old {
				large.Observe(&recs[i], testNow.Add(-50*time.Second+time.Duration(i)*10*time.Millisecond))
			}
		}
		if old {
			require.Equal(t, 167, large.Expire(testNow.Add(10*time.Minute)))
		}
	}
	large.ObserveBatch(recs[:80], testNow.Add(-time.Second))
	require.Equal(t, 347, large.Stats().Edges)
	opts := []topology.SnapshotOptions{
		{Granularity: topology.Workload},
		{Granularity: topology.Workload, Windows: []time.Duration{time.Minute}, InjectServiceNodes: true},
		{Granularity: topology.App, IncludeIdle: true},
		{Granularity: topology.VersionedApp, Windows: []time.Duration{30 * time.Second}},
		{Granularity: topology.Service},
		{Granularity: topology.Service, Namespaces: []string{"bankapp", "ns-1"}, Windows: []time.Duration{10 * time.Minute}},
	}
	for name, g := range map[string]*topology.Graph{"mesh": mesh, "large": large} {
		for _, o := range opts {
			want, err := g.Snapshot(testNow, o)
			require.NoError(t, err)
			require.NotEmpty(t, want.Edges)
			for _, step := range []int{0, 1, 7, 64} {
				got := stepped(t, g, testNow, o, step, nil)
				require.JSONEq(t, jsonOf(t, want), jsonOf(t, got), "%s, %s graph, steps of %d", name, o.Granularity, step)
			}
		}
	}
}

// TestSnapshotCursorChanges changes the graph between the steps of a
// snapshot: an edge copied before it expires stays as it was seen, an edge
// created behind the cursor is left out, one created ahead of it is
// included, and a node id freed by the expiry and reused for another
// workload names that workload, not the expired one.
func TestSnapshotCursorChanges(t *testing.T) {
	wl := func(name string) accesslog.Workload { return meshtest.Workload("shop", name+"-v1", name, "v1") }
	edge := func(from, to string) meshtest.Call {
		c := call(meshtest.BothSides, 1, 200)
		c.From, c.To, c.Service = wl(from), wl(to), meshtest.Service("shop", to)
		return c
	}
	ids := func(s *topology.Snapshot) (out []string) {
		for _, e := range s.Edges {
			out = append(out, e.ID)
		}
		return out
	}
	for _, idle := range []bool{false, true} {
		t.Run("includeIdle="+strconv.FormatBool(idle), func(t *testing.T) {
			g := newGraph(t, topology.Config{})
			observe(g, testNow.Add(-11*time.Minute), edge("a", "b")) // storage slot 0, expires at testNow
			observe(g, testNow.Add(-30*time.Second), edge("c", "d")) // slot 1
			steps := 0
			snap := stepped(t, g, testNow, topology.SnapshotOptions{IncludeIdle: idle}, 1, func() {
				steps++
				if steps > 1 {
					return
				}
				// After slot 0: a→b expires, freeing the ids of a, b and
				// their service; x→y takes them and slot 0, x→d slot 2.
				require.Equal(t, 1, g.Expire(testNow))
				observe(g, testNow.Add(-time.Second), edge("x", "y"), edge("x", "d"))
				require.Equal(t, 3, g.Stats().Edges)
			})
			want := []string{"wl_east_shop_c-v1.wl_east_shop_d-v1.http", "wl_east_shop_x-v1.wl_east_shop_d-v1.http"}
			if idle { // a→b had no traffic in the windows, but was stored when read
				want = append([]string{"wl_east_shop_a-v1.wl_east_shop_b-v1.http"}, want...)
			}
			assert.Equal(t, want, ids(snap))
			var nodes []string
			for _, n := range snap.Nodes {
				nodes = append(nodes, n.Workload)
			}
			if idle {
				assert.Equal(t, []string{"a-v1", "b-v1", "c-v1", "d-v1", "x-v1"}, nodes)
			} else {
				assert.Equal(t, []string{"c-v1", "d-v1", "x-v1"}, nodes)
			}
			assert.Equal(t, 3, snap.Stats.Edges, "stats of the last step")
		})
	}
}

// TestSnapshotOrderFollowsExpiryList checks that the stored edges are
// merged in the order of the expiry list (least recently seen first), not
// of their storage: when two stored edges make one output edge, the first
// principal known wins, as it did when snapshots walked the list.
func TestSnapshotOrderFollowsExpiryList(t *testing.T) {
	v1, v2 := backend, backend2
	v1.Principal = "spiffe://cluster.local/ns/shop/sa/backend-v1"
	v2.Principal = "spiffe://cluster.local/ns/shop/sa/backend-v2"
	to := func(w accesslog.Workload) meshtest.Call {
		c := call(meshtest.BothSides, 1, 200)
		c.To = w
		return c
	}
	g := newGraph(t, topology.Config{})
	observe(g, testNow.Add(-50*time.Second), to(v2)) // storage slot 0
	observe(g, testNow.Add(-40*time.Second), to(v1)) // slot 1
	observe(g, testNow.Add(-30*time.Second), to(v2)) // v2 to the back of the list
	for _, step := range []int{1, 1000} {
		snap := stepped(t, g, testNow, topology.SnapshotOptions{Granularity: topology.App}, step, nil)
		require.Len(t, snap.Edges, 1)
		assert.Equal(t, v1.Principal, snap.Edges[0].DestPrincipal, "steps of %d", step)
		assert.InDelta(t, 3.0, snap.Edges[0].Stats[0].Requests, 1e-9)
	}
}

// TestSnapshotCursorMisuse checks the cursor's guards.
func TestSnapshotCursorMisuse(t *testing.T) {
	g, other := meshGraph(t), newGraph(t, topology.Config{})
	_, err := g.NewSnapshotCursor(testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Hour}})
	require.ErrorIs(t, err, topology.ErrWindow)
	c, err := g.NewSnapshotCursor(testNow, topology.SnapshotOptions{})
	require.NoError(t, err)
	assert.Equal(t, 2, c.Windows())
	assert.Panics(t, func() { c.Snapshot() }, "before the last step")
	assert.Panics(t, func() { other.SnapshotStep(c, 10) }, "another graph")
	for done := false; !done; {
		done = g.SnapshotStep(c, 10)
	}
	assert.True(t, g.SnapshotStep(c, 10))
	assert.NotPanics(t, func() { c.Snapshot() })
	assert.Panics(t, func() { c.Snapshot() }, "twice")
}
