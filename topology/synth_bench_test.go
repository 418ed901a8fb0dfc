package topology_test

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/topology"
)

// BenchmarkObserveSynthetic updates the graph with the load test's mesh (50
// services, 200 edges, both reporters, HTTP/gRPC/TCP), batch by batch as
// the receiver hands them on, the streams' batches interleaved.
func BenchmarkObserveSynthetic(b *testing.B) {
	now := time.Unix(1_700_000_000, 0)
	var batches [][]accesslog.Record
	benchrecs.Interleave(benchrecs.Synthetic(b, 100, now), func(_ int, recs []accesslog.Record) {
		batches = append(batches, recs)
	})
	g, err := topology.NewGraph(topology.Config{})
	if err != nil {
		b.Fatal(err)
	}
	for _, recs := range batches {
		g.ObserveBatch(recs, now)
	}
	b.ReportAllocs()
	n, i := 0, 0
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			g.ObserveBatch(batches[i], now)
			n += len(batches[i])
			i = (i + 1) % len(batches)
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
