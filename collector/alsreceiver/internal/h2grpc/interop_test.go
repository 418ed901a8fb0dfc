package h2grpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The interop tests put a real grpc-go client (go-control-plane's ALS v3
// client) in front of a Conn driven by testAdapter over loopback TCP.

// testServer is the Handler side of the tests: it decodes every message as
// an ALS StreamAccessLogsMessage, like the receiver would.
type testServer struct {
	mu      sync.Mutex
	entries map[string]int // per node id
	bytes   int
	ends    map[EndReason]int
	open    int
	// reject, when set, answers a message whose node id it names.
	reject string
}

func newTestServer() *testServer {
	return &testServer{entries: map[string]int{}, ends: map[EndReason]int{}}
}

// streamHandler is one connection's Handler; it keeps each stream's node id.
type streamHandler struct {
	s     *testServer
	nodes map[uint32]string
	msg   alsv3.StreamAccessLogsMessage
}

func (h *streamHandler) Open(_ uint32, hd *Headers) Status {
	switch {
	case hd.Path != alsPath:
		return Errorf(Unimplemented, "unknown method %s", hd.Path)
	case hd.Encoding != "" && hd.Encoding != "identity":
		return Errorf(Unimplemented, "grpc-encoding %s is not supported", hd.Encoding)
	}
	h.s.mu.Lock()
	h.s.open++
	h.s.mu.Unlock()
	return Status{}
}

func (h *streamHandler) Message(id uint32, msg []byte) Status {
	h.msg.Reset()
	if err := proto.Unmarshal(msg, &h.msg); err != nil {
		return Errorf(InvalidArgument, "malformed message: %v", err)
	}
	if n := h.msg.GetIdentifier().GetNode().GetId(); n != "" {
		h.nodes[id] = n
	}
	node := h.nodes[id]
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	if h.s.reject != "" && node == h.s.reject {
		return Status{Code: PermissionDenied, Message: "rejected " + node}
	}
	h.s.entries[node] += len(h.msg.GetHttpLogs().GetLogEntry())
	h.s.bytes += len(msg)
	return Status{}
}

func (h *streamHandler) End(id uint32, reason EndReason) {
	delete(h.nodes, id)
	h.s.mu.Lock()
	h.s.ends[reason]++
	h.s.open--
	h.s.mu.Unlock()
}

func (s *testServer) count(node string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[node]
}

func (s *testServer) ended(r EndReason) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ends[r]
}

// testAdapter serves a listener with one goroutine per connection that
// reads, feeds the Conn, runs queued commands, and writes the output: the
// shape of the event loop, without epoll.
type testAdapter struct {
	cfg   Config
	srv   *testServer
	ln    net.Listener
	wg    sync.WaitGroup
	cmds  chan func(c *Conn)
	mu    sync.Mutex
	errs  []error
	conns int // accepted
}

func startAdapter(t *testing.T, cfg Config, srv *testServer) *testAdapter {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	a := &testAdapter{cfg: cfg, srv: srv, ln: ln, cmds: make(chan func(*Conn), 16)}
	a.wg.Go(a.accept)
	t.Cleanup(func() { _ = ln.Close(); a.wg.Wait() })
	return a
}

func (a *testAdapter) accept() {
	for {
		nc, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		a.conns++
		a.mu.Unlock()
		a.wg.Go(func() { a.serve(nc) })
	}
}

func (a *testAdapter) serve(nc net.Conn) {
	defer nc.Close()
	h := &streamHandler{s: a.srv, nodes: map[uint32]string{}}
	c, err := NewConn(a.cfg, h)
	if err != nil {
		a.fail(err)
		return
	}
	buf := make([]byte, 64<<10)
	for {
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		n, rerr := nc.Read(buf)
		ferr := c.Feed(buf[:n], time.Now())
		select {
		case cmd := <-a.cmds:
			cmd(c)
		default:
		}
		if out := c.Output(); len(out) > 0 {
			k, werr := nc.Write(out)
			c.Written(k)
			if werr != nil {
				c.Close()
				return
			}
		}
		var ce *ConnError
		switch {
		case errors.As(ferr, &ce):
			if ce.Code != ErrCodeNo {
				a.fail(ferr)
			}
			return
		case c.Done():
			return
		case rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded):
			c.Close()
			return
		}
	}
}

func (a *testAdapter) fail(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

func (a *testAdapter) accepted() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conns
}

func (a *testAdapter) connErrors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.errs
}

func dial(t *testing.T, a *testAdapter) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+a.ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// alsMessage returns an ALS message with n HTTP entries carrying pad bytes
// each, the first of a stream identifying node.
func alsMessage(node string, first bool, n, pad int) *alsv3.StreamAccessLogsMessage {
	m := &alsv3.StreamAccessLogsMessage{}
	if first {
		m.Identifier = &alsv3.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: node}, LogName: "als"}
	}
	entries := make([]*accesslogv3.HTTPAccessLogEntry, n)
	for i := range entries {
		entries[i] = &accesslogv3.HTTPAccessLogEntry{
			CommonProperties: &accesslogv3.AccessLogCommon{UpstreamCluster: "outbound|9080||reviews.default.svc.cluster.local"},
			Request:          &accesslogv3.HTTPRequestProperties{Path: "/reviews/" + strings.Repeat("p", pad)},
		}
	}
	m.LogEntries = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries}}
	return m
}

// sendStream sends msgs messages of n entries on one stream and closes it.
func sendStream(ctx context.Context, cc *grpc.ClientConn, node string, msgs, n, pad int, opts ...grpc.CallOption) error {
	st, err := alsv3.NewAccessLogServiceClient(cc).StreamAccessLogs(ctx, opts...)
	if err != nil {
		return err
	}
	for i := range msgs {
		if err := st.Send(alsMessage(node, i == 0, n, pad)); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server answered: CloseAndRecv has its status
			}
			return err
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

func TestInterop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := newTestServer()
	a := startAdapter(t, Config{MaxRecvMsgSize: 4 << 20}, srv)
	cc := dial(t, a)

	t.Run("a stream of many messages", func(t *testing.T) {
		require.NoError(t, sendStream(ctx, cc, "many", 500, 20, 50))
		assert.Equal(t, 500*20, srv.count("many"))
	})
	t.Run("messages larger than a frame and than the window", func(t *testing.T) {
		// ~100 KiB and ~1.2 MiB messages: several frames, beyond the 64 KiB stream window.
		require.NoError(t, sendStream(ctx, cc, "large", 5, 1000, 100))
		require.NoError(t, sendStream(ctx, cc, "larger", 3, 4000, 300))
		assert.Equal(t, 5*1000, srv.count("large"))
		assert.Equal(t, 3*4000, srv.count("larger"))
	})
	t.Run("many concurrent streams on one connection", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, 64)
		for i := range errs {
			wg.Go(func() { errs[i] = sendStream(ctx, cc, fmt.Sprintf("conc-%d", i), 30, 10, 200) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "stream %d", i)
			assert.Equal(t, 300, srv.count(fmt.Sprintf("conc-%d", i)))
		}
	})
	t.Run("a message over MaxRecvMsgSize: RESOURCE_EXHAUSTED", func(t *testing.T) {
		err := sendStream(ctx, cc, "huge", 2, 12000, 400)
		assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	})
	t.Run("the handler refuses a message", func(t *testing.T) {
		srv.mu.Lock()
		srv.reject = "bad"
		srv.mu.Unlock()
		err := sendStream(ctx, cc, "bad", 3, 1, 0)
		assert.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		assert.Equal(t, "rejected bad", status.Convert(err).Message())
	})
	t.Run("an unknown method: UNIMPLEMENTED at Open", func(t *testing.T) {
		st, err := cc.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, "/envoy.service.accesslog.v2.AccessLogService/StreamAccessLogs")
		require.NoError(t, err)
		require.NoError(t, st.CloseSend())
		err = st.RecvMsg(&alsv3.StreamAccessLogsResponse{})
		assert.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
	})
	t.Run("gzip: UNIMPLEMENTED at Open", func(t *testing.T) {
		err := sendStream(ctx, cc, "gz", 2, 5, 10, grpc.UseCompressor(gzip.Name))
		assert.Equal(t, codes.Unimplemented, status.Code(err), "%v", err)
	})
	t.Run("the client cancels", func(t *testing.T) {
		before := srv.ended(EndPeerReset)
		cctx, ccancel := context.WithCancel(ctx)
		st, err := alsv3.NewAccessLogServiceClient(cc).StreamAccessLogs(cctx)
		require.NoError(t, err)
		require.NoError(t, st.Send(alsMessage("cancel", true, 5, 5)))
		require.Eventually(t, func() bool { return srv.count("cancel") == 5 }, 5*time.Second, 5*time.Millisecond)
		ccancel()
		require.Eventually(t, func() bool { return srv.ended(EndPeerReset) == before+1 }, 5*time.Second, 5*time.Millisecond)
	})
	t.Run("GoAway: the open stream completes, the next call takes a new connection", func(t *testing.T) {
		st, err := alsv3.NewAccessLogServiceClient(cc).StreamAccessLogs(ctx)
		require.NoError(t, err)
		require.NoError(t, st.Send(alsMessage("drain", true, 5, 5)))
		require.Eventually(t, func() bool { return srv.count("drain") == 5 }, 5*time.Second, 5*time.Millisecond)
		a.cmds <- func(c *Conn) { c.GoAway() }
		require.Eventually(t, func() bool { return len(a.cmds) == 0 }, 5*time.Second, 5*time.Millisecond)
		require.NoError(t, st.Send(alsMessage("drain", false, 5, 5)))
		_, err = st.CloseAndRecv()
		require.NoError(t, err)
		assert.Equal(t, 10, srv.count("drain"))
		conns := a.accepted()
		require.NoError(t, sendStream(ctx, cc, "after", 2, 5, 5))
		assert.Equal(t, 10, srv.count("after"))
		assert.Equal(t, conns+1, a.accepted())
	})
	assert.Empty(t, a.connErrors())
	srv.mu.Lock()
	assert.Zero(t, srv.open, "streams opened and not ended")
	srv.mu.Unlock()
}

// rawConn is a client that writes frames with x/net's Framer over TCP and
// reads what the server answers.
type rawConn struct {
	nc  net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func dialRaw(t *testing.T, a *testAdapter) *rawConn {
	t.Helper()
	nc, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", a.ln.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	r := &rawConn{nc: nc}
	r.fr = http2.NewFramer(nc, nc)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.hb)
	_, err = io.WriteString(nc, http2.ClientPreface)
	require.NoError(t, err)
	require.NoError(t, r.fr.WriteSettings())
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", alsPath}, {"content-type", "application/grpc"}} {
		require.NoError(t, r.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]}))
	}
	require.NoError(t, r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.hb.Bytes(), EndHeaders: true}))
	return r
}

// until reads frames until one satisfies f; it fails the test on EOF.
func (r *rawConn) until(t *testing.T, f func(http2.Frame) bool) {
	t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		fr, err := r.fr.ReadFrame()
		require.NoError(t, err)
		if f(fr) {
			return
		}
	}
}

func TestInteropPastTheWindow(t *testing.T) {
	t.Run("stream window: RST_STREAM FLOW_CONTROL_ERROR", func(t *testing.T) {
		srv := newTestServer()
		// Frames up to 1 MiB, so that one frame can overrun the 64 KiB stream window.
		a := startAdapter(t, Config{MaxFrameSize: 1 << 20}, srv)
		r := dialRaw(t, a)
		require.NoError(t, r.fr.WriteData(1, false, make([]byte, DefaultInitialWindowSize+1)))
		r.until(t, func(f http2.Frame) bool {
			rst, ok := f.(*http2.RSTStreamFrame)
			return ok && rst.StreamID == 1 && rst.ErrCode == http2.ErrCodeFlowControl
		})
		assert.Eventually(t, func() bool { return srv.ended(EndProtocolError) == 1 }, 5*time.Second, 5*time.Millisecond)
	})
	t.Run("connection window: GOAWAY FLOW_CONTROL_ERROR", func(t *testing.T) {
		srv := newTestServer()
		a := startAdapter(t, Config{MaxFrameSize: 1 << 20, InitialWindowSize: 1 << 20, ConnWindowSize: 1 << 17}, srv)
		r := dialRaw(t, a)
		require.NoError(t, r.fr.WriteData(1, false, make([]byte, 1<<17+1)))
		r.until(t, func(f http2.Frame) bool {
			ga, ok := f.(*http2.GoAwayFrame)
			return ok && ga.ErrCode == http2.ErrCodeFlowControl
		})
		assert.Eventually(t, func() bool { return srv.ended(EndConnClosed) == 1 }, 5*time.Second, 5*time.Millisecond)
		assert.Eventually(t, func() bool { return len(a.connErrors()) == 1 }, 5*time.Second, 5*time.Millisecond)
	})
}
