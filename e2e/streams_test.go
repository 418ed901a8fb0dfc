package e2e

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

// TestE2EThousandsOfStreams: one client opens 3,000 ALS streams over 40
// connections (meshlens allows 100 streams per connection by default,
// max_concurrent_streams) and keeps them open; meshlens keeps serving a
// normal client meanwhile, its memory stays bounded, and the streams are
// accounted for when they go.
func TestE2EThousandsOfStreams(t *testing.T) {
	const n, conns = 3000, 40
	captures.Dir(t) // without the real captures, skip before starting anything
	m := startMeshlens(t)
	b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", "envoy-ingress.json"))
	require.NoError(t, err)
	var msg alsv3.StreamAccessLogsMessage
	require.NoError(t, protojson.Unmarshal(b, &msg))
	clients := make([]alsv3.AccessLogServiceClient, conns)
	for i := range clients {
		clients[i] = alsv3.NewAccessLogServiceClient(dial(t, m.GRPC))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	streams := make([]alsv3.AccessLogService_StreamAccessLogsClient, 0, n)
	for i := range n {
		s, err := clients[i%conns].StreamAccessLogs(ctx)
		require.NoError(t, err)
		require.NoError(t, s.Send(&msg))
		streams = append(streams, s)
	}
	waitProcessed(t, m, n)
	assert.InDelta(t, n, m.metric(t, `meshlens_receiver_active_streams{service="als"}`), 0)

	// Another client is served normally meanwhile.
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 2, Requests: 2000})
	start := time.Now()
	_, err = loadgen.Send(context.Background(), dial(t, m.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, m, float64(n+tr.EntryCount()))
	t.Logf("%d idle streams open; another client's %d entries processed in %s", n, tr.EntryCount(), time.Since(start))
	_, rss := procRSS(t, m.cmd.Process.Pid)
	t.Logf("peak RSS with %d streams: %.0f MiB", n, rss)
	assert.Less(t, rss, 1024.0, "idle streams hold no buffers")

	// The streams stay open, and referenced, until here.
	runtime.KeepAlive(streams)
	cancel()
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_active_streams{service="als"}`)
		return err == nil && v[0] == 0
	}, 30*time.Second, 100*time.Millisecond)
	assert.InDelta(t, n, m.metric(t, `meshlens_receiver_streams_ended_total{reason="aborted",service="als"}`), 0)
}
