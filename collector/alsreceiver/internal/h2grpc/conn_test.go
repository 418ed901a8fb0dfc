package h2grpc

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// connCase is one scripted client session: what the client writes, how
// the Handler answers, and what the Conn must write and tell.
type connCase struct {
	name     string
	cfg      Config
	settings []http2.Setting // the client's SETTINGS
	input    func(cl *client)
	hooks    func(r *recorder)
	noDrain  bool // the client never reads
	wantOut  []string
	wantEv   []string
	wantErr  ErrCode // connection error expected (its GOAWAY ends wantOut); 0: none
	wantDone bool
}

// connCases are the scripted sessions of TestConn; FuzzConn starts from
// their inputs.
func connCases() []connCase {
	big := strings.Repeat("x", 40000)
	cases := []connCase{
		{
			name:    "one message then half-close: answered OK",
			input:   func(cl *client) { cl.request(1, alsPath, false); cl.msg(1, true, "hello") },
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 hello", "end 1 half_closed"},
		},
		{
			name: "messages and their prefixes split across frames",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				b := append(grpcMsg([]byte("first")), grpcMsg([]byte("second"))...)
				for _, cut := range [][]byte{b[:2], b[2:7], b[7:12], b[12:14], b[14:]} {
					cl.data(1, false, cut)
				}
				cl.data(1, true, nil)
			},
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 first", "msg 1 second", "end 1 half_closed"},
		},
		{
			name: "two messages and an empty one in one frame",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.data(1, true, bytes.Join([][]byte{grpcMsg([]byte("a")), grpcMsg(nil), grpcMsg([]byte("b"))}, nil))
			},
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 a", "msg 1 ", "msg 1 b", "end 1 half_closed"},
		},
		{
			name: "a message larger than a frame",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				b := grpcMsg([]byte(big))
				for len(b) > 0 {
					n := min(len(b), 16384)
					cl.data(1, false, b[:n])
					b = b[n:]
				}
				cl.data(1, true, nil)
			},
			wantOut: append([]string{"WINDOW_UPDATE 1 +32768"}, okAnswer(1)...),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 len=40000", "end 1 half_closed"},
		},
		{
			name: "padded DATA, HEADERS with padding and priority",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{
					StreamID: 1, BlockFragment: cl.block(requestFields(alsPath)...), EndHeaders: true,
					PadLength: 7, Priority: http2.PriorityParam{StreamDep: 0, Weight: 15},
				}))
				must(cl.fr.WriteDataPadded(1, true, grpcMsg([]byte("padded")), make([]byte, 200)))
			},
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 padded", "end 1 half_closed"},
		},
		{
			name: "header block continued in CONTINUATION frames",
			input: func(cl *client) {
				blk := cl.block(requestFields(alsPath, "x-big", strings.Repeat("v", 3000))...)
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10]}))
				must(cl.fr.WriteContinuation(1, false, blk[10:1000]))
				must(cl.fr.WriteContinuation(1, false, nil))
				must(cl.fr.WriteContinuation(1, true, blk[1000:]))
				cl.msg(1, true, "m")
			},
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
		},
		{
			name:    "END_STREAM on HEADERS: no message, answered OK",
			input:   func(cl *client) { cl.request(1, alsPath, true) },
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "end 1 half_closed"},
		},
		{
			name: "trailers end the stream",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.msg(1, false, "m")
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block("x-trailer", "1"), EndStream: true, EndHeaders: true}))
			},
			wantOut: okAnswer(1),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
		},
		{
			name: "trailers without END_STREAM: stream error",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block("x-trailer", "1"), EndHeaders: true}))
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 protocol_error"},
		},
		{
			name:  "refused at Open: trailers-only, then RST_STREAM NO_ERROR",
			input: func(cl *client) { cl.request(1, "/unknown/Method", false); cl.msg(1, true, "ignored") },
			hooks: func(r *recorder) {
				r.onOpen = func(_ *recorder, _ uint32, h *Headers) Status {
					return Errorf(Unimplemented, "unknown method %s", h.Path)
				}
			},
			wantOut: []string{refused(1, Unimplemented, "unknown method /unknown/Method"), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 /unknown/Method"},
		},
		{
			name:  "refused at Open with END_STREAM: no RST_STREAM; grpc-message percent-encoded",
			input: func(cl *client) { cl.request(1, alsPath, true) },
			hooks: func(r *recorder) {
				r.onOpen = func(*recorder, uint32, *Headers) Status { return Status{Code: PermissionDenied, Message: "100% né"} }
			},
			wantOut: []string{refused(1, PermissionDenied, "100%25 n%C3%A9")},
			wantEv:  []string{"open 1 " + alsPath},
		},
		{
			name:  "non-OK from Message: answered, the rest discarded",
			input: func(cl *client) { cl.request(1, alsPath, false); cl.msg(1, false, "bad"); cl.msg(1, true, "after") },
			hooks: func(r *recorder) {
				r.onMsg = func(*recorder, uint32, []byte) Status { return Status{Code: InvalidArgument, Message: "malformed"} }
			},
			wantOut: []string{refused(1, InvalidArgument, "malformed"), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "msg 1 bad", "end 1 finished"},
		},
		{
			name:  "Finish during End(EndHalfClosed) sets the answer",
			input: func(cl *client) { cl.request(1, alsPath, false); cl.msg(1, true, "m") },
			hooks: func(r *recorder) {
				r.onEnd = func(r *recorder, id uint32, _ EndReason) { r.c.Finish(id, Status{Code: Unavailable, Message: "later"}) }
			},
			wantOut: []string{refused(1, Unavailable, "later")},
			wantEv:  []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
		},
		{
			name:  "Reset during End(EndHalfClosed) resets",
			input: func(cl *client) { cl.request(1, alsPath, true) },
			hooks: func(r *recorder) {
				r.onEnd = func(r *recorder, id uint32, _ EndReason) { r.c.Reset(id, ErrCodeCancel) }
			},
			wantOut: []string{"RST_STREAM 1 CANCEL"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 half_closed"},
		},
		{
			name: "Finish during Message: answered once, the frame's other messages discarded",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.data(1, false, append(grpcMsg([]byte("a")), grpcMsg([]byte("b"))...))
			},
			hooks: func(r *recorder) {
				r.onMsg = func(r *recorder, id uint32, _ []byte) Status {
					r.c.Finish(id, Status{Code: Aborted})
					return Status{Code: Internal} // ignored: already answered
				}
			},
			wantOut: []string{refused(1, Aborted, ""), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "msg 1 a", "end 1 finished"},
		},
		{
			name:    "message over MaxRecvMsgSize: refused on its prefix",
			cfg:     Config{MaxRecvMsgSize: 10},
			input:   func(cl *client) { cl.request(1, alsPath, false); cl.msg(1, false, "0123456789a") },
			wantOut: []string{refused(1, ResourceExhausted, "grpc: received message larger than max (11 vs. 10)"), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 too_large"},
		},
		{
			name: "compressed message: UNIMPLEMENTED on its prefix, before the frame's END_STREAM",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				m := grpcMsg([]byte("zz"))
				m[0] = 1
				cl.data(1, true, m)
			},
			wantOut: []string{refused(1, Unimplemented, "compressed gRPC messages are not supported"), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 compressed"},
		},
		{
			name: "invalid message flags: INTERNAL",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				m := grpcMsg([]byte("zz"))
				m[0] = 2
				cl.data(1, false, m)
			},
			wantOut: []string{refused(1, Internal, "invalid gRPC message flags"), "RST_STREAM 1 NO_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 malformed"},
		},
		{
			name:    "half-closed inside a message: INTERNAL",
			input:   func(cl *client) { cl.request(1, alsPath, false); cl.data(1, true, grpcMsg([]byte("abc"))[:6]) },
			wantOut: []string{refused(1, Internal, "client half-closed inside a gRPC message")},
			wantEv:  []string{"open 1 " + alsPath, "end 1 malformed"},
		},
		{
			name: "content-type not gRPC: 415",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(":method", "POST", ":scheme", "http", ":path", "/x", "content-type", "application/json"), EndStream: true, EndHeaders: true}))
			},
			wantOut: []string{"HEADERS 1 :status=415 content-type=application/grpc grpc-status=3 grpc-message=invalid gRPC request content-type application/json end=true"},
		},
		{
			name: "GET: 405",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(":method", "GET", ":scheme", "http", ":path", "/x"), EndHeaders: true}))
			},
			wantOut: []string{"HEADERS 1 :status=405 content-type=application/grpc grpc-status=13 grpc-message=invalid HTTP method GET end=true", "RST_STREAM 1 NO_ERROR"},
		},
		{
			name: "header list over MaxHeaderListSize: RESOURCE_EXHAUSTED",
			cfg:  Config{MaxHeaderListSize: 2048},
			input: func(cl *client) {
				cl.request(1, alsPath, true, "x-big", strings.Repeat("v", 1500), "x-big2", strings.Repeat("w", 1500))
				cl.request(3, alsPath, true) // HPACK still in step
			},
			wantOut: append([]string{refused(1, ResourceExhausted, "header list larger than 2048 bytes")}, okAnswer(3)...),
			wantEv:  []string{"open 3 " + alsPath, "end 3 half_closed"},
		},
		{
			name: "priority on itself: RST_STREAM PROTOCOL_ERROR",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(requestFields(alsPath)...), EndHeaders: true, Priority: http2.PriorityParam{StreamDep: 1}}))
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
		},
		{
			name:    "streams beyond MaxConcurrentStreams: REFUSED_STREAM",
			cfg:     Config{MaxConcurrentStreams: 1},
			input:   func(cl *client) { cl.request(1, alsPath, false); cl.request(3, alsPath, false); cl.msg(1, true, "m") },
			wantOut: append([]string{"RST_STREAM 3 REFUSED_STREAM"}, okAnswer(1)...),
			wantEv:  []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
		},
		{
			name: "client RST_STREAM: End(EndPeerReset)",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.data(1, false, grpcMsg([]byte("abc"))[:4])
				must(cl.fr.WriteRSTStream(1, http2.ErrCodeCancel))
			},
			wantEv: []string{"open 1 " + alsPath, "end 1 peer_reset"},
		},
		{
			name: "rapid reset: GOAWAY ENHANCE_YOUR_CALM",
			cfg:  Config{MaxResetsPerSecond: 5},
			input: func(cl *client) {
				for id := uint32(1); id <= 13; id += 2 {
					cl.request(id, alsPath, false)
					must(cl.fr.WriteRSTStream(id, http2.ErrCodeCancel))
				}
			},
			wantOut: []string{"GOAWAY 11 ENHANCE_YOUR_CALM"}, // the sixth reset
			wantEv: []string{
				"open 1 " + alsPath, "end 1 peer_reset", "open 3 " + alsPath, "end 3 peer_reset", "open 5 " + alsPath, "end 5 peer_reset",
				"open 7 " + alsPath, "end 7 peer_reset", "open 9 " + alsPath, "end 9 peer_reset", "open 11 " + alsPath, "end 11 conn_closed",
			},
			wantErr: ErrCodeEnhanceYourCalm,
		},
		{
			name: "PING: ACK with the same data",
			input: func(cl *client) {
				must(cl.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}))
				must(cl.fr.WritePing(true, [8]byte{9}))
			},
			wantOut: []string{"PING ACK=true 0102030405060708"},
		},
		{
			name: "PING flood, output never read: ENHANCE_YOUR_CALM",
			cfg:  Config{MaxControlFramesPending: 50},
			input: func(cl *client) {
				for range 100 {
					must(cl.fr.WritePing(false, [8]byte{}))
				}
			},
			noDrain: true,
			wantErr: ErrCodeEnhanceYourCalm,
		},
		{
			name:    "invalid preface",
			input:   func(cl *client) { cl.buf.Reset(); cl.buf.WriteString("GET / HTTP/1.1\r\n\r\n") },
			wantOut: []string{"GOAWAY 0 PROTOCOL_ERROR"},
			wantErr: ErrCodeProtocol,
		},
		{
			name: "first frame not SETTINGS",
			input: func(cl *client) {
				cl.buf.Reset()
				cl.buf.WriteString(http2.ClientPreface)
				must(cl.fr.WritePing(false, [8]byte{}))
			},
			wantOut: []string{"GOAWAY 0 PROTOCOL_ERROR"},
			wantErr: ErrCodeProtocol,
		},
		connErr("DATA on stream 0", ErrCodeProtocol, func(cl *client) { cl.data(0, false, []byte("x")) }),
		connErr("DATA on an idle stream", ErrCodeProtocol, func(cl *client) { cl.data(5, false, []byte("x")) }),
		connErr("HEADERS on an even stream", ErrCodeProtocol, func(cl *client) { cl.request(2, alsPath, false) }),
		connErr("HEADERS on a closed, lower stream", ErrCodeProtocol, func(cl *client) {
			cl.request(3, alsPath, true)
			cl.request(1, alsPath, true)
		}, "open 3 "+alsPath, "end 3 half_closed"),
		connErr("frame over MaxFrameSize", ErrCodeFrameSize, func(cl *client) {
			cl.request(1, alsPath, false)
			cl.data(1, false, make([]byte, 16385))
		}, "open 1 "+alsPath, "end 1 conn_closed"),
		connErr("CONTINUATION without HEADERS", ErrCodeProtocol, func(cl *client) { must(cl.fr.WriteContinuation(1, true, nil)) }),
		connErr("a frame inside a header block", ErrCodeProtocol, func(cl *client) {
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(requestFields(alsPath)...)}))
			must(cl.fr.WritePing(false, [8]byte{}))
		}),
		connErr("CONTINUATION flood", ErrCodeEnhanceYourCalm, func(cl *client) {
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.block(requestFields(alsPath)...)}))
			for range 20000 {
				must(cl.fr.WriteContinuation(1, false, nil))
			}
		}),
		connErr("invalid HPACK", ErrCodeCompression, func(cl *client) {
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true}))
		}),
		connErr("PUSH_PROMISE", ErrCodeProtocol, func(cl *client) {
			must(cl.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true}))
		}),
		connErr("DATA padding longer than the frame", ErrCodeProtocol, func(cl *client) {
			cl.request(1, alsPath, false)
			cl.raw(http2.FrameData, http2.FlagDataPadded, 1, []byte{10, 'a', 'b'})
		}, "open 1 "+alsPath, "end 1 conn_closed"),
		connErr("SETTINGS_ENABLE_PUSH 2", ErrCodeProtocol, func(cl *client) {
			must(cl.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}))
		}),
		connErr("SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1", ErrCodeFlowControl, func(cl *client) {
			must(cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}))
		}),
		connErr("SETTINGS_MAX_FRAME_SIZE under 16384", ErrCodeProtocol, func(cl *client) {
			must(cl.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100}))
		}),
		connErr("SETTINGS length not a multiple of 6", ErrCodeFrameSize, func(cl *client) {
			cl.raw(http2.FrameSettings, 0, 0, make([]byte, 7))
		}),
		connErr("SETTINGS ACK with a payload", ErrCodeFrameSize, func(cl *client) {
			cl.raw(http2.FrameSettings, http2.FlagSettingsAck, 0, make([]byte, 6))
		}),
		connErr("PING length", ErrCodeFrameSize, func(cl *client) { cl.raw(http2.FramePing, 0, 0, make([]byte, 7)) }),
		connErr("RST_STREAM on an idle stream", ErrCodeProtocol, func(cl *client) { must(cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)) }),
		connErr("WINDOW_UPDATE of 0 on the connection", ErrCodeProtocol, func(cl *client) {
			cl.raw(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0})
		}),
		connErr("connection send window over 2^31-1", ErrCodeFlowControl, func(cl *client) {
			must(cl.fr.WriteWindowUpdate(0, 1<<31-1))
		}),
		{
			name: "WINDOW_UPDATE of 0 on a stream: stream error",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.raw(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 protocol_error"},
		},
		{
			name: "DATA beyond the stream window: FLOW_CONTROL_ERROR for the stream",
			cfg:  Config{MaxFrameSize: 1 << 20},
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.data(1, false, make([]byte, DefaultInitialWindowSize+1))
				cl.request(3, alsPath, true)
			},
			wantOut: append([]string{"RST_STREAM 1 FLOW_CONTROL_ERROR"}, okAnswer(3)...),
			wantEv:  []string{"open 1 " + alsPath, "end 1 protocol_error", "open 3 " + alsPath, "end 3 half_closed"},
		},
		{
			name: "DATA beyond the connection window: FLOW_CONTROL_ERROR for the connection",
			cfg:  Config{MaxFrameSize: 1 << 20, InitialWindowSize: 1 << 20, ConnWindowSize: 100000},
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.data(1, false, make([]byte, 100001))
			},
			wantOut: []string{"GOAWAY 1 FLOW_CONTROL_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 conn_closed"},
			wantErr: ErrCodeFlowControl,
		},
		{
			name: "WINDOW_UPDATE only once half a window is consumed",
			cfg:  Config{InitialWindowSize: 65536, ConnWindowSize: 131072},
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				first := make([]byte, 16384) // one large message
				first[2] = 1                 // 65536 bytes
				cl.data(1, false, first)
				cl.data(1, false, make([]byte, 16383)) // 32767: not yet
				cl.data(1, false, make([]byte, 1))     // 32768: the stream's half
				cl.data(1, false, make([]byte, 16384))
				cl.data(1, false, make([]byte, 16384)) // 65536: the connection's half, and the stream's again
			},
			wantOut: []string{"WINDOW_UPDATE 1 +32768", "WINDOW_UPDATE 0 +65536", "WINDOW_UPDATE 1 +32768"},
			wantEv:  []string{"open 1 " + alsPath},
		},
		{
			name:     "OK answer waits for the client's window",
			settings: []http2.Setting{{ID: http2.SettingInitialWindowSize, Val: 0}},
			input: func(cl *client) {
				cl.request(1, alsPath, true)
				must(cl.fr.WritePing(false, [8]byte{}))
				must(cl.fr.WriteWindowUpdate(1, 5))
			},
			wantOut: append([]string{"PING ACK=true 0000000000000000"}, okAnswer(1)...),
			wantEv:  []string{"open 1 " + alsPath, "end 1 half_closed"},
		},
		{
			name: "GoAway: later streams refused, open ones finish, then Done",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				cl.request(3, alsPath, true)
				cl.msg(1, true, "m")
			},
			hooks: func(r *recorder) {
				r.onOpen = func(r *recorder, _ uint32, _ *Headers) Status { r.c.GoAway(); return Status{} }
			},
			wantOut:  append([]string{"GOAWAY 1 NO_ERROR", "RST_STREAM 3 REFUSED_STREAM"}, okAnswer(1)...),
			wantEv:   []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
			wantDone: true,
		},
		{
			name: "unknown frame types, PRIORITY and the client's GOAWAY: ignored, then Done",
			input: func(cl *client) {
				cl.raw(0xfa, 0, 0, []byte("whatever"))
				must(cl.fr.WritePriority(7, http2.PriorityParam{StreamDep: 1}))
				cl.request(1, alsPath, false)
				must(cl.fr.WriteGoAway(0, http2.ErrCodeNo, []byte("bye")))
				cl.msg(1, true, "m")
			},
			wantOut:  okAnswer(1),
			wantEv:   []string{"open 1 " + alsPath, "msg 1 m", "end 1 half_closed"},
			wantDone: true,
		},
		{
			name: "PRIORITY on itself: stream error",
			input: func(cl *client) {
				cl.request(1, alsPath, false)
				must(cl.fr.WritePriority(1, http2.PriorityParam{StreamDep: 1}))
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
			wantEv:  []string{"open 1 " + alsPath, "end 1 protocol_error"},
		},
	}
	for _, m := range []struct{ name, k, v string }{
		{"upper-case name", "X-Upper", "1"},
		{"connection-specific field", "connection", "keep-alive"},
		{"te other than trailers", "te", "gzip"},
	} {
		cases = append(cases, connCase{
			name:    "malformed request: " + m.name,
			input:   func(cl *client) { cl.request(1, alsPath, true, m.k, m.v) },
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
		})
	}
	cases = append(cases,
		connCase{
			name: "malformed request: pseudo-header after a regular field",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: cl.block(
					":method", "POST", ":scheme", "http", "content-type", "application/grpc", ":path", "/x")}))
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
		},
		connCase{
			name: "malformed request: no :path",
			input: func(cl *client) {
				must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: cl.block(
					":method", "POST", ":scheme", "http", "content-type", "application/grpc")}))
			},
			wantOut: []string{"RST_STREAM 1 PROTOCOL_ERROR"},
		},
	)
	return cases
}

func TestConn(t *testing.T) {
	splits := map[string]func(*rand.Rand) func() int{
		"whole":   func(*rand.Rand) func() int { return func() int { return 1 << 30 } },
		"bytes":   func(*rand.Rand) func() int { return func() int { return 1 } },
		"random":  func(r *rand.Rand) func() int { return func() int { return 1 + r.IntN(40) } },
		"reads4k": func(*rand.Rand) func() int { return func() int { return 4096 } },
	}
	for _, tc := range connCases() {
		for sname, split := range splits {
			t.Run(tc.name+"/"+sname, func(t *testing.T) {
				runCase(t, tc, split(rand.New(rand.NewPCG(1, 2))))
			})
		}
	}
}

func connErr(name string, code ErrCode, input func(cl *client), events ...string) connCase {
	return connCase{name: "connection error: " + name, input: input, wantErr: code, wantEv: events}
}

func runCase(t *testing.T, tc connCase, split func() int) {
	t.Helper()
	r := &recorder{}
	if tc.hooks != nil {
		tc.hooks(r)
	}
	c, err := NewConn(tc.cfg, r)
	require.NoError(t, err)
	r.c = c
	cl := newClient(tc.settings...)
	tc.input(cl)
	out, err := feed(c, cl.buf.Bytes(), split, tc.noDrain)
	lines := stripPreamble(summarize(t, out))
	if tc.wantErr != 0 {
		var ce *ConnError
		require.ErrorAs(t, err, &ce, "frames: %q", lines)
		assert.Equal(t, tc.wantErr, ce.Code, "error %v; frames %q", err, lines)
		require.NotEmpty(t, lines)
		assert.True(t, strings.HasPrefix(lines[len(lines)-1], "GOAWAY") && strings.HasSuffix(lines[len(lines)-1], tc.wantErr.String()),
			"last frame %q", lines[len(lines)-1])
		assert.True(t, c.Done())
		assert.Zero(t, c.Streams())
		if tc.wantOut == nil {
			lines = lines[len(lines)-1:]
			tc.wantOut = lines
		}
	} else {
		require.NoError(t, err, "frames: %q", lines)
	}
	if len(tc.wantOut)+len(lines) > 0 {
		assert.Equal(t, tc.wantOut, lines)
	}
	if len(tc.wantEv)+len(r.events) > 0 {
		assert.Equal(t, tc.wantEv, r.events)
	}
	assert.Equal(t, tc.wantDone, c.Done() && tc.wantErr == 0)
	assert.Zero(t, c.Pending()-pendingOf(c))
	r.check(t)
}

// pendingOf recomputes Pending from the streams.
func pendingOf(c *Conn) int {
	n := 0
	for _, s := range c.streams {
		n += s.held
	}
	return n
}

func TestPendingAndOldestIncomplete(t *testing.T) {
	r := &recorder{}
	c, err := NewConn(Config{}, r)
	require.NoError(t, err)
	r.c = c
	cl := newClient()
	cl.request(1, alsPath, false)
	cl.request(3, alsPath, false)
	_, err = feed(c, cl.buf.Bytes(), func() int { return 1 << 20 }, false)
	require.NoError(t, err)
	id, _ := c.OldestIncomplete()
	assert.Zero(t, id)

	step := func(at int, f func(cl *client)) {
		t.Helper()
		cl := &client{}
		cl.fr = http2.NewFramer(&cl.buf, nil)
		f(cl)
		require.NoError(t, c.Feed(cl.buf.Bytes(), t0.Add(sec(at))))
	}
	m3 := grpcMsg(make([]byte, 1000))
	m1 := grpcMsg(make([]byte, 500))
	step(1, func(cl *client) { cl.data(3, false, m3[:300]) })
	step(2, func(cl *client) { cl.data(1, false, m1[:3]) })
	assert.Equal(t, 303, c.Pending())
	id, since := c.OldestIncomplete()
	assert.Equal(t, uint32(3), id)
	assert.Equal(t, t0.Add(sec(1)), since)

	step(3, func(cl *client) { cl.data(3, false, m3[300:]) })
	assert.Equal(t, 3, c.Pending())
	id, since = c.OldestIncomplete()
	assert.Equal(t, uint32(1), id)
	assert.Equal(t, t0.Add(sec(2)), since)

	c.Reset(1, ErrCodeCancel) // a budget shedding the oldest
	assert.Zero(t, c.Pending())
	assert.Equal(t, []string{"open 1 " + alsPath, "open 3 " + alsPath, "msg 3 len=1000", "end 1 reset"}, r.events)
	assert.Contains(t, summarize(t, c.Output()), "RST_STREAM 1 CANCEL")

	c.Finish(3, Status{Code: Canceled, Message: "message_timeout"})
	assert.Contains(t, summarize(t, c.Output()), refused(3, Canceled, "message_timeout"))
	assert.Zero(t, c.Streams())
	c.Finish(3, Status{}) // ended: nothing
	c.Reset(3, ErrCodeCancel)
	c.Close()
	require.ErrorIs(t, c.Feed([]byte{0}, t0), ErrClosed)
	r.check(t)
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }

func TestCloseEndsOpenStreams(t *testing.T) {
	r := &recorder{}
	c, err := NewConn(Config{}, r)
	require.NoError(t, err)
	r.c = c
	cl := newClient()
	cl.request(1, alsPath, false)
	cl.request(3, alsPath, false)
	cl.data(3, false, grpcMsg([]byte("abc"))[:6])
	_, err = feed(c, cl.buf.Bytes(), func() int { return 7 }, false)
	require.NoError(t, err)
	assert.Equal(t, 6, c.Pending())
	c.Close()
	assert.Zero(t, c.Pending())
	assert.ElementsMatch(t, []string{"open 1 " + alsPath, "open 3 " + alsPath, "end 1 conn_closed", "end 3 conn_closed"}, r.events)
	r.check(t)
}

// A message that arrives whole in one frame and one read is handed over
// without a copy: msg points into the bytes given to Feed.
func TestMessageWithoutCopy(t *testing.T) {
	var inside, calls int
	var in []byte
	r := &recorder{onMsg: func(_ *recorder, _ uint32, msg []byte) Status {
		calls++
		for i := range in {
			if &in[i] == &msg[0] {
				inside++
			}
		}
		return Status{}
	}}
	c, err := NewConn(Config{}, r)
	require.NoError(t, err)
	cl := newClient()
	cl.request(1, alsPath, false)
	cl.msg(1, false, strings.Repeat("a", 12000))
	in = cl.buf.Bytes()
	require.NoError(t, c.Feed(in, t0))
	assert.Equal(t, 1, calls)
	assert.Equal(t, 1, inside, "the message was copied")
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{InitialWindowSize: 1000}, "InitialWindowSize 1000: must be 65535 to 2147483647"},
		{Config{ConnWindowSize: 1 << 31}, "ConnWindowSize 2147483648: must be 65535 to 2147483647"},
		{Config{MaxFrameSize: 1 << 24}, "MaxFrameSize 16777216: must be 16384 to 16777215"},
		{Config{MaxHeaderListSize: 10}, "MaxHeaderListSize 10: must be at least 1024"},
		{Config{MaxRecvMsgSize: -1}, "MaxRecvMsgSize -1: must not be negative"},
		{Config{MaxOutput: 10}, "MaxOutput 10: must be at least 4096"},
	} {
		t.Run(fmt.Sprint(tc.cfg), func(t *testing.T) {
			err := tc.cfg.Validate()
			_, nerr := NewConn(tc.cfg, &recorder{})
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, nerr)
				return
			}
			require.EqualError(t, err, tc.want)
			require.Error(t, nerr)
		})
	}
}

func TestOpenHeaders(t *testing.T) {
	r := &recorder{}
	c, err := NewConn(Config{}, r)
	require.NoError(t, err)
	cl := newClient()
	cl.request(1, alsPath, false, "grpc-encoding", "gzip", "grpc-timeout", "5S", "x-meta", "v")
	_, err = feed(c, cl.buf.Bytes(), func() int { return 1 << 20 }, false)
	require.NoError(t, err)
	h := r.lastHdr
	assert.Equal(t, []string{"POST", "http", "meshlens:9001", alsPath, "application/grpc", "gzip", "5S"},
		[]string{h.Method, h.Scheme, h.Authority, h.Path, h.ContentType, h.Encoding, h.Timeout})
	assert.Equal(t, "grpc-go/test", h.Get("user-agent"))
	assert.Equal(t, "v", h.Get("x-meta"))
	assert.Empty(t, h.Get(":path"), "Get reads regular fields only")
	assert.Len(t, h.Fields, 6)
}

func TestStrings(t *testing.T) {
	assert.Equal(t, "peer_reset", EndPeerReset.String())
	assert.Equal(t, "EndReason(99)", EndReason(99).String())
	assert.Equal(t, "ENHANCE_YOUR_CALM", ErrCodeEnhanceYourCalm.String())
	assert.Equal(t, "ErrCode(0x99)", ErrCode(0x99).String())
	assert.Equal(t, "http2 connection error PROTOCOL_ERROR: x", (&ConnError{Code: ErrCodeProtocol, Reason: "x"}).Error())
	h := Headers{Fields: []hpack.HeaderField{{Name: "a", Value: "1"}}}
	assert.Equal(t, "1", h.Get("a"))
	assert.Empty(t, h.Get("b"))
}
