package alstest

import (
	"errors"
	"io"
	"maps"
	"sync"
	"sync/atomic"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// CountingServer is a go-control-plane AccessLogService that decodes every
// message (like a real receiver) and counts its entries, and the client
// connections (remote addresses) its streams came from.
type CountingServer struct {
	alsv3.UnimplementedAccessLogServiceServer
	entries atomic.Int64

	mu      sync.Mutex
	remotes map[string]int
}

// StreamAccessLogs implements alsv3.AccessLogServiceServer.
func (s *CountingServer) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	if p, ok := peer.FromContext(stream.Context()); ok {
		s.mu.Lock()
		if s.remotes == nil {
			s.remotes = map[string]int{}
		}
		s.remotes[p.Addr.String()]++
		s.mu.Unlock()
	}
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

// Entries returns the entries received so far.
func (s *CountingServer) Entries() int64 { return s.entries.Load() }

// Remotes returns the number of streams per client address so far.
func (s *CountingServer) Remotes() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.remotes)
}

// Reset forgets what was counted.
func (s *CountingServer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries.Store(0)
	s.remotes = nil
}

// RegisterRaw registers on gs an AccessLogService that decodes nothing
// itself: each stream receives every message into one value from newMsg,
// which the server's codec (grpc.ForceServerCodecV2) must accept, calls
// received after each, and answers the end of the stream with an empty
// StreamAccessLogsResponse (which the codec must be able to send).
func RegisterRaw(gs grpc.ServiceRegistrar, newMsg func() any, received func()) {
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "envoy.service.accesslog.v3.AccessLogService",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{
			StreamName:    "StreamAccessLogs",
			ClientStreams: true,
			Handler: func(_ any, ss grpc.ServerStream) error {
				m := newMsg()
				for {
					err := ss.RecvMsg(m)
					if errors.Is(err, io.EOF) {
						return ss.SendMsg(&alsv3.StreamAccessLogsResponse{})
					}
					if err != nil {
						return err
					}
					received()
				}
			},
		}},
		Metadata: "envoy/service/accesslog/v3/als.proto",
	}, struct{}{})
}
