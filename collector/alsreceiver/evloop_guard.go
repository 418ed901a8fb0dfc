package alsreceiver

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// The event loops' state shared across loops and platforms (evloop.go
// serves them on Linux).

// loopGuard is what the loops share: the bytes of incomplete messages and
// every open stream, for eviction at max_streams.
type loopGuard struct {
	budget     int64
	evictAfter time.Duration
	pending    atomic.Int64
	// waitedAt: when a loop last waited for memory (unix ns); loops wait
	// at most once a second between them, and drop meanwhile.
	waitedAt atomic.Int64
	// noCandidate: when a scan for a stream to evict last found none
	// (unix ns): no new scan for evictRescan after it.
	noCandidate atomic.Int64

	mu       sync.Mutex
	streams  map[*loopStream]struct{}
	sessions map[*loopConn]struct{}
}

// shedOverrun is how far over the budget the total may go while the
// connection holding the oldest incomplete message, on another loop, has
// not yet shed it (at its next read or check, within a second): past it,
// the connection whose read passes the budget sheds its own.
const shedOverrun = 1 << 20

// evictRescan is how long after a fruitless scan for an idle stream to
// evict the next stream over max_streams is refused without a scan: a
// client opening streams at the cap costs one scan of every stream per
// evictRescan, not one per HEADERS frame.
const evictRescan = 100 * time.Millisecond

func newLoopGuard(budget int64, evictAfter time.Duration) *loopGuard {
	return &loopGuard{budget: budget, evictAfter: evictAfter, streams: map[*loopStream]struct{}{}, sessions: map[*loopConn]struct{}{}}
}

// receiving returns the bytes of incomplete messages, all connections.
func (g *loopGuard) receiving() float64 { return float64(g.pending.Load()) }

// evictIdle marks for eviction the stream idle longest (no DATA, no
// message in progress), if it has been idle evictAfter; its loop ends it
// at its next check (within a second).
func (g *loopGuard) evictIdle(now time.Time) bool {
	if now.UnixNano()-g.noCandidate.Load() < int64(evictRescan) {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var oldest *loopStream
	for s := range g.streams {
		if s.evict.Load() || s.inMessage.Load() {
			continue // a stream receiving a message is not idle
		}
		if oldest == nil || s.lastActive.Load() < oldest.lastActive.Load() {
			oldest = s
		}
	}
	if oldest == nil || now.UnixNano()-oldest.lastActive.Load() < int64(g.evictAfter) {
		g.noCandidate.Store(now.UnixNano())
		return false
	}
	oldest.evict.Store(true)
	return true
}

// oldestSession returns the connection whose oldest incomplete message
// began first (nil: none has one).
func (g *loopGuard) oldestSession() *loopConn {
	g.mu.Lock()
	defer g.mu.Unlock()
	var oldest *loopConn
	var at int64
	for s := range g.sessions {
		if t := s.oldest.Load(); t != 0 && (oldest == nil || t < at) {
			oldest, at = s, t
		}
	}
	return oldest
}

// loopConn is what other loops see of a connection (a loopSession).
type loopConn struct {
	// oldest: when the connection's oldest incomplete message began (unix
	// ns, 0: none), for the loop whose read passes the budget.
	oldest atomic.Int64
	// shed: another loop asks the connection to shed its oldest
	// incomplete messages (receive budget).
	shed atomic.Bool
}

// mayWaitMemory reports whether a loop may wait for memory now (no loop
// has waited within the last second); else the message is processed and,
// if memory is still over the limit, dropped and counted (processALS).
func (g *loopGuard) mayWaitMemory(now time.Time) bool {
	last := g.waitedAt.Load()
	return now.UnixNano()-last >= int64(time.Second) && g.waitedAt.CompareAndSwap(last, now.UnixNano())
}

// loopStream is one stream's state, as handleALS and handleMetrics keep it.
type loopStream struct {
	id      uint32
	service string
	release func()
	local   accesslog.StreamLocal
	st      *accesslog.Stream
	proxy   *accesslog.Proxy
	f       frame // the message being processed (its bytes are the core's)

	lastActive atomic.Int64 // unix ns: opened, or the last DATA received
	inMessage  atomic.Bool  // a message has begun and is not complete
	evict      atomic.Bool  // marked by evictIdle (another loop's admit)
	endedBy    endReason    // set before the loop resets it
}

// bufPool lends the buffers the event loops' connections assemble messages
// in (h2grpc.BufferPool): one sync.Pool per power of two from 4 KiB, so a
// buffer a message outgrew goes to the next message that needs that size,
// and an idle connection holds none.
type bufPool struct{ classes [24]sync.Pool }

func bufClass(n int) int { return max(bits.Len(uint(max(n, 1)-1)), 12) - 12 }

// Get returns an empty buffer of at least capacity bytes.
func (p *bufPool) Get(capacity int) []byte {
	c := bufClass(capacity)
	if c >= len(p.classes) {
		return make([]byte, 0, capacity)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<(c+12))
}

// Put takes a buffer back if its capacity is one of the classes.
func (p *bufPool) Put(b []byte) {
	c := bufClass(cap(b))
	if c >= len(p.classes) || cap(b) != 1<<(c+12) {
		return
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
