package loadgen

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
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
			cpu0 := processCPU()
			for b.Loop() {
				tr := bc.mesh.Generate(cfg)
				entries += tr.Ledger.Entries
				bytes += int64(tr.ByteCount())
			}
			reportThroughput(b, entries, processCPU()-cpu0)
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

// countingServer is a go-control-plane AccessLogService that decodes every
// message (like a real receiver) and counts entries with atomics.
type countingServer struct {
	alsv3.UnimplementedAccessLogServiceServer
	entries atomic.Int64
}

func (s *countingServer) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		s.entries.Add(int64(len(m.GetHttpLogs().GetLogEntry()) + len(m.GetTcpLogs().GetLogEntry())))
	}
}

// registerRawALS registers an AccessLogService that does not decode: it
// receives RawMessages (the server forces RawCodec) and counts them, so the
// benchmark measures the sender.
func registerRawALS(gs *grpc.Server, messages *atomic.Int64) {
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "envoy.service.accesslog.v3.AccessLogService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "StreamAccessLogs",
			ClientStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				for {
					var m RawMessage
					err := ss.RecvMsg(&m)
					if errors.Is(err, io.EOF) {
						return ss.SendMsg(&alsv3.StreamAccessLogsResponse{})
					}
					if err != nil {
						return err
					}
					messages.Add(1)
				}
			},
		}},
	}, struct{}{})
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
			srv := &countingServer{}
			var rawMessages atomic.Int64
			var conn *grpc.ClientConn
			if bc.raw {
				conn = startServerWith(b, func(gs *grpc.Server) { registerRawALS(gs, &rawMessages) },
					grpc.ForceServerCodecV2(RawCodec{}))
			} else {
				conn = startBenchServer(b, srv)
			}
			b.ReportAllocs()
			var entries, bytes int64
			cpu0 := processCPU()
			for b.Loop() {
				st, err := Send(b.Context(), conn, tr, bc.opt)
				require.NoError(b, err)
				entries += st.Entries
				bytes += st.Bytes
			}
			// CPU covers client and server: both run in this process.
			reportThroughput(b, entries, processCPU()-cpu0)
			if !bc.raw {
				require.Equal(b, entries, srv.entries.Load())
			}
			b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/1e6, "MB/s")
		})
	}
}

func startBenchServer(b *testing.B, srv alsv3.AccessLogServiceServer) *grpc.ClientConn {
	b.Helper()
	return startServerWith(b, func(gs *grpc.Server) { alsv3.RegisterAccessLogServiceServer(gs, srv) })
}
