// Package benchrecs builds the records benchmarks of the hub's consumers
// run on: the load test's traffic, normalised as the receiver would, one
// accesslog.Stream per generated stream.
package benchrecs

import (
	"fmt"
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

// LabelSets returns one record per HTTP label set: sets label sets of the
// shape of a mesh's (97 source workloads, a destination workload and
// service per set), each with traffic in every Istio histogram and a
// trace. The scrape and push benchmarks fill an aggregation with them.
func LabelSets(sets int) []accesslog.Record {
	recs := make([]accesslog.Record, 0, sets)
	for i := range sets {
		w := accesslog.Workload{
			Name: fmt.Sprintf("src-%d", i%97), Namespace: "ns", CanonicalService: "src", CanonicalRevision: "v1",
			App: "src", Version: "v1", Cluster: "Kubernetes", Principal: "spiffe://cluster.local/ns/ns/sa/src",
		}
		d := w
		d.Name = fmt.Sprintf("dst-%d", i)
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: d, Service: accesslog.Service{Host: d.Name + ".ns.svc.cluster.local", Name: d.Name, Namespace: "ns"},
			ResponseCode: 200, GRPCStatus: -1, Final: true, DurationNanos: int64(i%1000) * int64(time.Millisecond),
			RequestBytes: 300, ResponseBytes: 2000,
		}
		r.Trace.TraceID[0], r.Trace.SpanID[0] = 1, 1
		recs = append(recs, r)
	}
	return recs
}
