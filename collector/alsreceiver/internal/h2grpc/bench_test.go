package h2grpc

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// nopHandler accepts everything and counts messages.
type nopHandler struct{ msgs, bytes int }

func (*nopHandler) Open(uint32, *Headers) Status { return Status{} }
func (h *nopHandler) Message(_ uint32, msg []byte) Status {
	h.msgs++
	h.bytes += len(msg)
	return Status{}
}
func (*nopHandler) End(uint32, EndReason) {}

// alsPayload returns a marshalled ALS message of about size bytes: what an
// Envoy flushes with its default 16 KiB buffer_size_bytes, short of it.
func alsPayload(tb testing.TB, size int) []byte {
	tb.Helper()
	m := alsMessage("sidecar~10.1.2.3~reviews-v1-5d7f.default~default.svc.cluster.local", true, size/480, 400)
	b, err := proto.Marshal(m)
	require.NoError(tb, err)
	return b
}

// steadyConn returns a Conn with stream 1 open and the frames that carry
// one message of payload, cut into frames of at most frameSize bytes.
func steadyConn(tb testing.TB, h Handler, payload []byte, frameSize int) (*Conn, []byte) {
	tb.Helper()
	c, err := NewConn(Config{}, h)
	require.NoError(tb, err)
	cl := newClient()
	cl.request(1, alsPath, false)
	require.NoError(tb, c.Feed(cl.buf.Bytes(), t0))
	c.Written(len(c.Output()))
	cl.buf.Reset()
	m := grpcMsg(payload)
	for len(m) > 0 {
		n := min(len(m), frameSize)
		cl.data(1, false, m[:n])
		m = m[n:]
	}
	return c, bytes.Clone(cl.buf.Bytes())
}

// feedSteady feeds one message's frames in reads of at most read bytes,
// and writes the output (WINDOW_UPDATEs) out.
func feedSteady(tb testing.TB, c *Conn, frames []byte, read int) {
	for p := frames; len(p) > 0; {
		n := min(len(p), read)
		if err := c.Feed(p[:n], t0); err != nil {
			tb.Fatal(err)
		}
		p = p[n:]
	}
	c.Written(len(c.Output()))
}

// BenchmarkFeed feeds one ~12 KB ALS message per op to a long-lived stream:
//   - one-read: its one DATA frame in one read (the message is not copied);
//   - reads-4KiB: the same frame in 4 KiB reads (assembled in a reused buffer);
//   - frames-4KiB: the message cut into 4 KiB DATA frames, in one read;
//   - 1000-conns: 1,000 Conns of one stream each, one message to each in
//     turn (the realistic regime's working set).
func BenchmarkFeed(b *testing.B) {
	payload := alsPayload(b, 12000)
	for _, bc := range []struct {
		name        string
		frame, read int
		conns       int
	}{
		{"one-read", 16384, 1 << 20, 1},
		{"reads-4KiB", 16384, 4096, 1},
		{"frames-4KiB", 4096, 1 << 20, 1},
		{"1000-conns", 16384, 1 << 20, 1000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := &nopHandler{}
			conns := make([]*Conn, bc.conns)
			var frames []byte
			for i := range conns {
				conns[i], frames = steadyConn(b, h, payload, bc.frame)
			}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				feedSteady(b, conns[i], frames, bc.read)
				i = (i + 1) % len(conns)
			}
			if h.bytes != h.msgs*len(payload) || h.msgs == 0 {
				b.Fatalf("%d messages, %d bytes", h.msgs, h.bytes)
			}
		})
	}
}

// The steady state allocates nothing per message, whether the message is
// handed over in place or assembled across reads and frames.
func TestFeedAllocs(t *testing.T) {
	payload := alsPayload(t, 12000)
	for _, tc := range []struct {
		name        string
		frame, read int
	}{{"one-read", 16384, 1 << 20}, {"reads-4KiB", 16384, 4096}, {"frames-4KiB", 4096, 1 << 20}, {"bytes", 16384, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			h := &nopHandler{}
			c, frames := steadyConn(t, h, payload, tc.frame)
			for range 10 { // warm up: buffers, WINDOW_UPDATEs
				feedSteady(t, c, frames, tc.read)
			}
			allocs := testing.AllocsPerRun(100, func() { feedSteady(t, c, frames, tc.read) })
			if allocs != 0 {
				t.Errorf("%v allocations per message", allocs)
			}
			if h.msgs != 10+101 {
				t.Errorf("%d messages", h.msgs)
			}
		})
	}
}
