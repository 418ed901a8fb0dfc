package istiometrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/loadgen"
	"github.com/meshlens/meshlens/internal/benchutil"
)

// BenchmarkConsumeSynthetic aggregates the load test's mesh (50 services,
// 200 edges, both reporters, HTTP/gRPC/TCP) batch by batch as received:
// about 8 label sets per batch.
// batch=17 is Envoy's default buffer_size_bytes (16 KiB); "stream" keeps
// each stream's label sets across its batches (ConsumeStreamRecords).
func BenchmarkConsumeSynthetic(b *testing.B) {
	for _, batch := range []int{100, 17} {
		for _, perStream := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d", batch)
			if perStream {
				name += "/stream"
			}
			b.Run(name, func(b *testing.B) { benchConsumeSynthetic(b, batch, perStream) })
		}
	}
}

func benchConsumeSynthetic(b *testing.B, batch int, perStream bool) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{
		Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: batch,
	})
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	type job struct {
		recs  []accesslog.Record
		local *accesslog.StreamLocal
	}
	perStreamRecs := make([][][]accesslog.Record, len(tr.Streams))
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
			perStreamRecs[i] = append(perStreamRecs[i], recs)
		}
	}
	// The streams' batches interleaved, as the receiver hands them on.
	var jobs []job
	locals := make([]*accesslog.StreamLocal, len(tr.Streams))
	for i := range locals {
		if perStream {
			locals[i] = new(accesslog.StreamLocal)
		}
	}
	for k := 0; ; k++ {
		added := false
		for i := range perStreamRecs {
			if k < len(perStreamRecs[i]) {
				jobs = append(jobs, job{perStreamRecs[i][k], locals[i]})
				added = true
			}
		}
		if !added {
			break
		}
	}
	a := New(DefaultConfig())
	for _, j := range jobs {
		a.ConsumeStreamRecords(j.recs, now, j.local)
	}
	b.ReportAllocs()
	n, i := 0, 0
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			a.ConsumeStreamRecords(jobs[i].recs, now, jobs[i].local)
			n += len(jobs[i].recs)
			i = (i + 1) % len(jobs)
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
