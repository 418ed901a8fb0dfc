package hubextension

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
)

// BenchmarkPipelineSynthetic is meshlens's own work per entry, without the
// gRPC transport: the load test's messages (50 services, 200 edges, both
// reporters, HTTP/gRPC/TCP, up to 100 entries per message) decoded and
// normalised by their stream, then handed to the hub (Istio metrics,
// topology, span metrics), one message at a time, streams taken in turn as
// a busy receiver would see them. Time advances 1 ms per message, so
// windows and slots roll as they do under load.
//
// Its instruction count per entry, which does not depend on what else the
// machine is doing, is what `make instructions` reports (valgrind's
// callgrind, see BENCHMARKS.md).
func BenchmarkPipelineSynthetic(b *testing.B) {
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{
		Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: 100,
	})
	cfg := createDefaultConfig().(*Config)
	clock := time.Unix(1_700_000_000, 0)
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), func() time.Time { return clock })
	if err != nil {
		b.Fatal(err)
	}
	type stream struct {
		st    *accesslog.Stream
		local *accesslog.StreamLocal
		msgs  [][]byte
	}
	var streams []stream
	var recs []accesslog.Record
	longest := 0
	for i := range tr.Streams {
		s := stream{
			st:    accesslog.NewStream(accesslog.Config{}, nil),
			local: new(accesslog.StreamLocal),
		}
		// The first message carries the identifier; it is decoded once.
		if recs, _, err = s.st.Decode(tr.Streams[i].Messages[0], recs[:0], clock); err != nil {
			b.Fatal(err)
		}
		s.msgs = tr.Streams[i].Messages[1:]
		if len(s.msgs) > 0 {
			streams = append(streams, s)
			longest = max(longest, len(s.msgs))
		}
	}
	step := func(k int) int {
		s := &streams[k%len(streams)]
		m := s.msgs[(k/len(streams))%len(s.msgs)]
		clock = clock.Add(time.Millisecond)
		var (
			out accesslog.Outcome
			err error
		)
		if recs, out, err = s.st.Decode(m, recs[:0], clock); err != nil {
			b.Fatal(err)
		}
		if err := h.ConsumeRecords(context.Background(), s.local, recs); err != nil {
			b.Fatal(err)
		}
		return out.Entries
	}
	// One pass over every message: series, edges and intern tables exist.
	k := 0
	for range len(streams) * longest {
		step(k)
		k++
	}
	b.ReportAllocs()
	entries := 0
	benchutil.CPUPerItem(b, "entry", func() int {
		for b.Loop() {
			entries += step(k)
			k++
		}
		return entries
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
	b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
}
