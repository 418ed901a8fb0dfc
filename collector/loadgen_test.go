package collector

import (
	"bytes"
	"errors"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// countingALS is an ALS server that counts entries and the client
// connections (remote addresses) streams came from.
type countingALS struct {
	alsv3.UnimplementedAccessLogServiceServer
	mu      sync.Mutex
	entries int
	remotes map[string]int
}

func (s *countingALS) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	p, _ := peer.FromContext(stream.Context())
	s.mu.Lock()
	s.remotes[p.Addr.String()]++
	s.mu.Unlock()
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.entries += len(m.GetHttpLogs().GetLogEntry()) + len(m.GetTcpLogs().GetLogEntry())
		s.mu.Unlock()
	}
}

func TestLoadgenCommand(t *testing.T) {
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &countingALS{remotes: map[string]int{}}
	gs := grpc.NewServer()
	alsv3.RegisterAccessLogServiceServer(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)

	for _, tc := range []struct {
		connections string
		want        func(streams int) int
	}{
		{"1", func(int) int { return 1 }},
		{"3", func(int) int { return 3 }},
		{"0", func(streams int) int { return streams }}, // one per stream
	} {
		t.Run("connections="+tc.connections, func(t *testing.T) {
			srv.mu.Lock()
			srv.entries, srv.remotes = 0, map[string]int{}
			srv.mu.Unlock()
			cmd := newLoadgenCommand()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetArgs([]string{"--endpoint", lis.Addr().String(), "--mesh", "bookinfo", "--requests", "300", "--connections", tc.connections})
			require.NoError(t, cmd.ExecuteContext(t.Context()))
			m := regexp.MustCompile(`sent (\d+) entries in \d+ messages \(\d+ bytes\) on (\d+) streams`).FindStringSubmatch(out.String())
			require.NotNil(t, m, out.String())
			sent, _ := strconv.Atoi(m[1])
			streams, _ := strconv.Atoi(m[2])
			require.Greater(t, streams, 3, "enough streams to tell the connection counts apart")
			srv.mu.Lock()
			defer srv.mu.Unlock()
			assert.Equal(t, sent, srv.entries, "every entry sent arrived")
			assert.Len(t, srv.remotes, tc.want(streams), "client connections")
		})
	}
	t.Run("no traffic", func(t *testing.T) {
		cmd := newLoadgenCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"--endpoint", lis.Addr().String(), "--mesh", "bookinfo", "--requests", "0"})
		require.NoError(t, cmd.ExecuteContext(t.Context()))
		assert.Contains(t, out.String(), "sent 0 entries")
	})
	cmd := newLoadgenCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"--endpoint", lis.Addr().String(), "--connections", "-1"})
	assert.ErrorContains(t, cmd.ExecuteContext(t.Context()), "--connections must not be negative")
}
