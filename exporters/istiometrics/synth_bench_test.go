package istiometrics

import (
	"fmt"
	"testing"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/internal/benchutil"
)

// BenchmarkConsumeSynthetic aggregates the load test's mesh (50 services,
// 200 edges, both reporters, HTTP/gRPC/TCP) batch by batch as received:
// about 8 label sets per batch.
// batch=17 is Envoy's default buffer_size_bytes (16 KiB); "stream" keeps
// each stream's label sets across its batches (ConsumeRecords with a StreamLocal).
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
	type job struct {
		recs  []accesslog.Record
		local *accesslog.StreamLocal
	}
	streams := benchrecs.Synthetic(b, batch, now)
	locals := make([]*accesslog.StreamLocal, len(streams))
	for i := range locals {
		if perStream {
			locals[i] = new(accesslog.StreamLocal)
		}
	}
	var jobs []job
	benchrecs.Interleave(streams, func(i int, recs []accesslog.Record) {
		jobs = append(jobs, job{recs, locals[i]})
	})
	a := New(DefaultConfig())
	for _, j := range jobs {
		a.ConsumeRecords(j.recs, j.local, now)
	}
	b.ReportAllocs()
	n, i := 0, 0
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			a.ConsumeRecords(jobs[i].recs, jobs[i].local, now)
			n += len(jobs[i].recs)
			i = (i + 1) % len(jobs)
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
}
