package topology_test

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/loadgen"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/topology"
)

// BenchmarkObserveSynthetic updates the graph with the load test's mesh (50
// services, 200 edges, both reporters, HTTP/gRPC/TCP), batch by batch as
// the receiver hands them on, the streams' batches interleaved.
func BenchmarkObserveSynthetic(b *testing.B) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true})
	now := time.Unix(1_700_000_000, 0)
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	perStream := make([][][]accesslog.Record, len(tr.Streams))
	for i := range tr.Streams {
		st := accesslog.NewStream(accesslog.Config{}, conns)
		for _, m := range tr.Streams[i].Messages {
			recs, _, err := st.Decode(m, nil, now)
			if err != nil {
				b.Fatal(err)
			}
			for j := range recs {
				recs[j].Details = accesslog.Details{}
			}
			perStream[i] = append(perStream[i], recs)
		}
	}
	var batches [][]accesslog.Record
	for k := 0; ; k++ {
		added := false
		for i := range perStream {
			if k < len(perStream[i]) {
				batches = append(batches, perStream[i][k])
				added = true
			}
		}
		if !added {
			break
		}
	}
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
