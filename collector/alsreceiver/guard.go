package alsreceiver

import (
	"cmp"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"
)

// The guard bounds what open streams can hold, below gRPC, where grpc-go
// gives the receiver no hook: grpc-go reads a whole message before the
// handler sees it, and while it reads one it grants the sender flow-control
// window for all of it, so HTTP/2 windows bound nothing but the bytes queued
// after it. The guard therefore reads the client's side of every
// connection itself (trackedConn, inside TLS): it parses the HTTP/2 frame
// headers and, per stream, the 5-byte gRPC message prefixes in the DATA
// frames, so it knows for each stream when its current message began, how
// many of its bytes have arrived and when the stream last sent anything.
// Streams are tied to their HTTP/2 stream id by the tap handle, which gRPC
// calls on the connection's reader goroutine right after it has read the
// stream's HEADERS: trackedConn never hands gRPC bytes past the HEADERS that
// open a stream, so at that moment the last stream the tracker saw open is
// the one gRPC is opening.
//
// With that it enforces:
//   - the receive budget: bytes of messages begun and not yet complete, over
//     all streams (receive_budget_mib). When a frame takes the total over
//     it, the streams with the oldest unfinished messages are ended until
//     it is back under three quarters of it (reason receive_budget);
//   - message_timeout: a message must be complete that long after its first
//     byte (reason message_timeout);
//   - stream_idle_timeout: a stream that sends nothing that long is ended
//     (reason idle_timeout); Envoy opens a new one on its next flush;
//   - at max_streams, a new stream replaces the stream idle longest, when
//     that has sent nothing for evictIdleAfter (reason idle_evicted).
//
// A stream is ended by cancelling its context (the tap handle wraps it):
// the handler's RecvMsg returns, the partial message's buffers go back to
// the pool, and the handler answers with the status of the reason.

// defaultEvictIdleAfter is how long a stream must have sent nothing before
// a new stream may replace it at max_streams: twice Envoy's default stats
// flush interval (5 s); a busy ALS stream flushes every second.
const defaultEvictIdleAfter = 10 * time.Second

// endReason is why the guard ended a stream (0: it did not).
type endReason int32

const (
	endNone endReason = iota
	endIdleTimeout
	endMessageTimeout
	endReceiveBudget
	endIdleEvicted
)

var endReasonNames = [...]string{"", "idle_timeout", "message_timeout", "receive_budget", "idle_evicted"}

func (e endReason) String() string { return endReasonNames[e] }

// errGuardEnded is the cancellation cause of a stream the guard ended.
var errGuardEnded = errors.New("stream ended by the receiver's limits")

// streamTrack is the guard's view of one tracked stream. The gRPC message
// parser fields are owned by the connection's reader goroutine; the
// atomics are read by the sweeper and the handler.
type streamTrack struct {
	conn   *trackedConn
	id     uint32
	cancel context.CancelCauseFunc

	lastData atomic.Int64 // unix ns of the last DATA byte (or of the stream's opening)
	msgStart atomic.Int64 // unix ns of the first byte of the unfinished message; 0: none
	charged  atomic.Int64 // bytes of the unfinished message counted in guard.inflight
	reason   atomic.Int32 // endReason once the guard ended it
	closed   atomic.Bool  // untracked: its charge has left the budget for good

	// Reader goroutine only.
	pfx     int    // bytes of the 5-byte gRPC prefix seen
	msgLen  uint32 // length being read from the prefix
	left    uint32 // body bytes of the current message not yet seen
	msgSeen int64  // bytes (prefix included) of the unfinished message seen
}

// endedBy returns why the guard ended the stream (endNone if it did not).
// Nil-safe: untracked streams were never ended by the guard.
func (s *streamTrack) endedBy() endReason {
	if s == nil {
		return endNone
	}
	return endReason(s.reason.Load())
}

type trackKey struct{}

// trackOf returns the stream's track, or nil when the stream is untracked.
func trackOf(ctx context.Context) *streamTrack {
	s, _ := ctx.Value(trackKey{}).(*streamTrack)
	return s
}

// guard holds the tracked streams of one receiver.
type guard struct {
	now          func() time.Time
	budget       int64
	idleTimeout  time.Duration
	msgTimeout   time.Duration
	evictAfter   time.Duration
	trackMethods map[string]bool

	inflight atomic.Int64 // bytes of unfinished messages, all streams

	mu         sync.Mutex
	tracks     map[*streamTrack]struct{}
	candidates []*streamTrack // idle ≥ evictAfter at the last sweep, idle longest first
}

func newGuard(now func() time.Time, budget int64, idle, msg, evictAfter time.Duration, methods ...string) *guard {
	g := &guard{
		now: now, budget: budget, idleTimeout: idle, msgTimeout: msg, evictAfter: evictAfter,
		trackMethods: map[string]bool{}, tracks: map[*streamTrack]struct{}{},
	}
	for _, m := range methods {
		g.trackMethods[m] = true
	}
	return g
}

// tap is the gRPC server's InTapHandle: it runs on the connection's reader
// goroutine when a stream's headers have been read, before its handler
// starts, and gives the stream a context the guard can cancel.
func (g *guard) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if !g.trackMethods[info.FullMethodName] {
		return ctx, nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ctx, nil
	}
	a, ok := p.Addr.(trackedAddr)
	if !ok {
		return ctx, nil
	}
	return g.open(ctx, a.conn), nil
}

// open tracks the stream whose headers conn last handed to gRPC.
func (g *guard) open(ctx context.Context, c *trackedConn) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &streamTrack{conn: c, id: c.lastOpened, cancel: cancel}
	s.lastData.Store(g.now().UnixNano())
	c.mu.Lock()
	c.streams[s.id] = s
	c.mu.Unlock()
	g.mu.Lock()
	g.tracks[s] = struct{}{}
	g.mu.Unlock()
	// The stream's context is cancelled however the stream ends (handler
	// returned, client reset, connection closed).
	context.AfterFunc(ctx, func() { g.untrack(s) })
	return context.WithValue(ctx, trackKey{}, s)
}

func (g *guard) untrack(s *streamTrack) {
	s.conn.mu.Lock()
	if s.conn.streams[s.id] == s {
		delete(s.conn.streams, s.id)
	}
	s.conn.mu.Unlock()
	g.mu.Lock()
	delete(g.tracks, s)
	g.mu.Unlock()
	s.closed.Store(true) // before the swap: receive gives back what it adds after it
	g.inflight.Add(-s.charged.Swap(0))
}

// end ends a stream for a reason, once: its charge leaves the budget now
// (its buffers are freed as soon as its handler returns, which counts it).
func (g *guard) end(s *streamTrack, why endReason) bool {
	if !s.reason.CompareAndSwap(int32(endNone), int32(why)) {
		return false
	}
	g.inflight.Add(-s.charged.Swap(0))
	s.cancel(errGuardEnded)
	return true
}

// receive accounts for data bytes of one DATA frame of stream s.
func (g *guard) receive(s *streamTrack, d []byte, now int64) {
	if s.reason.Load() != int32(endNone) || s.closed.Load() {
		return // being ended or gone: gRPC drops what still arrives
	}
	s.lastData.Store(now)
	delta := int64(0)
	for len(d) > 0 {
		if s.left == 0 {
			// In the prefix: compressed flag, then a big-endian length.
			if s.pfx == 0 {
				s.msgStart.Store(now)
				s.msgLen = 0
			} else {
				s.msgLen = s.msgLen<<8 | uint32(d[0])
			}
			s.pfx++
			s.msgSeen++
			delta++
			d = d[1:]
			if s.pfx < 5 {
				continue
			}
			s.pfx = 0
			if s.msgLen > 0 {
				s.left = s.msgLen
				continue
			}
		} else {
			k := min(uint32(len(d)), s.left)
			s.left -= k
			s.msgSeen += int64(k)
			delta += int64(k)
			d = d[k:]
			if s.left > 0 {
				continue
			}
		}
		// The message is complete: it leaves the budget.
		delta -= s.msgSeen
		s.msgSeen = 0
		s.msgStart.Store(0)
	}
	if delta == 0 {
		return
	}
	s.charged.Add(delta)
	total := g.inflight.Add(delta)
	if s.closed.Load() || s.reason.Load() != int32(endNone) {
		// Ended or untracked meanwhile (on another goroutine): what it
		// gave back may not include this; give back the rest now. The
		// swaps make each byte leave the budget exactly once.
		g.inflight.Add(-s.charged.Swap(0))
		return
	}
	if total > g.budget && delta > 0 {
		g.shed()
	}
}

// shed ends the streams with the oldest unfinished messages until the bytes
// being received are under three quarters of the budget.
func (g *guard) shed() {
	g.mu.Lock()
	var open []stamped
	for s := range g.tracks {
		if start := s.msgStart.Load(); start != 0 && s.reason.Load() == int32(endNone) {
			open = append(open, stamped{s, start})
		}
	}
	g.mu.Unlock()
	// Sorted by the times read once: the atomics change meanwhile.
	slices.SortFunc(open, func(a, b stamped) int { return cmp.Compare(a.at, b.at) })
	low := g.budget - g.budget/4
	for _, o := range open {
		s := o.s
		if g.inflight.Load() <= low {
			return
		}
		g.end(s, endReceiveBudget)
	}
}

// stamped is a stream with a time read once from one of its atomics.
type stamped struct {
	s  *streamTrack
	at int64
}

// sweep ends streams past message_timeout or stream_idle_timeout and lists
// those idle long enough to be replaced at max_streams.
func (g *guard) sweep() {
	now := g.now().UnixNano()
	var expired []*streamTrack
	var why []endReason
	var idle []stamped
	g.mu.Lock()
	for s := range g.tracks {
		if s.reason.Load() != int32(endNone) {
			continue
		}
		if start := s.msgStart.Load(); start != 0 {
			if time.Duration(now-start) > g.msgTimeout {
				expired, why = append(expired, s), append(why, endMessageTimeout)
			}
			continue
		}
		last := s.lastData.Load()
		quiet := time.Duration(now - last)
		switch {
		case quiet > g.idleTimeout:
			expired, why = append(expired, s), append(why, endIdleTimeout)
		case quiet >= g.evictAfter:
			idle = append(idle, stamped{s, last})
		}
	}
	slices.SortFunc(idle, func(a, b stamped) int { return cmp.Compare(a.at, b.at) })
	g.candidates = g.candidates[:0]
	for _, o := range idle {
		g.candidates = append(g.candidates, o.s)
	}
	g.mu.Unlock()
	for i, s := range expired {
		g.end(s, why[i])
	}
}

// evictIdle ends the stream idle longest, if one has sent nothing for
// evictAfter, to make room for a new stream. It reports whether it did.
func (g *guard) evictIdle() bool {
	now := g.now().UnixNano()
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.candidates) > 0 {
		s := g.candidates[0]
		g.candidates[0] = nil
		g.candidates = g.candidates[1:]
		if _, open := g.tracks[s]; !open || s.msgStart.Load() != 0 ||
			time.Duration(now-s.lastData.Load()) < g.evictAfter {
			continue
		}
		if g.end(s, endIdleEvicted) {
			return true
		}
	}
	return false
}

// sweepEvery is how often the sweeper runs for the timeouts it enforces.
func (g *guard) sweepEvery() time.Duration {
	return min(max(min(g.idleTimeout, g.msgTimeout)/5, 10*time.Millisecond), time.Second)
}

// receiving returns the bytes of unfinished messages, all streams.
func (g *guard) receiving() float64 { return float64(g.inflight.Load()) }

// trackedAddr is the remote address of a trackedConn: gRPC puts it in the
// stream's peer, where the tap handle finds the connection.
type trackedAddr struct {
	net.Addr
	conn *trackedConn
}

// HTTP/2 frame types and flags the tracker reads (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	frameContinuation = 0x9
	flagEndHeaders    = 0x4
	flagPadded        = 0x8
	prefaceLen        = 24 // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
)

// trackedConn is a server connection whose client-to-server bytes the
// guard parses on their way to gRPC (see the top of this file).
type trackedConn struct {
	net.Conn
	g    *guard
	addr trackedAddr

	mu      sync.Mutex
	streams map[uint32]*streamTrack

	// Reader goroutine only.
	hold       []byte // bytes read but not yet handed to gRPC
	holdOff    int
	holdErr    error
	preface    int
	hdr        [9]byte
	hdrN       int
	typ, flags byte
	sid        uint32
	left       uint32 // payload bytes of the current frame not yet seen
	padLen     int    // DATA: padding at the end of the payload; -1: pad length byte not yet seen
	cur        *streamTrack
	lastOpened uint32 // id of the last stream whose HEADERS were handed to gRPC
	maxSID     uint32
	opening    bool // a new stream's header block continues in CONTINUATION frames
}

func newTrackedConn(c net.Conn, g *guard) *trackedConn {
	t := &trackedConn{Conn: c, g: g, streams: map[uint32]*streamTrack{}}
	t.addr = trackedAddr{Addr: c.RemoteAddr(), conn: t}
	return t
}

// RemoteAddr returns the address that leads the tap handle back here.
func (c *trackedConn) RemoteAddr() net.Addr { return c.addr }

// Read reads from the connection and parses what it returns; it stops
// after the HEADERS (or CONTINUATION) that completes a new stream's header
// block and keeps the rest for the next Read.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.holdOff < len(c.hold) {
		n := copy(p, c.hold[c.holdOff:])
		k := c.parse(p[:n])
		c.holdOff += k
		if c.holdOff == len(c.hold) {
			c.hold, c.holdOff = nil, 0 // an idle connection pins no buffer
		}
		return k, nil
	}
	if c.holdErr != nil {
		return 0, c.holdErr
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		return 0, err
	}
	k := c.parse(p[:n])
	if k < n {
		c.hold = append([]byte(nil), p[k:n]...)
		c.holdOff, c.holdErr = 0, err
		return k, nil
	}
	return n, err
}

// parse walks b and returns how many of its bytes may go to gRPC now.
func (c *trackedConn) parse(b []byte) int {
	var now int64
	i := 0
	for i < len(b) {
		if c.preface < prefaceLen {
			k := min(prefaceLen-c.preface, len(b)-i)
			c.preface += k
			i += k
			continue
		}
		if c.hdrN < len(c.hdr) {
			k := copy(c.hdr[c.hdrN:], b[i:])
			c.hdrN += k
			i += k
			if c.hdrN < len(c.hdr) {
				break
			}
			c.beginFrame()
			if c.left == 0 && c.endFrame() {
				return i
			}
			continue
		}
		k := min(int(c.left), len(b)-i)
		if c.typ == frameData && c.cur != nil {
			if now == 0 {
				now = c.g.now().UnixNano()
			}
			c.dataBytes(b[i:i+k], now)
		}
		c.left -= uint32(k)
		i += k
		if c.left == 0 && c.endFrame() {
			return i
		}
	}
	return i
}

func (c *trackedConn) beginFrame() {
	h := c.hdr[:]
	c.left = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	c.typ, c.flags = h[3], h[4]
	c.sid = (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & 0x7fffffff
	c.cur = nil
	switch c.typ {
	case frameData:
		c.padLen = 0
		if c.flags&flagPadded != 0 {
			c.padLen = -1
		}
		c.mu.Lock()
		c.cur = c.streams[c.sid]
		c.mu.Unlock()
	case frameHeaders:
		if c.sid > c.maxSID && c.sid%2 == 1 {
			c.maxSID = c.sid
			c.opening = true
		}
	}
}

// dataBytes feeds payload bytes of the current DATA frame to its stream,
// without the pad length byte and the padding at the frame's end.
func (c *trackedConn) dataBytes(b []byte, now int64) {
	rem := int(c.left) // payload bytes not yet seen, b included
	if c.padLen < 0 {
		c.padLen = int(b[0])
		b, rem = b[1:], rem-1
	}
	if data := min(len(b), rem-c.padLen); data > 0 {
		c.g.receive(c.cur, b[:data], now)
	}
}

// endFrame ends the current frame; it reports whether the frame completed
// a new stream's header block (then parsing stops so that gRPC handles it,
// and calls the tap handle, before it reads anything further).
func (c *trackedConn) endFrame() bool {
	c.hdrN = 0
	c.cur = nil
	if (c.typ == frameHeaders || c.typ == frameContinuation) && c.opening && c.flags&flagEndHeaders != 0 {
		c.opening = false
		c.lastOpened = c.maxSID
		return true
	}
	return false
}
