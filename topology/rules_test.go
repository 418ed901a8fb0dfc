package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

var (
	frontend = meshtest.Workload("shop", "frontend-v1", "frontend", "v1")
	backend  = meshtest.Workload("shop", "backend-v1", "backend", "v1")
	backend2 = meshtest.Workload("shop", "backend-v2", "backend", "v2")
	backSvc  = meshtest.Service("shop", "backend")
)

func call(sides meshtest.Side, count int, code uint32) meshtest.Call {
	return meshtest.Call{
		From: frontend, To: backend, Service: backSvc, Protocol: accesslog.ProtocolHTTP,
		Code: code, GRPC: -1, Duration: 10 * time.Millisecond, ReqBytes: 100, RespBytes: 1000,
		Sides: sides, Count: count, MTLS: true,
	}
}

func observe(g *topology.Graph, now time.Time, calls ...meshtest.Call) {
	for i := range calls {
		g.ObserveBatch(calls[i].Records(), now)
	}
}

// onlyEdge returns the only edge of a snapshot.
func onlyEdge(t *testing.T, g *topology.Graph, now time.Time, o topology.SnapshotOptions) topology.Edge {
	t.Helper()
	snap, err := g.Snapshot(now, o)
	require.NoError(t, err)
	require.Len(t, snap.Edges, 1)
	return snap.Edges[0]
}

// TestCountOnce checks how the two reporters' views of an edge combine.
func TestCountOnce(t *testing.T) {
	uf := call(meshtest.ClientSide, 3, 503)
	uf.Flags = accesslog.FlagUpstreamConnectionFailure
	urx := call(meshtest.ClientSide, 5, 503)
	urx.Flags = accesslog.FlagUpstreamRetryLimitExceeded
	grpc := call(meshtest.BothSides, 4, 200)
	grpc.Protocol, grpc.GRPC = accesslog.ProtocolGRPC, 14
	tests := []struct {
		name                             string
		calls                            []meshtest.Call
		requests, errors, proxy, onlyCli float64
		client, server                   float64 // -1: side absent
	}{
		{"server only", []meshtest.Call{call(meshtest.ServerSide, 10, 200)}, 10, 0, 0, 0, -1, 10},
		{"client only", []meshtest.Call{call(meshtest.ClientSide, 10, 200)}, 10, 0, 0, 0, 10, -1},
		{"both sides count once", []meshtest.Call{call(meshtest.BothSides, 10, 200)}, 10, 0, 0, 0, 10, 10},
		{"connection failures only the client saw", []meshtest.Call{call(meshtest.BothSides, 10, 200), uf}, 13, 3, 3, 3, 13, 10},
		{"application errors", []meshtest.Call{call(meshtest.BothSides, 10, 500)}, 10, 10, 0, 0, 10, 10},
		// The server answered 503 and the client, its retries exhausted,
		// logged 503 URX: two kinds, each counted (as Kiali counts the two
		// series).
		{"failures both saw under different flags", []meshtest.Call{call(meshtest.ServerSide, 5, 503), urx}, 10, 10, 5, 5, 5, 5},
		{"unflagged client surplus is not added", []meshtest.Call{call(meshtest.BothSides, 10, 200), call(meshtest.ClientSide, 2, 200)}, 10, 0, 0, 0, 12, 10},
		{"grpc non-OK", []meshtest.Call{grpc}, 4, 4, 0, 0, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t, topology.Config{})
			observe(g, testNow, tt.calls...)
			e := onlyEdge(t, g, testNow, topology.SnapshotOptions{Granularity: topology.Workload, Windows: []time.Duration{time.Minute}})
			st := e.Stats[0]
			assert.InDelta(t, tt.requests, st.Requests, 1e-9, "requests")
			assert.InDelta(t, tt.errors, st.Errors, 1e-9, "errors")
			assert.InDelta(t, tt.proxy, st.ProxyErrors, 1e-9, "proxy errors")
			assert.InDelta(t, tt.errors-tt.proxy, st.AppErrors, 1e-9, "application errors")
			assert.InDelta(t, tt.onlyCli, st.ClientOnlyFailures, 1e-9, "client-only failures")
			for _, s := range []struct {
				want float64
				got  *topology.Side
			}{{tt.client, st.Client}, {tt.server, st.Server}} {
				if s.want < 0 {
					assert.Nil(t, s.got)
				} else if assert.NotNil(t, s.got) {
					assert.InDelta(t, s.want, s.got.Requests, 1e-9)
				}
			}
		})
	}
}

// TestLatencyComparison checks the client/server latency comparison: the
// caller's latency includes what happens outside the server application.
func TestLatencyComparison(t *testing.T) {
	g := newGraph(t, topology.Config{})
	c := call(meshtest.BothSides, 100, 200)
	c.Duration, c.ServerDuration = 50*time.Millisecond, 20*time.Millisecond
	observe(g, testNow, c)
	st := onlyEdge(t, g, testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}}).Stats[0]
	require.NotNil(t, st.Latency)
	assert.InDelta(t, 50, st.Latency.Avg, 0.01, "the edge shows the caller's latency")
	assert.InDelta(t, 50, st.Client.Latency.Avg, 0.01)
	assert.InDelta(t, 20, st.Server.Latency.Avg, 0.01)
	require.NotNil(t, st.LatencyOverhead)
	assert.InDelta(t, 30, st.LatencyOverhead.Avg, 0.01, "30 ms spent outside the server application")
	for _, q := range []float64{st.Latency.P50, st.Latency.P95, st.Latency.P99} {
		assert.InEpsilon(t, 50, q, 0.25, "quantiles within the bucket resolution")
	}
}

func TestQuantiles(t *testing.T) {
	g := newGraph(t, topology.Config{})
	for ms := 1; ms <= 100; ms++ {
		c := call(meshtest.ServerSide, 1, 200)
		c.ServerDuration = time.Duration(ms) * time.Millisecond
		observe(g, testNow, c)
	}
	st := onlyEdge(t, g, testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}}).Stats[0]
	assert.InDelta(t, 50.5, st.Latency.Avg, 0.01)
	assert.InEpsilon(t, 50, st.Latency.P50, 0.2)
	assert.InEpsilon(t, 95, st.Latency.P95, 0.2)
	assert.InEpsilon(t, 99, st.Latency.P99, 0.2)
	assert.InDelta(t, 100, st.Latency.Samples, 1e-9)
}

// TestSlidingWindows checks that traffic leaves the 1m window before the
// 10m window, and that idle edges disappear from snapshots, then expire.
func TestSlidingWindows(t *testing.T) {
	g := newGraph(t, topology.Config{})
	g.SetStart(testNow.Add(-time.Hour)) // a graph counting for an hour
	observe(g, testNow, call(meshtest.BothSides, 60, 200))
	tests := []struct {
		name          string
		at            time.Duration
		oneM, tenM    float64
		edges         int
		idleEdges     int
		coveredOneMin float64
	}{
		{"at once", 0, 60, 60, 1, 1, 50},
		{"30s later", 30 * time.Second, 60, 60, 1, 1, 50},
		{"70s later: out of 1m", 70 * time.Second, 0, 60, 1, 1, 50},
		{"11m later: idle", 11 * time.Minute, 0, 0, 0, 1, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := g.Snapshot(testNow.Add(tt.at), topology.SnapshotOptions{Granularity: topology.Service})
			require.NoError(t, err)
			require.Len(t, snap.Edges, tt.edges)
			assert.InDelta(t, tt.coveredOneMin, snap.Windows[0].CoveredSeconds, 1e-9)
			if tt.edges > 0 {
				assert.InDelta(t, tt.oneM, snap.Edges[0].Stats[0].Requests, 1e-9)
				assert.InDelta(t, tt.tenM, snap.Edges[0].Stats[1].Requests, 1e-9)
				assert.InDelta(t, tt.oneM/snap.Windows[0].CoveredSeconds, snap.Edges[0].Stats[0].RequestRate, 1e-9)
			}
			idle, err := g.Snapshot(testNow.Add(tt.at), topology.SnapshotOptions{Granularity: topology.Service, IncludeIdle: true})
			require.NoError(t, err)
			assert.Len(t, idle.Edges, tt.idleEdges)
		})
	}
	assert.Equal(t, 0, g.Expire(testNow.Add(10*time.Minute)), "not idle for a full TTL yet")
	assert.Equal(t, 1, g.Expire(testNow.Add(10*time.Minute+time.Nanosecond)))
	s := g.Stats()
	assert.Equal(t, 0, s.Edges)
	assert.Equal(t, 0, s.Nodes)
	assert.Equal(t, 0, s.Services)
	assert.Equal(t, uint64(1), s.EdgesExpired)
	assert.Equal(t, uint64(2), s.NodesExpired)
}

func TestSnapshotWindows(t *testing.T) {
	g := newGraph(t, topology.Config{})
	observe(g, testNow, call(meshtest.ServerSide, 1, 200))
	for _, d := range []time.Duration{time.Second, 90 * time.Second, 5 * time.Minute, 10 * time.Minute} {
		snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Windows: []time.Duration{d}})
		require.NoError(t, err, d)
		assert.Len(t, snap.Edges, 1, d)
	}
	for _, d := range []time.Duration{0, -time.Second, 11 * time.Minute} {
		_, err := g.Snapshot(testNow, topology.SnapshotOptions{Windows: []time.Duration{d}})
		require.ErrorIs(t, err, topology.ErrWindow, d)
	}
	_, err := g.Snapshot(testNow, topology.SnapshotOptions{Granularity: 7})
	require.Error(t, err)
}

// TestExpireOrder checks that Expire removes the least recently seen edges
// only, and that an edge seen again survives.
func TestExpireOrder(t *testing.T) {
	g := newGraph(t, topology.Config{})
	a := call(meshtest.ServerSide, 1, 200)
	b := a
	b.To, b.Service = backend2, meshtest.Service("shop", "backend2")
	observe(g, testNow, a)
	observe(g, testNow.Add(time.Minute), b)
	observe(g, testNow.Add(2*time.Minute), a) // a seen again: now the newest
	assert.Equal(t, 1, g.Expire(testNow.Add(11*time.Minute+time.Second)), "b is idle for more than 10m")
	snap, err := g.Snapshot(testNow.Add(11*time.Minute+time.Second), topology.SnapshotOptions{IncludeIdle: true})
	require.NoError(t, err)
	require.Len(t, snap.Edges, 1)
	assert.Equal(t, "wl_east_shop_backend-v1", snap.Edges[0].Target)
	assert.Equal(t, 2, g.Stats().Nodes)
}

func TestBounds(t *testing.T) {
	t.Run("edges", func(t *testing.T) {
		g := newGraph(t, topology.Config{MaxEdges: 2})
		for i, svc := range []string{"a", "b", "c", "d"} {
			c := call(meshtest.ServerSide, 1, 200)
			c.Service = meshtest.Service("shop", svc)
			observe(g, testNow.Add(time.Duration(i)), c)
		}
		s := g.Stats()
		assert.Equal(t, 2, s.Edges)
		assert.Equal(t, uint64(2), s.EdgesOverflow)
		assert.Equal(t, 2, s.Services, "services of dropped records are not kept")
		assert.Equal(t, uint64(2), s.Records)
		// An existing edge still counts.
		c := call(meshtest.ServerSide, 1, 200)
		c.Service = meshtest.Service("shop", "a")
		observe(g, testNow, c)
		assert.Equal(t, uint64(3), g.Stats().Records)
	})
	t.Run("nodes", func(t *testing.T) {
		g := newGraph(t, topology.Config{MaxNodes: 3})
		for _, name := range []string{"a-v1", "b-v1", "c-v1"} {
			c := call(meshtest.ServerSide, 1, 200)
			c.To = meshtest.Workload("shop", name, "x", "v1")
			observe(g, testNow, c)
		}
		s := g.Stats()
		assert.Equal(t, 3, s.Nodes)
		assert.Equal(t, 2, s.Edges)
		assert.Equal(t, uint64(1), s.NodesOverflow)
	})
}

// TestNodesAreTheRecordsLabels: the graph names a caller or callee only as
// the record's own labels (its Istio series) do. A server-side record
// without caller identity stays unknown even from an address another
// proxy serves on, whatever arrived before: the graph and the metrics use
// one resolution (docs/adr/0003).
func TestNodesAreTheRecordsLabels(t *testing.T) {
	g := newGraph(t, topology.Config{})
	// frontend's sidecar serves on 10.0.0.1 (its server-side report).
	r := meshtest.Call{
		From: meshtest.Unknown, To: frontend, Service: meshtest.Service("shop", "frontend"),
		Protocol: accesslog.ProtocolHTTP, Code: 200, GRPC: -1, Sides: meshtest.ServerSide, Count: 1,
	}.Records()[0]
	r.Details.LocalAddress = []byte("10.0.0.1")
	g.Observe(&r, testNow)
	// backend's server-side record of a caller without peer metadata from
	// 10.0.0.1.
	in := call(meshtest.ServerSide, 1, 200).Records()[0]
	in.Source, in.SourceFrom = meshtest.Unknown, accesslog.FromNone
	in.Details.PeerAddress = []byte("10.0.0.1")
	g.Observe(&in, testNow)

	snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}})
	require.NoError(t, err)
	var targets []string
	for _, e := range snap.Edges {
		assert.Equal(t, "unknown_unknown_source", e.Source, "no caller is named from an address")
		targets = append(targets, e.Target)
	}
	assert.ElementsMatch(t, []string{"wl_east_shop_frontend-v1", "wl_east_shop_backend-v1"}, targets)
}

// TestUnknownCalleeIsItsOwnEdge: client-side reports that could not name
// the callee (no peer metadata: a connection that failed) go to the
// service node, as their Istio series (destination_workload="unknown") do
// in Kiali; the workloads the servers named keep their own edges.
func TestUnknownCalleeIsItsOwnEdge(t *testing.T) {
	g := newGraph(t, topology.Config{})
	toSvc := call(meshtest.ClientSide, 4, 503)
	toSvc.To, toSvc.Flags = meshtest.Unknown, accesslog.FlagUpstreamConnectionFailure
	v1 := call(meshtest.BothSides, 30, 200)
	v2 := call(meshtest.BothSides, 10, 200)
	v2.To = backend2
	observe(g, testNow, toSvc, v1, v2)
	for _, tt := range []struct {
		name   string
		inject bool
		want   map[string]float64
	}{
		{"workload", false, map[string]float64{
			"wl_east_shop_frontend-v1 svc_east_shop_backend":   4,
			"wl_east_shop_frontend-v1 wl_east_shop_backend-v1": 30,
			"wl_east_shop_frontend-v1 wl_east_shop_backend-v2": 10,
		}},
		{"service nodes injected", true, map[string]float64{
			"wl_east_shop_frontend-v1 svc_east_shop_backend": 44,
			"svc_east_shop_backend wl_east_shop_backend-v1":  30,
			"svc_east_shop_backend wl_east_shop_backend-v2":  10,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}, InjectServiceNodes: tt.inject})
			require.NoError(t, err)
			got := map[string]float64{}
			for _, e := range snap.Edges {
				got[e.Source+" "+e.Target] += e.Stats[0].Requests
			}
			assert.Equal(t, tt.want, got)
		})
	}
	// The service node is a destination in its own right: not "injected",
	// whichever edge the snapshot merges first.
	for _, last := range []meshtest.Call{toSvc, v1} {
		g := newGraph(t, topology.Config{})
		observe(g, testNow, toSvc, v1)
		observe(g, testNow.Add(time.Second), last) // the most recently seen edge is merged last
		snap, err := g.Snapshot(testNow.Add(time.Second), topology.SnapshotOptions{Windows: []time.Duration{time.Minute}, InjectServiceNodes: true})
		require.NoError(t, err)
		for _, n := range snap.Nodes {
			if n.ID == "svc_east_shop_backend" {
				assert.False(t, n.Injected)
			}
		}
	}
}

func TestKindsFolded(t *testing.T) {
	g := newGraph(t, topology.Config{})
	codes := []uint32{200, 201, 202, 204, 301, 302, 400, 404, 500, 503, 504}
	for _, code := range codes {
		observe(g, testNow, call(meshtest.ServerSide, 1, code))
	}
	assert.Equal(t, uint64(3), g.Stats().KindsFolded)
	st := onlyEdge(t, g, testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}}).Stats[0]
	assert.InDelta(t, 11, st.Requests, 1e-9)
	assert.InDelta(t, 3, st.Errors, 1e-9, "folded kinds keep their class")
	assert.InDelta(t, 3, st.Status5xx, 1e-9)
	assert.InDelta(t, 2, st.Status4xx, 1e-9)
}

func TestIgnored(t *testing.T) {
	g := newGraph(t, topology.Config{})
	r := call(meshtest.ServerSide, 1, 200).Records()[0]
	noReporter := r
	noReporter.Reporter = 0
	intermediate := r
	intermediate.Final = false
	for _, rec := range []accesslog.Record{noReporter, intermediate} {
		g.Observe(&rec, testNow)
	}
	s := g.Stats()
	assert.Equal(t, uint64(2), s.Ignored)
	assert.Equal(t, 0, s.Edges)
}

// TestNamespaceFilter checks Kiali's namespace graph rule: edges with either
// end in a requested namespace.
func TestNamespaceFilter(t *testing.T) {
	g := meshGraph(t)
	snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Namespaces: []string{"bankapp"}, Windows: []time.Duration{time.Minute}})
	require.NoError(t, err)
	require.Len(t, snap.Edges, 1)
	assert.Equal(t, "wl_east_bookinfo_reviews-v3", snap.Edges[0].Source)
	assert.Len(t, snap.Nodes, 2)
}

// TestEdgeCacheAfterExpire checks that the cache of recent edges forgets an
// expired edge: its storage slot, reused by another edge, must not receive
// the records of the expired edge's key when it comes back.
func TestEdgeCacheAfterExpire(t *testing.T) {
	g := newGraph(t, topology.Config{})
	a := call(meshtest.ServerSide, 1, 200)
	b := a
	b.To, b.Service = backend2, meshtest.Service("shop", "backend2")
	c := a
	c.Service = meshtest.Service("shop", "backend3")
	observe(g, testNow, a) // a's key now cached
	observe(g, testNow.Add(time.Minute), b)
	later := testNow.Add(10*time.Minute + time.Second)
	require.Equal(t, 1, g.Expire(later), "a is idle for more than 10m")
	observe(g, later, c) // takes a's storage slot
	observe(g, later, a) // a again: a new edge, not c's
	assert.Equal(t, 3, g.Stats().Edges, "a, b and c stored")
	assert.Equal(t, uint64(4), g.Stats().Records)
}

// TestRatesCoverOnlyTheTimeCounted: a window longer than the time since
// the graph began counting divides by that time, not by the window's
// slots: 120 requests counted in the first two seconds are 60 req/s, not
// 120 over most of a minute (docs/api.md, coveredSeconds).
func TestRatesCoverOnlyTheTimeCounted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start bool // SetStart, as the hub does; else the first record's time
	}{{"SetStart", true}, {"first record", false}} {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraph(t, topology.Config{})
			t0 := testNow.Add(45 * time.Second) // late in a 10 s slot of the 1m ring
			if tt.start {
				g.SetStart(t0)
			}
			at := t0
			if !tt.start {
				at = t0 // the first record opens the count
			}
			observe(g, at, call(meshtest.ClientSide, 120, 200))
			e := onlyEdge(t, g, t0.Add(2*time.Second), topology.SnapshotOptions{Windows: []time.Duration{time.Minute}})
			snap, err := g.Snapshot(t0.Add(2*time.Second), topology.SnapshotOptions{Windows: []time.Duration{time.Minute}})
			require.NoError(t, err)
			assert.InDelta(t, 2.0, snap.Windows[0].CoveredSeconds, 1e-9)
			assert.InDelta(t, 60.0, e.Stats[0].RequestRate, 1e-9)
			// Once the graph is older than the window, the window's slots rule.
			later := t0.Add(5 * time.Minute)
			observe(g, later, call(meshtest.ClientSide, 60, 200))
			snap, err = g.Snapshot(later, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}})
			require.NoError(t, err)
			assert.Greater(t, snap.Windows[0].CoveredSeconds, 50.0)
		})
	}
}
