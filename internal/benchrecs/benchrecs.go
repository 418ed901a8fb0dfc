// Package benchrecs builds the records benchmarks of the hub's consumers
// run on: the load test's traffic, normalised as the receiver would, one
// accesslog.Stream per generated stream.
package benchrecs

import (
	"testing"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

// Synthetic returns, per stream, the record batches of the load test's mesh
// (loadgen.Synthetic(50, 2, 200, 1): both reporters, HTTP/gRPC/TCP with
// periodic TCP entries), batch entries per message, with their borrowed
// Details cleared.
func Synthetic(tb testing.TB, batch int, now time.Time) [][][]accesslog.Record {
	tb.Helper()
	return Generate(tb, loadgen.Synthetic(50, 2, 200, 1), loadgen.GenConfig{
		Seed: 1, Requests: 20000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: batch,
	}, now)
}

// Generate returns, per stream, the record batches of mesh's traffic
// generated with cfg, one batch per message, with their borrowed Details
// cleared.
func Generate(tb testing.TB, mesh loadgen.Mesh, cfg loadgen.GenConfig, now time.Time) [][][]accesslog.Record {
	tb.Helper()
	tr := mesh.Generate(cfg)
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	out := make([][][]accesslog.Record, len(tr.Streams))
	for i := range tr.Streams {
		st := accesslog.NewStream(accesslog.Config{}, conns)
		for _, m := range tr.Streams[i].Messages {
			recs, _, err := st.Decode(m, nil, now)
			if err != nil {
				tb.Fatal(err)
			}
			for j := range recs {
				recs[j].Details = accesslog.Details{}
			}
			out[i] = append(out[i], recs)
		}
	}
	return out
}

// Interleave calls f for every batch of every stream, round robin over the
// streams, as a receiver serving them all at once hands them on.
func Interleave(streams [][][]accesslog.Record, f func(stream int, recs []accesslog.Record)) {
	for k := 0; ; k++ {
		added := false
		for i := range streams {
			if k < len(streams[i]) {
				f(i, streams[i][k])
				added = true
			}
		}
		if !added {
			return
		}
	}
}
