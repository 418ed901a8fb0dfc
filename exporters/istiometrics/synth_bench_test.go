package istiometrics

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/loadgen"
	"github.com/meshlens/meshlens/internal/benchutil"
)

// BenchmarkConsumeSynthetic aggregates the load test's mesh (50 services,
// 200 edges, both reporters, HTTP/gRPC/TCP) batch by batch as received:
// about 8 label sets per batch.
func BenchmarkConsumeSynthetic(b *testing.B) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true})
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	var batches [][]accesslog.Record
	total := 0
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
			batches = append(batches, recs)
			total += len(recs)
		}
	}
	a := New(DefaultConfig())
	for _, recs := range batches {
		a.ConsumeRecords(recs, now)
	}
	b.ReportAllocs()
	n, i := 0, 0
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			a.ConsumeRecords(batches[i], now)
			n += len(batches[i])
			i = (i + 1) % len(batches)
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
