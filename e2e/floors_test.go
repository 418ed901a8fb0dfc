package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"

	"github.com/meshlens/meshlens/loadgen"
)

// floorServer is a bare AccessLogService server that drops every message
// unread: the test that is its process, and the variable carrying its
// address.
type floorServer struct{ name, test, env string }

// floorServers are the receive paths whose floors TestE2ERealistic
// measures: grpc-go's (meshlens's, ADR 0008), one goroutine per connection
// reading HTTP/2 frames and dropping each message where it is read, and one
// event loop reading every connection after a 10 ms sleep.
var floorServers = []floorServer{
	{"grpc-go", "TestDiscardServer", discardServerEnv},
	{"goroutine per connection", "TestDiscardH2Server", h2DiscardServerEnv},
	{"epoll event loop, 10 ms", "TestDiscardEpollServer", epollServerEnv},
}

// floor is a server's CPU per entry in the realistic regime and flat out.
type floor struct {
	server     floorServer
	real, flat float64
}

// floorNs sends traffic on streams connections to srv, in a process of its
// own, and returns the server's CPU per entry from warm after the start
// (the steady state; 0: all of it) until the last stream ended.
func floorNs(t *testing.T, srv floorServer, traffic *loadgen.ForeignTraffic, streams int, warm time.Duration) float64 {
	t.Helper()
	addr, p := startFloorServer(t, srv)
	defer stopLogged(t, srv.name, p)
	pid := p.cmd.Process.Pid
	conn, closeAll := dialConns(t, addr, streams)
	defer closeAll()
	cpu0, _ := procStat(t, pid)
	wait := sendInBackground(traffic, conn)
	if warm > 0 {
		time.Sleep(warm)
		cpu0, _ = procStat(t, pid)
	}
	sent, err := wait()
	require.NoError(t, err)
	require.EqualValues(t, traffic.EntryCount(), sent.Entries, "%s: entries sent", srv.name)
	if warm > 0 {
		time.Sleep(100 * time.Millisecond) // the last messages are handled within milliseconds
	}
	cpu1, _ := procStat(t, pid)
	// The entries of the steady state: about all but the first warm's
	// worth (the server counts none), the same share as meshlens's.
	entries := float64(traffic.EntryCount()) * (1 - warm.Seconds()/float64(traffic.Messages(0)))
	if warm == 0 {
		entries = float64(traffic.EntryCount())
	}
	return (cpu1 - cpu0) / entries * 1e9
}

// startFloorServer starts srv: this test binary, in a process of its own
// (pinned as meshlens is with MESHLENS_E2E_CPUS), listening on a free port
// it returns once the port accepts connections.
func startFloorServer(t *testing.T, srv floorServer) (string, *process) {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	addr := freePort(t)
	bin, args, env := pinned(exe, []string{"-test.run=^" + srv.test + "$", "-test.count=1", "-test.timeout=10m"},
		[]string{srv.env + "=" + addr})
	p := startProcess(t, srv.name, env, bin, args...)
	waitTCP(t, addr, 30*time.Second)
	return addr, p
}

// h2DiscardServerEnv carries the address TestDiscardH2Server listens on.
const h2DiscardServerEnv = "MESHLENS_E2E_H2_DISCARD_SERVER"

// TestDiscardH2Server is a server process, not a test of its own: the
// AccessLogService on HTTP/2 frames read by one goroutine per connection,
// each message dropped where it is read, window updates sent when half a
// window is consumed, writes flushed only when the read buffer is empty.
// It measures what a receive path without grpc-go's per-message hand-offs
// costs in the realistic regime (TestE2ERealistic).
func TestDiscardH2Server(t *testing.T) {
	addr := os.Getenv(h2DiscardServerEnv)
	if addr == "" {
		t.Skip("a server process of TestE2ERealistic")
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	lis, err := new(net.ListenConfig).Listen(t.Context(), "tcp", addr)
	require.NoError(t, err)
	go func() {
		<-stop
		_ = lis.Close()
	}()
	window := uint32(64 << 10)
	if n, err := strconv.Atoi(os.Getenv("MESHLENS_H2_WINDOW")); err == nil && n > 0 {
		window = uint32(n)
	}
	for {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		go serveH2Discard(c, window)
	}
}

// h2stream is a stream's progress through its gRPC messages.
type h2stream struct {
	unacked uint32 // bytes received and not yet given back in a WINDOW_UPDATE
	need    int    // bytes left of the message in progress
	prefix  int    // bytes of the 5-byte message prefix received so far
	length  [4]byte
}

func serveH2Discard(c net.Conn, window uint32) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 32<<10)
	bw := bufio.NewWriterSize(c, 4<<10)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(bw, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 16 << 10
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		return
	}
	// The connection's window: as many streams' windows as may be open.
	_ = fr.WriteWindowUpdate(0, 100*window-65535)
	var hbuf []byte
	enc := hpack.NewEncoder(sliceWriter{&hbuf})
	streams := map[uint32]*h2stream{}
	var connUnacked uint32
	for {
		if br.Buffered() == 0 {
			if bw.Flush() != nil {
				return
			}
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			streams[f.StreamID] = new(h2stream)
		case *http2.DataFrame:
			s := streams[f.StreamID]
			n := uint32(len(f.Data()))
			connUnacked += n
			if connUnacked >= 50*window {
				_ = fr.WriteWindowUpdate(0, connUnacked)
				connUnacked = 0
			}
			if s == nil {
				continue
			}
			s.consume(f.Data())
			if f.StreamEnded() {
				delete(streams, f.StreamID)
				hbuf = hbuf[:0]
				_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
				_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc"})
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hbuf, EndHeaders: true})
				_ = fr.WriteData(f.StreamID, false, make([]byte, 5)) // the empty response
				hbuf = hbuf[:0]
				_ = enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: "0"})
				_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hbuf, EndStream: true, EndHeaders: true})
				continue
			}
			s.unacked += n
			if s.unacked >= window/2 {
				_ = fr.WriteWindowUpdate(f.StreamID, s.unacked)
				s.unacked = 0
			}
		case *http2.RSTStreamFrame:
			delete(streams, f.StreamID)
		case *http2.GoAwayFrame:
			return
		}
	}
}

// consume walks the gRPC length-prefixed messages in p (prefixes may be
// split across frames), dropping them.
func (s *h2stream) consume(p []byte) {
	for len(p) > 0 {
		if s.need == 0 {
			if s.prefix > 0 {
				s.length[s.prefix-1] = p[0]
			}
			s.prefix++
			p = p[1:]
			if s.prefix == 5 {
				s.need, s.prefix = int(binary.BigEndian.Uint32(s.length[:])), 0
			}
			continue
		}
		k := min(s.need, len(p))
		s.need -= k
		p = p[k:]
	}
}

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

// epollServerEnv carries the address TestDiscardEpollServer listens on.
const epollServerEnv = "MESHLENS_E2E_EPOLL_DISCARD_SERVER"

// TestDiscardEpollServer is a server process, not a test of its own: the
// AccessLogService's frames read by one event loop over every connection
// (epoll, non-blocking sockets), which then sleeps for a tick
// (MESHLENS_EPOLL_TICK, default 10ms) so that one wake-up reads many
// connections' messages.
func TestDiscardEpollServer(t *testing.T) {
	addr := os.Getenv(epollServerEnv)
	if addr == "" {
		t.Skip("a server process of TestE2ERealistic")
	}
	tick := 10 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("MESHLENS_EPOLL_TICK")); err == nil {
		tick = d
	}
	ap, err := netip.ParseAddrPort(addr)
	require.NoError(t, err)
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	require.NoError(t, unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1))
	require.NoError(t, unix.Bind(lfd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}))
	require.NoError(t, unix.Listen(lfd, 4096))
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	require.NoError(t, err)
	require.NoError(t, unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}))
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	conns := map[int32]*epollConn{}
	events := make([]unix.EpollEvent, 1024)
	for {
		select {
		case <-stop:
			return
		default:
		}
		start := time.Now()
		n, err := unix.EpollWait(epfd, events, 200)
		if err != nil && err != unix.EINTR {
			t.Fatal(err)
		}
		for _, ev := range events[:max(n, 0)] {
			if ev.Fd == int32(lfd) {
				for {
					fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					conns[int32(fd)] = newEpollConn(fd)
					_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)})
				}
				continue
			}
			c := conns[ev.Fd]
			if c == nil || !c.read() {
				_ = unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
				_ = unix.Close(int(ev.Fd))
				delete(conns, ev.Fd)
			}
		}
		if n > 0 {
			time.Sleep(tick - time.Since(start))
		}
	}
}

// epollConn is one connection's read buffer, write buffer and streams.
type epollConn struct {
	fd        int
	in, out   []byte
	preface   bool
	streams   map[uint32]*h2stream
	unackedC  uint32
	window    uint32
	respHead  []byte
	respTrail []byte
}

func newEpollConn(fd int) *epollConn {
	c := &epollConn{fd: fd, in: make([]byte, 0, 64<<10), streams: map[uint32]*h2stream{}, window: 64 << 10}
	var b []byte
	enc := hpack.NewEncoder(sliceWriter{&b})
	_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200", Sensitive: true})
	_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc", Sensitive: true})
	c.respHead = append([]byte(nil), b...)
	b = b[:0]
	_ = enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: "0", Sensitive: true})
	c.respTrail = append([]byte(nil), b...)
	// SETTINGS: max concurrent streams 100, initial window; the connection's window.
	c.frame(0x4, 0, 0, []byte{0, 3, 0, 0, 0, 100, 0, 4, byte(c.window >> 24), byte(c.window >> 16), byte(c.window >> 8), byte(c.window)})
	c.windowUpdate(0, 100*c.window-65535)
	return c
}

func (c *epollConn) frame(typ, flags byte, stream uint32, payload []byte) {
	n := len(payload)
	c.out = append(c.out, byte(n>>16), byte(n>>8), byte(n), typ, flags, byte(stream>>24), byte(stream>>16), byte(stream>>8), byte(stream))
	c.out = append(c.out, payload...)
}

func (c *epollConn) windowUpdate(stream, n uint32) {
	c.frame(0x8, 0, stream, []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// read reads what the socket has, handles every whole frame and writes the
// answers; false when the connection is done.
func (c *epollConn) read() bool {
	if cap(c.in)-len(c.in) < 16<<10 {
		c.in = append(make([]byte, 0, 2*cap(c.in)), c.in...)
	}
	n, err := unix.Read(c.fd, c.in[len(c.in):cap(c.in)])
	if n <= 0 {
		return err == unix.EAGAIN
	}
	c.in = c.in[:len(c.in)+n]
	p := c.in
	if !c.preface {
		if len(p) < len(http2.ClientPreface) {
			return true
		}
		p = p[len(http2.ClientPreface):]
		c.preface = true
	}
	for len(p) >= 9 {
		size := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
		if len(p) < 9+size {
			break
		}
		typ, flags := p[3], p[4]
		stream := binary.BigEndian.Uint32(p[5:9]) & 0x7fffffff
		payload := p[9 : 9+size]
		p = p[9+size:]
		switch typ {
		case 0x0: // DATA
			data := payload
			if flags&0x8 != 0 && len(data) > 0 { // padded
				data = data[1 : len(data)-int(data[0])]
			}
			c.unackedC += uint32(size)
			if c.unackedC >= 50*c.window {
				c.windowUpdate(0, c.unackedC)
				c.unackedC = 0
			}
			s := c.streams[stream]
			if s == nil {
				continue
			}
			s.consume(data)
			if flags&0x1 != 0 {
				delete(c.streams, stream)
				c.frame(0x1, 0x4, stream, c.respHead)
				c.frame(0x0, 0, stream, make([]byte, 5))
				c.frame(0x1, 0x5, stream, c.respTrail)
				continue
			}
			s.unacked += uint32(size)
			if s.unacked >= c.window/2 {
				c.windowUpdate(stream, s.unacked)
				s.unacked = 0
			}
		case 0x1: // HEADERS (the decoder's table is not kept: discard only)
			c.streams[stream] = new(h2stream)
		case 0x3: // RST_STREAM
			delete(c.streams, stream)
		case 0x4: // SETTINGS
			if flags&0x1 == 0 {
				c.frame(0x4, 0x1, 0, nil)
			}
		case 0x6: // PING
			if flags&0x1 == 0 {
				c.frame(0x6, 0x1, 0, payload)
			}
		case 0x7: // GOAWAY
			return false
		}
	}
	c.in = append(c.in[:0], p...)
	if len(c.out) > 0 {
		if _, err := unix.Write(c.fd, c.out); err != nil && err != unix.EAGAIN {
			return false
		}
		c.out = c.out[:0]
	}
	return true
}
