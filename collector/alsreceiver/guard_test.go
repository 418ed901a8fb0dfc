package alsreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// chunkConn is a net.Conn that reads a fixed byte stream in chunks of a
// given size.
type chunkConn struct {
	net.Conn
	r     *bytes.Reader
	chunk int
}

func (c *chunkConn) Read(p []byte) (int, error) { return c.r.Read(p[:min(len(p), c.chunk)]) }
func (c *chunkConn) RemoteAddr() net.Addr       { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// h2frame encodes one HTTP/2 frame.
func h2frame(typ, flags byte, sid uint32, payload []byte) []byte {
	b := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[5:], sid)
	return append(b, payload...)
}

// TestTrackedConnParses feeds a client byte stream through trackedConn in
// chunks of every size from 1 byte to all of it: gRPC gets every byte, in
// order, never past the header block that opens a stream before it has
// opened it, and the guard ends up with exactly the bytes of the
// unfinished message charged.
func TestTrackedConnParses(t *testing.T) {
	msgA := grpcFrame(bytes.Repeat([]byte{'a'}, 10), 10)         // whole, in one frame
	msgB := grpcFrame(bytes.Repeat([]byte{'b'}, 10), 10)         // split over two frames
	empty := grpcFrame(nil, 0)                                   // a zero-length message
	big := grpcFrame(bytes.Repeat([]byte{'c'}, 50), 100)         // announces 100, sends 50
	padded := append(append([]byte{4}, msgB[8:]...), 0, 0, 0, 0) // pad length 4
	var in []byte
	var opens []int // offsets right after each header block that opens a stream
	in = append(in, http2.ClientPreface...)
	in = append(in, h2frame(0x4, 0, 0, nil)...) // SETTINGS
	in = append(in, h2frame(frameHeaders, flagEndHeaders, 1, []byte{0x82, 0x86})...)
	opens = append(opens, len(in))
	in = append(in, h2frame(frameData, 0, 1, append(append([]byte{}, msgA...), msgB[:8]...))...)
	in = append(in, h2frame(frameData, flagPadded, 1, padded)...)
	in = append(in, h2frame(frameHeaders, 0, 3, []byte{0x82})...)
	in = append(in, h2frame(frameContinuation, flagEndHeaders, 3, []byte{0x86})...)
	opens = append(opens, len(in))
	in = append(in, h2frame(frameData, 0, 3, append(append([]byte{}, empty...), big...))...)
	in = append(in, h2frame(frameData, 0, 5, []byte{1, 2, 3})...) // a stream never opened: ignored

	for chunk := 1; chunk <= len(in); chunk++ {
		g := newGuard(time.Now, 1<<20, time.Hour, time.Hour, time.Hour)
		c := newTrackedConn(&chunkConn{r: bytes.NewReader(in), chunk: chunk}, g)
		var out []byte
		tracks := map[uint32]*streamTrack{}
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			out = append(out, buf[:n]...)
			if c.lastOpened != 0 && tracks[c.lastOpened] == nil {
				// What gRPC's tap handle does on the reader goroutine.
				require.Contains(t, opens, len(out), "chunk %d: stream %d opened after %d bytes", chunk, c.lastOpened, len(out))
				tracks[c.lastOpened] = trackOf(g.open(context.Background(), c))
			}
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
		}
		require.Equal(t, in, out, "chunk %d", chunk)
		require.Len(t, tracks, 2, "chunk %d", chunk)
		assert.Zero(t, tracks[1].charged.Load(), "chunk %d: stream 1's messages are whole", chunk)
		assert.Zero(t, tracks[1].msgStart.Load(), "chunk %d", chunk)
		assert.Equal(t, int64(len(big)), tracks[3].charged.Load(), "chunk %d: stream 3's message is unfinished", chunk)
		assert.NotZero(t, tracks[3].msgStart.Load(), "chunk %d", chunk)
		assert.Equal(t, int64(len(big)), g.inflight.Load(), "chunk %d", chunk)
		for _, s := range tracks {
			s.cancel(nil)
		}
		require.Eventually(t, func() bool { return g.inflight.Load() == 0 }, time.Second, time.Millisecond, "ended streams give their bytes back")
	}
}

// stallingClient opens gRPC calls over real HTTP/2 (net/http's, which
// honours flow control and opens connections as max_concurrent_streams
// requires) that send the first bytes of a message
// of a given length and then nothing more, until the test ends.
type stallingClient struct {
	tr   *http.Transport
	addr string
	wg   sync.WaitGroup
	stop chan struct{}
	mu   sync.Mutex
	errs []error // how the server ended each call
}

func newStallingClient(t *testing.T, addr string) *stallingClient {
	t.Helper()
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC clients speak it
	c := &stallingClient{addr: addr, stop: make(chan struct{}), tr: &http.Transport{Protocols: protocols}}
	t.Cleanup(func() {
		close(c.stop)
		c.tr.CloseIdleConnections()
		c.wg.Wait()
	})
	return c
}

// open starts a call announcing a message of announce bytes and sending
// send of them (send < 0: not even the prefix).
func (c *stallingClient) open(announce, send int) {
	pr, pw := io.Pipe()
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		if send >= 0 {
			body := grpcFrame(bytes.Repeat([]byte{'x'}, send), announce)
			if _, err := pw.Write(body); err != nil {
				return
			}
		}
		<-c.stop
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-c.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.addr+"/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", pr)
		if err != nil {
			return
		}
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		resp, err := c.tr.RoundTrip(req)
		if err != nil {
			c.record(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		st := resp.Header.Get("grpc-status")
		if st == "" {
			st = resp.Trailer.Get("grpc-status")
		}
		c.record(status.Errorf(codesFrom(st), "%s", resp.Trailer.Get("grpc-message")+resp.Header.Get("grpc-message")))
	}()
}

func codesFrom(s string) codes.Code {
	var c codes.Code
	if err := c.UnmarshalJSON([]byte(s)); err != nil {
		return codes.Unknown
	}
	return c
}

func (c *stallingClient) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *stallingClient) ended(code codes.Code) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, err := range c.errs {
		if status.Code(err) == code {
			n++
		}
	}
	return n
}

// TestStalledMessagesBoundedByBudget: 40 streams each announce a 256 KiB
// message, send all of it but its last byte and stall (10 MiB wanted).
// The bytes being received never exceed the 1 MiB budget by more than the
// read that crossed it, the streams with
// the oldest unfinished messages are ended (RESOURCE_EXHAUSTED, counted),
// and a real stream is served meanwhile.
func TestStalledMessagesBoundedByBudget(t *testing.T) {
	const n, size = 40, 256 << 10
	_, hub, addr := startReceiver(t, func(c *Config) {
		c.GRPC.MaxRecvMsgSizeMiB = 1
		c.ReceiveBudgetMiB = 1
	})
	attack := newStallingClient(t, addr)
	for range n {
		attack.open(size, size-1)
	}
	peak := 0.0
	require.Eventually(t, func() bool {
		peak = max(peak, counter(t, hub.reg, "meshlens_receiver_receiving_bytes"))
		return counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "receive_budget") >= n-4
	}, 20*time.Second, 5*time.Millisecond)
	// The read that takes the total over the budget is counted before
	// the oldest streams are ended: one read (gRPC's 32 KiB read buffer)
	// on the attack's one connection may be over it meanwhile, as
	// docs/operations.md's memory bound counts it.
	// On the event loops, a read is up to 64 KiB, and each loop may add
	// one before it sheds (evloop.go).
	read := 32 << 10
	if onEventLoop {
		read = runtime.GOMAXPROCS(0) * 64 << 10
	}
	assert.LessOrEqual(t, peak, float64(1<<20+read), "bytes being received stay within the budget and one read")
	assert.Positive(t, peak)
	require.Eventually(t, func() bool { return attack.ended(codes.Canceled) >= n-4 }, 5*time.Second, 10*time.Millisecond,
		"the client sees its stream end")

	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	require.NoError(t, sendRaw(t, dial(t, addr), "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg))
	assert.Equal(t, 1, hub.count(), "a real stream is served")
	checkAccounting(t, hub.reg)
}

// TestTimeouts: a message that stalls is ended after message_timeout, a
// stream that sends nothing after stream_idle_timeout, each counted by
// reason and answered with its status; a stream that keeps sending lives on.
func TestTimeouts(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) {
		c.MessageTimeout = 300 * time.Millisecond
		c.StreamIdleTimeout = 600 * time.Millisecond
	})
	attack := newStallingClient(t, addr)
	attack.open(1000, 10) // a message that never finishes
	attack.open(0, -1)    // a stream that never sends a byte

	// A real client that sends a message, then goes quiet: idle.
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	quiet, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	require.NoError(t, quiet.Send(loadALS(t, "envoy-ingress.json")))
	// A real client that sends every 100 ms: never idle.
	busy, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	later := loadALS(t, "envoy-ingress.json")
	require.NoError(t, busy.Send(later))
	later.Identifier = nil
	stop := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(stop) {
		require.NoError(t, busy.Send(later))
		time.Sleep(100 * time.Millisecond)
	}
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "message_timeout"), 0)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "idle_timeout"), 0)
	assert.Equal(t, 2, attack.ended(codes.Canceled), "the clients see their streams end")
	_, err = quiet.CloseAndRecv()
	assert.Equal(t, codes.Canceled, status.Code(err), "%v", err)
	_, err = busy.CloseAndRecv()
	require.NoError(t, err, "the busy stream was not ended")
	assert.InDelta(t, 0, counter(t, hub.reg, "meshlens_receiver_receiving_bytes"), 0)
	checkAccounting(t, hub.reg)
}

// TestIdleStreamMakesRoom: at max_streams, a new stream replaces the stream
// that has sent nothing longest, once it has been quiet evictIdleAfter
// (counted idle_evicted); streams that sent something recently are never
// replaced, and a new stream is then refused as before (stream_limit).
func TestIdleStreamMakesRoom(t *testing.T) {
	_, hub, addr := startReceiverWith(t, func(c *Config) {
		c.MaxStreams = 3
		c.MessageTimeout = 100 * time.Millisecond // sweeps every 20 ms
	}, func(r *alsReceiver) { r.evictIdleAfter = 300 * time.Millisecond })
	attack := newStallingClient(t, addr)
	for range 3 {
		attack.open(0, -1)
	}
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_active_streams", "service", "als") == 3
	}, 5*time.Second, 5*time.Millisecond)
	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	conn := dial(t, addr)
	// Too early: the idle streams are younger than evictIdleAfter.
	err = sendRaw(t, conn, "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	time.Sleep(400 * time.Millisecond)
	// Three real streams take the idle streams' places and stay open.
	client := alsv3.NewAccessLogServiceClient(conn)
	var admitted []alsv3.AccessLogService_StreamAccessLogsClient
	for i := range 3 {
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Send(loadALS(t, "envoy-ingress.json")))
		require.Eventually(t, func() bool { return hub.count() == i+1 }, 5*time.Second, 5*time.Millisecond, "stream %d admitted", i)
		admitted = append(admitted, s)
	}
	require.Eventually(t, func() bool { return attack.ended(codes.Canceled) == 3 }, 5*time.Second, 10*time.Millisecond)
	// The real streams sent within evictIdleAfter: a fourth is refused.
	err = sendRaw(t, conn, "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg)
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	for _, s := range admitted {
		_, err := s.CloseAndRecv()
		require.NoError(t, err)
	}
	assert.InDelta(t, 3, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "idle_evicted"), 0)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "stream_limit"), 0)
	checkAccounting(t, hub.reg)
}

// TestMaxConcurrentStreamsDefault: the server announces 100 streams per
// connection (gRPC's default is unlimited).
func TestMaxConcurrentStreamsDefault(t *testing.T) {
	_, _, addr := startReceiver(t, nil)
	_, fr := rawStream(t, addr)
	for {
		f, err := fr.ReadFrame()
		require.NoError(t, err)
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			v, ok := s.Value(http2.SettingMaxConcurrentStreams)
			require.True(t, ok, "SETTINGS_MAX_CONCURRENT_STREAMS is announced")
			assert.Equal(t, uint32(100), v)
			return
		}
	}
}

// BenchmarkTrackedConnRead measures what reading a connection through the
// guard adds: 64 KiB reads of 16 KiB DATA frames carrying ~16 KiB
// messages (Envoy's default buffer_size_bytes), one stream.
func BenchmarkTrackedConnRead(b *testing.B) {
	msg := grpcFrame(bytes.Repeat([]byte{'m'}, 16<<10-5), 16<<10-5)
	frame := h2frame(frameData, 0, 1, msg)
	var stream []byte
	for range 64 {
		stream = append(stream, frame...)
	}
	prefix := append([]byte(http2.ClientPreface), h2frame(frameHeaders, flagEndHeaders, 1, []byte{0x82})...)
	g := newGuard(time.Now, 1<<30, time.Hour, time.Hour, time.Hour)
	src := &loopReader{head: prefix, body: stream}
	c := newTrackedConn(&chunkConn{r: bytes.NewReader(nil), chunk: 1 << 20}, g)
	c.Conn = src
	buf := make([]byte, 64<<10)
	for c.lastOpened == 0 {
		_, _ = c.Read(buf)
	}
	s := trackOf(g.open(context.Background(), c))
	defer s.cancel(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// loopReader is a net.Conn whose reads return head once, then body over
// and over.
type loopReader struct {
	net.Conn
	head, body []byte
	off        int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(l.head) > 0 {
		n := copy(p, l.head)
		l.head = l.head[n:]
		return n, nil
	}
	n := copy(p, l.body[l.off:])
	l.off = (l.off + n) % len(l.body)
	return n, nil
}

func (l *loopReader) RemoteAddr() net.Addr { return &net.TCPAddr{} }

// FuzzTrackedConn feeds arbitrary bytes after the HTTP/2 preface through
// the receiver's frame parser, in chunks of any size, opening a stream
// wherever the parser stops for one as gRPC would: the bytes reach gRPC
// unchanged and whole, the parser never panics, the bytes charged to the
// receive budget are never negative, and they all come back once the
// streams end.
func FuzzTrackedConn(f *testing.F) {
	msg := grpcFrame(bytes.Repeat([]byte{'a'}, 10), 20)
	f.Add(append(h2frame(frameHeaders, flagEndHeaders, 1, []byte{0x82}), h2frame(frameData, 0, 1, msg)...), uint8(7))
	f.Add(append(h2frame(frameHeaders, 0, 3, nil), h2frame(frameContinuation, flagEndHeaders, 3, nil)...), uint8(1))
	f.Add(h2frame(frameData, flagPadded, 1, []byte{200, 1, 2}), uint8(2))
	f.Fuzz(func(t *testing.T, frames []byte, chunk uint8) {
		in := append([]byte(http2.ClientPreface), frames...)
		g := newGuard(time.Now, 1<<30, time.Hour, time.Hour, time.Hour)
		c := newTrackedConn(&chunkConn{r: bytes.NewReader(in), chunk: int(chunk%64) + 1}, g)
		var out []byte
		var tracks []*streamTrack
		opened := map[uint32]bool{}
		buf := make([]byte, 48)
		for len(out) <= len(in) {
			n, err := c.Read(buf)
			out = append(out, buf[:n]...)
			if c.lastOpened != 0 && !opened[c.lastOpened] {
				opened[c.lastOpened] = true
				tracks = append(tracks, trackOf(g.open(context.Background(), c)))
			}
			if g.inflight.Load() < 0 {
				t.Fatalf("negative bytes charged: %d", g.inflight.Load())
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(in, out) {
			t.Fatalf("gRPC got %d bytes, the client sent %d", len(out), len(in))
		}
		for _, s := range tracks {
			s.cancel(nil)
		}
		deadline := time.Now().Add(time.Second)
		for g.inflight.Load() != 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if g.inflight.Load() != 0 {
			t.Fatalf("%d bytes still charged after every stream ended", g.inflight.Load())
		}
	})
}

// TestNoChargeAfterTheStreamEnds: the rest of a DATA frame that arrives
// after its stream ended (the handler refused it, the client reset it) is
// not charged to the budget for good: every byte charged comes back
// exactly once, however the end and the frame's bytes interleave.
func TestNoChargeAfterTheStreamEnds(t *testing.T) {
	msg := grpcFrame(bytes.Repeat([]byte{'x'}, 1000), 4<<20) // announces 4 MiB, sends 1,000 bytes
	in := append([]byte(http2.ClientPreface), h2frame(frameHeaders, flagEndHeaders, 1, []byte{0x82})...)
	in = append(in, h2frame(frameData, 0, 1, msg)...)
	for _, ended := range []string{"cancelled", "ended by the guard"} {
		t.Run(ended, func(t *testing.T) {
			g := newGuard(time.Now, 1<<30, time.Hour, time.Hour, time.Hour)
			c := newTrackedConn(&chunkConn{r: bytes.NewReader(in), chunk: 64}, g)
			var track *streamTrack
			buf := make([]byte, 64)
			read, done := 0, false
			for {
				n, err := c.Read(buf)
				read += n
				if c.lastOpened != 0 && track == nil {
					track = trackOf(g.open(context.Background(), c))
				}
				if track != nil && !done && track.charged.Load() > 0 && read < len(in)-200 {
					done = true
					// The stream ends with most of the frame still to come.
					if ended == "cancelled" {
						track.cancel(nil)
						require.Eventually(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.tracks) == 0 }, time.Second, time.Millisecond)
					} else {
						g.end(track, endReceiveBudget)
					}
				}
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
			}
			require.NotNil(t, track)
			track.cancel(nil)
			require.Eventually(t, func() bool { return g.inflight.Load() == 0 }, time.Second, time.Millisecond,
				"bytes still charged: %d", g.inflight.Load())
		})
	}
}
