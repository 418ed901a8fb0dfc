//go:build linux

package evloop

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a Session that keeps what it is fed, greets the peer, and
// answers as its hooks say.
type recorder struct {
	mu      sync.Mutex
	got     bytes.Buffer
	out     []byte
	closed  bool
	feeds   int
	onFeed  func(r *recorder, p []byte) error // under mu
	expires int
	expire  func(n int) error
}

func (r *recorder) Feed(p []byte, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got.Write(p)
	r.feeds++
	if r.onFeed != nil {
		return r.onFeed(r, p)
	}
	return nil
}

func (r *recorder) Output() []byte { r.mu.Lock(); defer r.mu.Unlock(); return r.out }
func (r *recorder) Written(n int)  { r.mu.Lock(); defer r.mu.Unlock(); r.out = r.out[n:] }

func (r *recorder) Expire(time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expires++
	if r.expire != nil {
		return r.expire(r.expires)
	}
	return nil
}

func (r *recorder) Closed(time.Time) { r.mu.Lock(); defer r.mu.Unlock(); r.closed = true }

func (r *recorder) snapshot() (got []byte, closed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got.Bytes()), r.closed
}

// serve starts a Server whose sessions newRec makes, and returns it with
// the sessions made so far (by accept order).
func serve(t *testing.T, cfg Config, newRec func() *recorder) (*Server, func() []*recorder) {
	t.Helper()
	var (
		mu   sync.Mutex
		recs []*recorder
	)
	s, err := Listen(t.Context(), "127.0.0.1:0", cfg, func(net.Addr) Session {
		r := newRec()
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
		return r
	})
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve() }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		<-done
	})
	return s, func() []*recorder {
		mu.Lock()
		defer mu.Unlock()
		return append([]*recorder(nil), recs...)
	}
}

func greeter() *recorder { return &recorder{out: []byte("hello")} }

func dialN(t *testing.T, addr net.Addr, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := new(net.Dialer).DialContext(t.Context(), "tcp", addr.String())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
	}
	return conns
}

// TestBytesInOrder: every connection's session gets exactly the bytes its
// peer wrote, in order, and the peer gets the session's first output.
func TestBytesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   Config
		conns int
	}{
		{"one loop, no tick", Config{Loops: 1, Tick: -1}, 20},
		{"two loops, 10 ms", Config{Loops: 2}, 50},
		{"small reads", Config{Loops: 2, ReadSize: 101, Tick: time.Millisecond}, 10},
		{"one busy connection is not held to a read a tick", Config{Loops: 1, ReadSize: 1024, Tick: 100 * time.Millisecond}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, recs := serve(t, tc.cfg, greeter)
			conns := dialN(t, s.Addr(), tc.conns)
			want := make([][]byte, len(conns))
			var wg sync.WaitGroup
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hello := make([]byte, 5)
					_, err := io.ReadFull(c, hello)
					assert.NoError(t, err)
					assert.Equal(t, "hello", string(hello))
					rng := rand.New(rand.NewPCG(uint64(i), 1))
					for range 50 {
						p := make([]byte, 1+rng.IntN(20000))
						for j := range p {
							p[j] = byte(rng.Uint32())
						}
						want[i] = append(want[i], p...)
						_, err := c.Write(p)
						assert.NoError(t, err)
					}
				}()
			}
			wg.Wait()
			// Sessions are made in accept order, not dial order: match by
			// the first bytes.
			require.Eventually(t, func() bool {
				total := 0
				for _, r := range recs() {
					got, _ := r.snapshot()
					total += len(got)
				}
				sum := 0
				for _, w := range want {
					sum += len(w)
				}
				return total == sum
			}, 20*time.Second, 10*time.Millisecond)
			require.Len(t, recs(), len(conns))
			for _, r := range recs() {
				got, _ := r.snapshot()
				found := false
				for _, w := range want {
					if bytes.Equal(got, w) {
						found = true
					}
				}
				assert.True(t, found, "a session's bytes are one peer's, whole and in order")
			}
			st := s.Stats()
			assert.EqualValues(t, len(conns), st.Accepted)
			assert.EqualValues(t, len(conns), st.Open)
		})
	}
}

// TestTickSharesWakeups: connections whose messages arrive within a tick
// are read after one wake-up, not one each.
func TestTickSharesWakeups(t *testing.T) {
	s, recs := serve(t, Config{Loops: 1, Tick: 50 * time.Millisecond}, greeter)
	conns := dialN(t, s.Addr(), 200)
	for _, c := range conns {
		_, err := io.ReadFull(c, make([]byte, 5))
		require.NoError(t, err)
	}
	before := s.Stats()
	for _, c := range conns {
		_, err := c.Write(make([]byte, 1000))
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool {
		n := 0
		for _, r := range recs() {
			if got, _ := r.snapshot(); len(got) == 1000 {
				n++
			}
		}
		return n == len(conns)
	}, 10*time.Second, 5*time.Millisecond)
	st := s.Stats()
	reads, wakeups := st.Reads-before.Reads, st.Wakeups-before.Wakeups
	t.Logf("%d reads after %d wake-ups", reads, wakeups)
	assert.GreaterOrEqual(t, reads, uint64(len(conns)))
	assert.LessOrEqual(t, wakeups*4, reads, "a wake-up reads many connections")
}

// TestPeerThatDoesNotRead: a session whose output the peer does not read
// is closed once more than MaxOutput is left unwritten.
func TestPeerThatDoesNotRead(t *testing.T) {
	s, recs := serve(t, Config{Loops: 1, MaxOutput: 64 << 10}, func() *recorder {
		return &recorder{onFeed: func(r *recorder, _ []byte) error {
			r.out = append(r.out, make([]byte, 1<<20)...)
			return nil
		}}
	})
	c := dialN(t, s.Addr(), 1)[0]
	for i := 0; i < 64; i++ { // until the socket's buffers are full
		if _, err := c.Write([]byte("x")); err != nil {
			break
		}
		if rs := recs(); len(rs) > 0 {
			if _, closed := rs[0].snapshot(); closed {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		rs := recs()
		if len(rs) == 0 {
			return false
		}
		_, closed := rs[0].snapshot()
		return closed
	}, 10*time.Second, 5*time.Millisecond, "closed")
	assert.EqualValues(t, 0, s.Stats().Open)
}

// TestFeedErrorWritesThenCloses: a Feed error closes the connection after
// its output (a GOAWAY) is written.
func TestFeedErrorWritesThenCloses(t *testing.T) {
	s, _ := serve(t, Config{Loops: 1}, func() *recorder {
		return &recorder{onFeed: func(r *recorder, _ []byte) error {
			r.out = append(r.out, "bye"...)
			return errors.New("protocol error")
		}}
	})
	c := dialN(t, s.Addr(), 1)[0]
	_, err := c.Write([]byte("junk"))
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	got, err := io.ReadAll(c)
	require.NoError(t, err, "closed by the server: EOF")
	assert.Equal(t, "bye", string(got))
}

// TestExpire: Expire runs about every Housekeeping, and its error closes
// the connection.
func TestExpire(t *testing.T) {
	s, recs := serve(t, Config{Loops: 1, Housekeeping: 20 * time.Millisecond}, func() *recorder {
		return &recorder{expire: func(n int) error {
			if n >= 3 {
				return errors.New("idle")
			}
			return nil
		}}
	})
	c := dialN(t, s.Addr(), 1)[0]
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := io.ReadAll(c)
	require.NoError(t, err, "closed by the server")
	r := recs()[0]
	require.Eventually(t, func() bool { _, closed := r.snapshot(); return closed }, 5*time.Second, time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	assert.Equal(t, 3, r.expires)
	assert.EqualValues(t, 0, s.Stats().Open)
}

// TestMaxConns: connections beyond MaxConns are closed at accept.
func TestMaxConns(t *testing.T) {
	s, recs := serve(t, Config{Loops: 2, MaxConns: 3}, greeter)
	conns := dialN(t, s.Addr(), 3)
	for _, c := range conns {
		_, err := io.ReadFull(c, make([]byte, 5))
		require.NoError(t, err)
	}
	extra := dialN(t, s.Addr(), 1)[0]
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(10*time.Second)))
	got, err := io.ReadAll(extra)
	require.NoError(t, err)
	assert.Empty(t, got, "refused: closed without a greeting")
	assert.Len(t, recs(), 3)
	assert.EqualValues(t, 1, s.Stats().Refused)
}

// TestCloseEndsEverySession: Close ends the loops (goleak) and every
// session is told its connection is gone.
func TestCloseEndsEverySession(t *testing.T) {
	s, err := Listen(t.Context(), "127.0.0.1:0", Config{Loops: 2}, func(net.Addr) Session { return greeter() })
	require.NoError(t, err)
	var (
		mu   sync.Mutex
		recs []*recorder
	)
	s.newSession = func(net.Addr) Session {
		r := greeter()
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
		return r
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve() }()
	conns := dialN(t, s.Addr(), 10)
	for _, c := range conns {
		_, err := io.ReadFull(c, make([]byte, 5))
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	<-done
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, recs, 10)
	for _, r := range recs {
		_, closed := r.snapshot()
		assert.True(t, closed)
	}
	for _, c := range conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err := io.ReadAll(c)
		require.NoError(t, err, "closed by the server")
	}
	_, err = new(net.Dialer).DialContext(t.Context(), "tcp", s.Addr().String())
	assert.Error(t, err, "no longer listening")
}

// TestSequentialConnectsNotHeldATick: clients that connect one after
// another, each waiting for the server's first bytes (gRPC clients wait for
// its SETTINGS), are accepted without the loop sleeping a tick in between.
func TestSequentialConnectsNotHeldATick(t *testing.T) {
	s, _ := serve(t, Config{Loops: 1, Tick: 200 * time.Millisecond}, greeter)
	start := time.Now()
	const n = 20
	for range n {
		c := dialN(t, s.Addr(), 1)[0]
		_, err := io.ReadFull(c, make([]byte, 5))
		require.NoError(t, err)
	}
	took := time.Since(start)
	t.Logf("%d connections, one after another: %s", n, took)
	assert.Less(t, took, time.Second, "without it, up to a 200 ms tick each")
}
