package topology_test

import (
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// BenchmarkObserve measures Observe on an existing edge in steady state,
// both reporters alternating, time advancing 1ms per record (slots turn).
func BenchmarkObserve(b *testing.B) {
	g := newGraph(b, topology.Config{})
	recs := call(meshtest.BothSides, 1, 200).Records()
	for i := range recs {
		recs[i].Details.LocalAddress = []byte("10.0.0.2")
		recs[i].Details.PeerAddress = []byte("10.0.0.1")
	}
	now := testNow
	g.ObserveBatch(recs, now)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		g.Observe(&recs[i&1], now)
		i++
	}
}

// BenchmarkObserveMesh measures Observe over the synthetic mesh's records
// (19 calls, 31 edges, HTTP, gRPC and TCP).
func BenchmarkObserveMesh(b *testing.B) {
	g := newGraph(b, topology.Config{})
	batches, _ := meshtest.Records(testNow)
	var recs []accesslog.Record
	for _, batch := range batches {
		recs = append(recs, batch...)
	}
	g.ObserveBatch(recs, testNow)
	now := testNow
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		g.Observe(&recs[i%len(recs)], now)
		i++
		if i%len(recs) == 0 {
			now = now.Add(time.Second)
		}
	}
}

// edgeRecords returns, per edge, a client-side and a server-side record of
// n distinct edges (one destination service each).
func edgeRecords(n int) []accesslog.Record {
	recs := make([]accesslog.Record, 0, 2*n)
	for i := range n {
		c := call(meshtest.BothSides, 1, 200)
		c.Service = meshtest.Service("shop", "svc-"+strconv.Itoa(i))
		recs = append(recs, c.Records()...)
	}
	return recs
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// bytesPerEdge measures the heap a graph needs per edge with both reporter
// views, windows 1m and 10m (6 slots each).
func bytesPerEdge(t testing.TB, n int, cfg topology.Config) float64 {
	t.Helper()
	recs := edgeRecords(n)
	before := heap()
	cfg.MaxEdges = n
	g := newGraph(t, cfg)
	g.ObserveBatch(recs, testNow)
	after := heap()
	require.Equal(t, n, g.Stats().Edges)
	runtime.KeepAlive(g)
	runtime.KeepAlive(recs)
	return float64(after-before) / float64(n)
}

// TestMemoryPerEdge reports the memory of 10,000 edges with the default
// windows and with smaller configurations (ADR 0007). Most of it is the two
// reporters' rings: 2 views × windows × slots × 216 B (32 uint32 latency
// buckets, 8 response-kind counters and the request, byte, message and
// connection counters).
func TestMemoryPerEdge(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  topology.Config
		max  float64
	}{
		{"default (1m+10m, 6 slots)", topology.Config{}, 8192},
		{"windows [1m], 6 slots", topology.Config{Windows: []time.Duration{time.Minute}}, 4096},
		{"windows [1m], 2 slots", topology.Config{Windows: []time.Duration{time.Minute}, SlotsPerWindow: 2}, 2048},
	} {
		t.Run(tc.name, func(t *testing.T) {
			per := bytesPerEdge(t, 10000, tc.cfg)
			t.Logf("memory per edge (both reporters, %s, 10,000 edges): %.0f bytes", tc.name, per)
			assert.Less(t, per, tc.max)
		})
	}
}

func BenchmarkMemoryPerEdge(b *testing.B) {
	var per float64
	for b.Loop() {
		per = bytesPerEdge(b, 10000, topology.Config{})
	}
	b.ReportMetric(per, "bytes/edge")
}

// BenchmarkSnapshot measures a service-graph snapshot of 10,000 edges over
// both windows.
func BenchmarkSnapshot(b *testing.B) {
	g := newGraph(b, topology.Config{})
	g.ObserveBatch(edgeRecords(10000), testNow)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Snapshot(testNow, topology.SnapshotOptions{Granularity: topology.Service}); err != nil {
			b.Fatal(err)
		}
	}
}
