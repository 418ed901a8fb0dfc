package collector

import (
	"bytes"
	"io"
	"net"
	"regexp"
	"strconv"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/meshlens/meshlens/internal/alstest"
)

func TestLoadgenCommand(t *testing.T) {
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &alstest.CountingServer{}
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
			srv.Reset()
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
			assert.EqualValues(t, sent, srv.Entries(), "every entry sent arrived")
			assert.Len(t, srv.Remotes(), tc.want(streams), "client connections")
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
