package accesslog_test

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
)

// benchStream returns the messages of the largest HTTP stream of a generated
// Bookinfo mesh: realistic Istio entries (both reporters, peer metadata,
// TLS, trace headers), 100 per message.
func benchStream(b *testing.B) (first []byte, rest [][]byte, perMsg []int) {
	b.Helper()
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 40000, BatchSize: 100})
	best := -1
	for i := range tr.Streams {
		s := &tr.Streams[i]
		if s.Kind == loadgen.StreamHTTP && (best < 0 || len(s.Messages) > len(tr.Streams[best].Messages)) {
			best = i
		}
	}
	s := &tr.Streams[best]
	for i := 1; i < len(s.Messages); i++ {
		if s.Entries[i] == 100 {
			rest = append(rest, s.Messages[i])
			perMsg = append(perMsg, s.Entries[i])
		}
	}
	if len(rest) == 0 {
		b.Fatal("no full batches")
	}
	return s.Messages[0], rest, perMsg
}

// BenchmarkStreamDecode measures decode + normalise of a batch of 100 Istio
// entries in steady state (the stream's identity and intern table warm).
func BenchmarkStreamDecode(b *testing.B) {
	first, rest, _ := benchStream(b)
	now := time.Now()
	st := accesslog.NewStream(accesslog.Config{}, accesslog.NewConnTable(1<<16, time.Minute))
	recs, _, err := st.Decode(first, nil, now)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range rest { // warm the intern table
		recs, _, _ = st.Decode(m, recs[:0], now)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(rest[0])))
	entries := 0
	benchutil.CPUPerItem(b, "entry", func() int {
		i := 0
		for b.Loop() {
			var out accesslog.Outcome
			recs, out, err = st.Decode(rest[i], recs[:0], now)
			if err != nil {
				b.Fatal(err)
			}
			entries += out.Processed
			i++
			if i == len(rest) {
				i = 0
			}
		}
		return entries
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}
