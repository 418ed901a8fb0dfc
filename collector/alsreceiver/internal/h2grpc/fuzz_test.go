package h2grpc

import (
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// fuzzConfig has small limits, so that random input reaches them.
var fuzzConfig = Config{
	MaxConcurrentStreams:    4,
	MaxHeaderListSize:       1024,
	MaxRecvMsgSize:          64,
	MaxResetsPerSecond:      10,
	MaxControlFramesPending: 20,
	MaxOutput:               4096,
}

// outputSlack bounds what one frame can add to Output past MaxOutput
// before the Conn checks it: the OK answers a window update releases for
// every stream (~70 bytes each), a trailers-only answer with the longest
// grpc-message, and a GOAWAY.
const outputSlack = 4*128 + 3*maxStatusMessage + 512 + 9 + 8 + 256

// fuzzHandler checks the Handler contract and, driven by the fuzzer's
// seed, refuses streams, fails messages and calls back into the Conn.
type fuzzHandler struct {
	t      *testing.T
	c      *Conn
	rng    *rand.Rand
	open   map[uint32]bool
	inCall bool
}

func (h *fuzzHandler) enter(what string, id uint32) {
	if h.inCall {
		h.t.Fatalf("%s %d: called from within another Handler call", what, id)
	}
	h.inCall = true
}

func (h *fuzzHandler) Open(id uint32, _ *Headers) Status {
	h.enter("Open", id)
	defer func() { h.inCall = false }()
	if h.open[id] {
		h.t.Fatalf("Open %d: already open", id)
	}
	if h.rng.IntN(8) == 0 {
		return Status{Code: Unimplemented, Message: "no"}
	}
	h.open[id] = true
	return Status{}
}

func (h *fuzzHandler) Message(id uint32, msg []byte) Status {
	h.enter("Message", id)
	if !h.open[id] {
		h.t.Fatalf("Message %d: stream not open", id)
	}
	if len(msg) > fuzzConfig.MaxRecvMsgSize {
		h.t.Fatalf("Message %d: %d bytes, over MaxRecvMsgSize", id, len(msg))
	}
	h.inCall = false // the calls below may call End
	switch h.rng.IntN(16) {
	case 0:
		return Status{Code: InvalidArgument}
	case 1:
		h.c.Finish(id, Status{Code: Aborted, Message: "finish"})
	case 2:
		h.c.Reset(id, ErrCodeCancel)
	case 3:
		h.c.Reset(id+2, ErrCodeCancel) // maybe another stream
	case 4:
		h.c.GoAway()
	}
	return Status{}
}

func (h *fuzzHandler) End(id uint32, reason EndReason) {
	h.enter("End", id)
	if !h.open[id] {
		h.t.Fatalf("End %d %v: stream not open (or ended twice)", id, reason)
	}
	delete(h.open, id)
	h.inCall = false
	if reason == EndHalfClosed {
		switch h.rng.IntN(4) {
		case 0:
			h.c.Finish(id, Status{Code: Unavailable})
		case 1:
			h.c.Reset(id, ErrCodeRefusedStream)
		}
	}
}

func FuzzConn(f *testing.F) {
	for _, tc := range connCases() {
		cl := newClient(tc.settings...)
		tc.input(cl)
		if cl.buf.Len() <= 16<<10 { // large inputs slow mutation and minimization down
			f.Add(cl.buf.Bytes(), uint64(len(tc.name)))
		}
	}
	// Raw frames after a generated preface (see the first byte below).
	cl := newClient()
	cl.buf.Reset()
	cl.request(1, alsPath, false)
	cl.msg(1, false, "abc")
	must(cl.fr.WriteWindowUpdate(0, 100))
	cl.msg(1, true, "def")
	f.Add(append([]byte{1}, cl.buf.Bytes()...), uint64(7))

	f.Fuzz(func(t *testing.T, data []byte, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		h := &fuzzHandler{t: t, rng: rng, open: map[uint32]bool{}}
		c, err := NewConn(fuzzConfig, h)
		if err != nil {
			t.Fatal(err)
		}
		h.c = c
		// An odd first byte stands for a well-formed preface and SETTINGS,
		// so that the fuzzer spends its time on frames.
		if len(data) > 0 && data[0]%2 == 1 {
			data = append([]byte(http2.ClientPreface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"), data[1:]...)
		}
		now := time.Unix(1_700_000_000, 0)
		for len(data) > 0 {
			n := min(len(data), 1+rng.IntN(64))
			ferr := c.Feed(data[:n], now)
			data = data[n:]
			now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			checkInvariants(t, c, h)
			if ferr != nil {
				if !c.Done() || c.Streams() != 0 || len(h.open) != 0 {
					t.Fatalf("after %v: Done %v, %d streams, %d open for the Handler", ferr, c.Done(), c.Streams(), len(h.open))
				}
				return
			}
			if k := rng.IntN(3); k > 0 { // the client reads some or all of it
				c.Written(len(c.Output()) / k)
			}
			if rng.IntN(32) == 0 {
				if id, _ := c.OldestIncomplete(); id != 0 {
					c.Reset(id, ErrCodeCancel)
					checkInvariants(t, c, h)
				}
			}
		}
		c.Close()
		if len(h.open) != 0 {
			t.Fatalf("after Close: %d streams open for the Handler", len(h.open))
		}
	})
}

func checkInvariants(t *testing.T, c *Conn, h *fuzzHandler) {
	t.Helper()
	if n := len(c.Output()); n > fuzzConfig.MaxOutput+outputSlack {
		t.Fatalf("Output holds %d bytes, over MaxOutput %d + %d", n, fuzzConfig.MaxOutput, outputSlack)
	}
	if c.Pending() < 0 || c.Pending() != pendingOf(c) {
		t.Fatalf("Pending %d, streams hold %d", c.Pending(), pendingOf(c))
	}
	if c.Pending() > len(c.streams)*(fuzzConfig.MaxRecvMsgSize+grpcPrefixLen) {
		t.Fatalf("Pending %d for %d streams", c.Pending(), len(c.streams))
	}
	if c.Streams() > int(fuzzConfig.MaxConcurrentStreams) {
		t.Fatalf("%d streams open, over MaxConcurrentStreams", c.Streams())
	}
	blocked, open := 0, 0
	for id, s := range c.streams {
		if s.id != id || s.state == stFree {
			t.Fatalf("stream %d: id %d, state %v", id, s.id, s.state)
		}
		switch s.state {
		case stAnswering:
			blocked++
		case stOpen:
			open++
			if !h.open[id] {
				t.Fatalf("stream %d open in the Conn, not for the Handler", id)
			}
		}
	}
	if blocked != c.blocked {
		t.Fatalf("blocked %d, counted %d", blocked, c.blocked)
	}
	if open != len(h.open) {
		t.Fatalf("%d streams open in the Conn, %d for the Handler", open, len(h.open))
	}
}
