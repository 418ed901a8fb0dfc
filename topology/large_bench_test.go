package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// The large mesh of the benchmarks: 1,000 services (one workload each, 20
// namespaces) and 10,000 edges, each reported by both sides.
const (
	largeServices    = 1000
	largePerWorkload = 10
)

// largeGraph returns a graph holding the large mesh, its records observed
// over the minute before testNow.
func largeGraph(tb testing.TB) (*topology.Graph, []accesslog.Record) {
	tb.Helper()
	g := newGraph(tb, topology.Config{})
	recs := meshtest.LargeRecords(largeServices, largePerWorkload)
	step := time.Minute / time.Duration(len(recs))
	for i := range recs {
		g.Observe(&recs[i], testNow.Add(-time.Minute+time.Duration(i)*step))
	}
	require.Equal(tb, largeServices*largePerWorkload, g.Stats().Edges)
	return g, recs
}

// BenchmarkObserveLarge measures the graph update per record in a graph of
// 10,000 edges: the records cycle over every edge and both reporters
// (cache-unfriendly, unlike BenchmarkObserve), time advancing 100µs per
// record so that slots keep turning.
func BenchmarkObserveLarge(b *testing.B) {
	g, recs := largeGraph(b)
	now := testNow
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(100 * time.Microsecond)
		g.Observe(&recs[i%len(recs)], now)
		i++
	}
	b.ReportMetric(float64(g.Stats().Edges), "edges")
}

// BenchmarkSnapshotLarge measures snapshots of the large mesh, both
// windows, at each granularity.
func BenchmarkSnapshotLarge(b *testing.B) {
	g, _ := largeGraph(b)
	for _, gran := range []topology.Granularity{topology.Workload, topology.App, topology.Service} {
		b.Run(gran.String(), func(b *testing.B) {
			b.ReportAllocs()
			var snap *topology.Snapshot
			for b.Loop() {
				var err error
				if snap, err = g.Snapshot(testNow, topology.SnapshotOptions{Granularity: gran}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(snap.Edges)), "edges")
		})
	}
}

// largeTotals are the totals the global graph would read back for the
// large mesh: one client and one server view per edge, one window.
func largeTotals() []topology.EdgeTotals {
	calls := meshtest.Large(largeServices, largePerWorkload)
	bounds := []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000}
	out := make([]topology.EdgeTotals, 0, len(calls))
	for i := range calls {
		c := &calls[i]
		t := topology.Totals{
			Requests: 60, MTLS: 60, DurationSumMillis: 60 * float64(c.Duration.Milliseconds()),
			DurationBounds: bounds, DurationCumulative: []float64{0, 0, 10, 20, 30, 40, 50, 60, 60, 60, 60},
			BytesIn: 60 * 300, BytesOut: 60 * 2000,
			Responses: []topology.ResponseTotal{{Code: c.Code, GRPCStatus: c.GRPC, Count: 60}},
		}
		if c.Protocol == accesslog.ProtocolTCP {
			t.Requests, t.DurationBounds, t.DurationCumulative, t.DurationSumMillis = 0, nil, nil, 0
			t.Opened, t.Closed = 60, 60
		}
		out = append(out, topology.EdgeTotals{
			Source: c.From, Destination: c.To, Service: c.Service, Protocol: c.Protocol,
			Client: []topology.Totals{t}, Server: []topology.Totals{t},
		})
	}
	return out
}

// BenchmarkSnapshotFromTotalsLarge measures the global graph's build from
// totals already read back (Prometheus's own query time excluded) for the
// large mesh, one window.
func BenchmarkSnapshotFromTotalsLarge(b *testing.B) {
	totals := largeTotals()
	for _, gran := range []topology.Granularity{topology.Workload, topology.Service} {
		b.Run(gran.String(), func(b *testing.B) {
			b.ReportAllocs()
			o := topology.SnapshotOptions{Granularity: gran, Windows: []time.Duration{10 * time.Minute}}
			for b.Loop() {
				if _, err := topology.SnapshotFromTotals(totals, testNow, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
