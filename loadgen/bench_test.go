package loadgen

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlens/meshlens/internal/benchutil"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/meshlens/meshlens/internal/alstest"
)

func BenchmarkGenerate(b *testing.B) {
	for _, bc := range []struct {
		name string
		mesh Mesh
	}{
		{"bookinfo", Bookinfo()},
		{"synthetic-100x2", Synthetic(100, 2, 400, 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			cfg := GenConfig{Seed: 1, Requests: 20000}
			var entries, bytes int64
			cpu0 := benchutil.ProcessCPUTime()
			for b.Loop() {
				tr := bc.mesh.Generate(cfg)
				entries += tr.Ledger.Entries
				bytes += int64(tr.ByteCount())
			}
			reportThroughput(b, entries, benchutil.ProcessCPUTime()-cpu0)
			b.ReportMetric(float64(bytes)/float64(entries), "B/entry")
		})
	}
}

// reportThroughput reports entries per wall-clock second and per CPU-second
// of the whole process (all cores).
func reportThroughput(b *testing.B, entries int64, cpu time.Duration) {
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
	if cpu > 0 {
		b.ReportMetric(float64(entries)/cpu.Seconds(), "entries/cpu-s")
	}
}

func BenchmarkSend(b *testing.B) {
	tr := Synthetic(50, 2, 200, 1).Generate(GenConfig{Seed: 1, Requests: 20000})
	for _, bc := range []struct {
		name string
		opt  SendOptions
		raw  bool
	}{
		{"decoding-server/all-streams", SendOptions{}, false},
		{"decoding-server/concurrency-8", SendOptions{Concurrency: 8}, false},
		{"raw-server/concurrency-8", SendOptions{Concurrency: 8}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := &alstest.CountingServer{}
			var rawMessages atomic.Int64
			var conn *grpc.ClientConn
			if bc.raw {
				// A server that does not decode: it counts RawMessages, so that
				// the benchmark measures the sender.
				conn = startServerWith(b, func(gs *grpc.Server) {
					alstest.RegisterRaw(gs, func() any { return new(RawMessage) }, func() { rawMessages.Add(1) })
				},
					grpc.ForceServerCodecV2(RawCodec{}))
			} else {
				conn = startBenchServer(b, srv)
			}
			b.ReportAllocs()
			var entries, bytes int64
			cpu0 := benchutil.ProcessCPUTime()
			for b.Loop() {
				st, err := Send(b.Context(), conn, tr, bc.opt)
				require.NoError(b, err)
				entries += st.Entries
				bytes += st.Bytes
			}
			// CPU covers client and server: both run in this process.
			reportThroughput(b, entries, benchutil.ProcessCPUTime()-cpu0)
			if !bc.raw {
				require.Equal(b, entries, srv.Entries())
			}
			b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

func startBenchServer(b *testing.B, srv alsv3.AccessLogServiceServer) *grpc.ClientConn {
	b.Helper()
	return startServerWith(b, func(gs *grpc.Server) { alsv3.RegisterAccessLogServiceServer(gs, srv) })
}
