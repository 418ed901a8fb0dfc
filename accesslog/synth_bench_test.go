package accesslog_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
)

// BenchmarkStreamDecodeSynthetic measures decode + normalise over the load
// test's mesh (50 services, 200 edges, both reporters, HTTP/gRPC/TCP), one
// Stream per generated stream, messages taken round robin across streams
// as a busy receiver sees them.
// batch=17 is Envoy's default buffer_size_bytes (16 KiB).
func BenchmarkStreamDecodeSynthetic(b *testing.B) {
	for _, batch := range []int{100, 17} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchStreamDecodeSynthetic(b, batch) })
	}
}

func benchStreamDecodeSynthetic(b *testing.B, batch int) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{
		Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: batch,
	})
	now := time.Now()
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	type job struct {
		st  *accesslog.Stream
		msg []byte
	}
	var jobs []job
	streams := make([]*accesslog.Stream, len(tr.Streams))
	for i := range tr.Streams {
		streams[i] = accesslog.NewStream(accesslog.Config{}, conns)
	}
	for k := 0; ; k++ {
		added := false
		for i := range tr.Streams {
			if k < len(tr.Streams[i].Messages) {
				jobs = append(jobs, job{streams[i], tr.Streams[i].Messages[k]})
				added = true
			}
		}
		if !added {
			break
		}
	}
	var recs []accesslog.Record
	for _, j := range jobs { // identities and caches warm
		recs, _, _ = j.st.Decode(j.msg, recs[:0], now)
	}
	b.ReportAllocs()
	entries := 0
	benchutil.CPUPerItem(b, "entry", func() int {
		i := 0
		for b.Loop() {
			var out accesslog.Outcome
			var err error
			recs, out, err = jobs[i].st.Decode(jobs[i].msg, recs[:0], now)
			if err != nil {
				b.Fatal(err)
			}
			entries += out.Processed
			i = (i + 1) % len(jobs)
		}
		return entries
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
}
