package h2grpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const alsPath = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs"

// t0 is the time tests feed with.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// recorder is a Handler that records what it is told as lines of text
// ("open 1 /path", "msg 1 hello", "end 1 half_closed") and lets a test hook
// each call.
type recorder struct {
	c       *Conn
	events  []string
	onOpen  func(r *recorder, id uint32, h *Headers) Status
	onMsg   func(r *recorder, id uint32, msg []byte) Status
	onEnd   func(r *recorder, id uint32, reason EndReason)
	ended   map[uint32]int // End calls per stream
	opened  map[uint32]bool
	lastHdr Headers
}

func (r *recorder) Open(id uint32, h *Headers) Status {
	r.events = append(r.events, fmt.Sprintf("open %d %s", id, h.Path))
	r.lastHdr = *h
	r.lastHdr.Fields = slices.Clone(h.Fields)
	st := Status{}
	if r.onOpen != nil {
		st = r.onOpen(r, id, h)
	}
	if st.Code == OK {
		if r.opened == nil {
			r.opened = map[uint32]bool{}
		}
		r.opened[id] = true
	}
	return st
}

func (r *recorder) Message(id uint32, msg []byte) Status {
	if len(msg) <= 32 {
		r.events = append(r.events, fmt.Sprintf("msg %d %s", id, msg))
	} else {
		r.events = append(r.events, fmt.Sprintf("msg %d len=%d", id, len(msg)))
	}
	if r.onMsg != nil {
		return r.onMsg(r, id, msg)
	}
	return Status{}
}

func (r *recorder) End(id uint32, reason EndReason) {
	r.events = append(r.events, fmt.Sprintf("end %d %s", id, reason))
	if r.ended == nil {
		r.ended = map[uint32]int{}
	}
	r.ended[id]++
	if r.onEnd != nil {
		r.onEnd(r, id, reason)
	}
}

// check verifies the Handler contract: End exactly once per accepted stream.
func (r *recorder) check(t *testing.T) {
	t.Helper()
	for id, n := range r.ended {
		if !r.opened[id] || n != 1 {
			t.Errorf("stream %d: End called %d times, opened %v", id, n, r.opened[id])
		}
	}
}

// client writes a client's side of a connection with x/net's Framer.
type client struct {
	buf  bytes.Buffer
	fr   *http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

// newClient returns a client that has written the preface and SETTINGS.
func newClient(settings ...http2.Setting) *client {
	cl := &client{}
	cl.fr = http2.NewFramer(&cl.buf, nil)
	cl.fr.AllowIllegalWrites = true
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	cl.buf.WriteString(http2.ClientPreface)
	must(cl.fr.WriteSettings(settings...))
	return cl
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// block HPACK-encodes fields given as name, value pairs.
func (cl *client) block(kv ...string) []byte {
	cl.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		must(cl.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]}))
	}
	return bytes.Clone(cl.hbuf.Bytes())
}

// requestFields are the fields of a gRPC request to path.
func requestFields(path string, extra ...string) []string {
	return append([]string{
		":method", "POST", ":scheme", "http", ":path", path, ":authority", "meshlens:9001",
		"content-type", "application/grpc", "te", "trailers", "user-agent", "grpc-go/test",
	}, extra...)
}

// request opens stream id for path.
func (cl *client) request(id uint32, path string, endStream bool, extra ...string) {
	must(cl.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: cl.block(requestFields(path, extra...)...), EndStream: endStream, EndHeaders: true,
	}))
}

// data writes one DATA frame.
func (cl *client) data(id uint32, endStream bool, b []byte) { must(cl.fr.WriteData(id, endStream, b)) }

// msg writes one DATA frame holding one gRPC message.
func (cl *client) msg(id uint32, endStream bool, payload string) {
	cl.data(id, endStream, grpcMsg([]byte(payload)))
}

func (cl *client) raw(typ http2.FrameType, flags http2.Flags, id uint32, payload []byte) {
	must(cl.fr.WriteRawFrame(typ, flags, id, payload))
}

// grpcMsg returns payload with its 5-byte gRPC prefix.
func grpcMsg(payload []byte) []byte {
	b := make([]byte, 5, 5+len(payload))
	binary.BigEndian.PutUint32(b[1:], uint32(len(payload)))
	return append(b, payload...)
}

// summarize parses out (what the Conn wrote) into one line per frame.
func summarize(t testing.TB, out []byte) []string {
	t.Helper()
	fr := http2.NewFramer(nil, bytes.NewReader(out))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 1 << 20
	var lines []string
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return lines
		}
		if err != nil {
			t.Fatalf("our output does not parse after %q: %v", lines, err)
		}
		lines = append(lines, summary(f))
	}
}

func summary(f http2.Frame) string {
	id := f.Header().StreamID
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return "SETTINGS ACK"
		}
		var s []string
		must(f.ForeachSetting(func(s2 http2.Setting) error { s = append(s, s2.String()); return nil }))
		return "SETTINGS " + strings.Join(s, " ")
	case *http2.WindowUpdateFrame:
		return fmt.Sprintf("WINDOW_UPDATE %d +%d", id, f.Increment)
	case *http2.PingFrame:
		return fmt.Sprintf("PING ACK=%v %x", f.IsAck(), f.Data)
	case *http2.RSTStreamFrame:
		return fmt.Sprintf("RST_STREAM %d %v", id, f.ErrCode)
	case *http2.GoAwayFrame:
		return fmt.Sprintf("GOAWAY %d %v", f.LastStreamID, f.ErrCode)
	case *http2.DataFrame:
		return fmt.Sprintf("DATA %d %x end=%v", id, f.Data(), f.StreamEnded())
	case *http2.MetaHeadersFrame:
		var s []string
		for _, hf := range f.Fields {
			s = append(s, hf.Name+"="+hf.Value)
		}
		return fmt.Sprintf("HEADERS %d %s end=%v", id, strings.Join(s, " "), f.StreamEnded())
	default:
		return fmt.Sprintf("%T %d", f, id)
	}
}

// Frames of answers, as summarize writes them.
const (
	okHeaders  = "HEADERS %d :status=200 content-type=application/grpc end=false"
	okData     = "DATA %d 0000000000 end=false"
	okTrailers = "HEADERS %d grpc-status=0 end=true"
)

func okAnswer(id uint32) []string {
	return []string{fmt.Sprintf(okHeaders, id), fmt.Sprintf(okData, id), fmt.Sprintf(okTrailers, id)}
}

func refused(id uint32, code Code, msg string) string {
	if msg == "" {
		return fmt.Sprintf("HEADERS %d :status=200 content-type=application/grpc grpc-status=%d end=true", id, code)
	}
	return fmt.Sprintf("HEADERS %d :status=200 content-type=application/grpc grpc-status=%d grpc-message=%s end=true", id, code, msg)
}

// feed feeds in to c in chunks of the sizes split returns, draining
// Output after each Feed unless noDrain; it returns all output and the
// first error.
func feed(c *Conn, in []byte, split func() int, noDrain bool) (out []byte, err error) {
	out = append(out, c.Output()...)
	if !noDrain {
		c.Written(len(c.Output()))
	}
	for len(in) > 0 && err == nil {
		n := min(max(split(), 1), len(in))
		err = c.Feed(in[:n], t0)
		in = in[n:]
		if !noDrain {
			out = append(out, c.Output()...)
			c.Written(len(c.Output()))
		}
	}
	if noDrain {
		out = append(out[:0], c.Output()...)
	}
	return out, err
}

// stripPreamble drops our SETTINGS, the connection WINDOW_UPDATE and the
// ACK of the client's SETTINGS from the start of lines.
func stripPreamble(lines []string) []string {
	for len(lines) > 0 && (strings.HasPrefix(lines[0], "SETTINGS") || strings.HasPrefix(lines[0], "WINDOW_UPDATE 0 ")) {
		lines = lines[1:]
		if len(lines) > 0 && lines[0] == "SETTINGS ACK" {
			return lines[1:]
		}
	}
	return lines
}
