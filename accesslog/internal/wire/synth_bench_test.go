package wire_test

import (
	"runtime"
	"testing"

	"github.com/meshlens/meshlens/accesslog/internal/wire"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
)

// BenchmarkDecodeSynthetic decodes the messages of the load test's mesh (50
// services, 200 edges, both reporters, HTTP/gRPC/TCP, peer metadata, trace
// headers; up to 100 entries per message), as a busy receiver sees them.
func BenchmarkDecodeSynthetic(b *testing.B) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true})
	var msgs [][]byte
	size := 0
	for i := range tr.Streams {
		for _, m := range tr.Streams[i].Messages[1:] { // the first carries the identifier
			msgs = append(msgs, m)
			size += len(m)
		}
	}
	var m wire.Message
	entries := 0
	for _, msg := range msgs {
		if err := wire.DecodeAccessLogs(msg, &m); err != nil {
			b.Fatal(err)
		}
		entries += len(m.Entries)
	}
	b.ReportAllocs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 0
	benchutil.CPUPerItem(b, "entry", func() int {
		i := 0
		for b.Loop() {
			if err := wire.DecodeAccessLogs(msgs[i], &m); err != nil {
				b.Fatal(err)
			}
			n += len(m.Entries)
			i = (i + 1) % len(msgs)
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
	b.ReportMetric(float64(size)/float64(entries), "bytes/entry")
	b.ReportMetric(float64(n)/float64(b.N), "entries/op")
}
