package alsreceiver

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// TestEventLoopMemoryWaitNotPerMessage: over memory_limit_mib, a loop
// waits for memory at most once a second between all loops (and the
// messages meanwhile are dropped, counted), not a second for each message
// one after the other, which held a loop 8 s for 8 streams. (On grpc-go
// each stream waits on its own goroutine.)
func TestEventLoopMemoryWaitNotPerMessage(t *testing.T) {
	if !onEventLoop {
		t.Skip("the event loops' wait (MESHLENS_TEST_EVENT_LOOP=1)")
	}
	_, hub, addr := startReceiverWith(t, nil, func(r *alsReceiver) { r.overMem.Store(true) })
	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	const k = 8
	conns := make([]*grpc.ClientConn, k)
	for i := range conns {
		conns[i] = dial(t, addr)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := conn.NewStream(context.Background(), alsDesc, "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", grpc.ForceCodecV2(rawClientCodec{}))
			if err != nil {
				return
			}
			_ = cs.SendMsg(&msg)
			_ = cs.CloseSend()
			_ = cs.RecvMsg(new(alsv3.StreamAccessLogsResponse))
		}()
	}
	wg.Wait()
	t.Logf("%d messages on %d streams, over the memory limit: %v; dropped %v", k, k, time.Since(start),
		counter(t, hub.reg, "meshlens_receiver_entries_dropped_total"))
	require.Less(t, time.Since(start), 2*time.Second)
}

// TestEventLoopCountsConnectionErrors: a client that does not speak HTTP/2
// gets its connection closed (GOAWAY), counted by error code; the test
// fails if the error is not counted.
func TestEventLoopCountsConnectionErrors(t *testing.T) {
	if !onEventLoop {
		t.Skip("the event loops' connection errors (MESHLENS_TEST_EVENT_LOOP=1)")
	}
	_, hub, addr := startReceiver(t, nil)
	c, err := new(net.Dialer).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("GET / HTTP/1.1\r\nHost: meshlens\r\n\r\n"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.ReadAll(c)
	require.NoError(t, err, "the server closes the connection")
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_connections_ended_total", "reason", "PROTOCOL_ERROR") == 1
	}, 5*time.Second, 10*time.Millisecond)
}
