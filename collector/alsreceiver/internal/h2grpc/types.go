package h2grpc

import (
	"fmt"
	"strings"

	"golang.org/x/net/http2/hpack"
)

// Handler is what a Conn calls as the client's streams progress; the
// adapter implements it. Every call is made from within Feed, Finish,
// Reset, GoAway or Close, on the caller's goroutine. A Handler may call
// Finish, Reset and GoAway from any of its methods (never Feed or Close);
// during Open the stream is not open yet, so Open answers it by returning
// a Status.
type Handler interface {
	// Open is called when a client opens a stream with a well-formed
	// request header block. A non-OK Status refuses the stream: the client
	// gets a trailers-only response with it, and the stream is forgotten
	// (no End). h and h.Fields are valid only during the call; the strings
	// in them may be kept.
	Open(stream uint32, h *Headers) Status
	// Message is called with each complete gRPC message of an open stream,
	// in order. msg is valid only during the call (it may point into the
	// bytes given to Feed, or into a buffer the Conn reuses). A non-OK
	// Status answers the stream with it and ends it (End with EndFinished).
	Message(stream uint32, msg []byte) Status
	// End is called exactly once for every stream Open accepted, when the
	// stream is over for the Handler; reason says why. With EndHalfClosed
	// the client has sent its last message: the stream is answered OK when
	// End returns, unless End calls Finish (another status) or Reset.
	End(stream uint32, reason EndReason)
}

// Headers are the fields of a request header block that opens a stream.
type Headers struct {
	Method, Scheme, Authority, Path string // pseudo-header fields
	ContentType                     string // content-type
	Encoding                        string // grpc-encoding ("" when absent)
	Timeout                         string // grpc-timeout, unparsed ("" when absent)
	// Fields are every regular (non-pseudo) field in the order received,
	// those above included.
	Fields []hpack.HeaderField
}

// Get returns the value of the first regular field named name (lower
// case), or "".
func (h *Headers) Get(name string) string {
	for _, f := range h.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Code is a gRPC status code (google.golang.org/grpc/codes, same values).
type Code uint32

// The gRPC status codes.
const (
	OK                 Code = 0
	Canceled           Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

// Status is a gRPC status: the zero value is OK.
type Status struct {
	Code    Code
	Message string // sent as grpc-message, percent-encoded, cut at maxStatusMessage bytes
}

// Errorf returns a Status with code c and a formatted message.
func Errorf(c Code, format string, args ...any) Status {
	return Status{Code: c, Message: fmt.Sprintf(format, args...)}
}

// maxStatusMessage bounds the grpc-message we send, before percent-encoding
// (at most three bytes each), so that an answer's header block always fits
// one frame of the smallest allowed size.
const maxStatusMessage = 1024

// EndReason says why a stream ended (Handler.End).
type EndReason uint8

// The reasons a stream ends.
const (
	// EndHalfClosed: the client sent END_STREAM after whole messages; the
	// stream is answered OK unless End calls Finish or Reset.
	EndHalfClosed EndReason = iota + 1
	// EndFinished: answered before the client finished, by Finish or by a
	// non-OK Status from Message.
	EndFinished
	// EndTooLarge: a message's length prefix was over MaxRecvMsgSize;
	// answered RESOURCE_EXHAUSTED.
	EndTooLarge
	// EndCompressed: a message had the compressed flag; answered
	// UNIMPLEMENTED (compression is not supported).
	EndCompressed
	// EndMalformed: the client half-closed inside a message, or sent a
	// message whose flags byte is invalid; answered INTERNAL.
	EndMalformed
	// EndPeerReset: the client reset the stream (RST_STREAM: a cancel).
	EndPeerReset
	// EndReset: the adapter called Reset.
	EndReset
	// EndProtocolError: the client broke HTTP/2 on this stream (flow
	// control, a frame in the wrong state); RST_STREAM was sent.
	EndProtocolError
	// EndConnClosed: the connection ended (a connection error, Close).
	EndConnClosed
)

var endReasonNames = [...]string{
	"", "half_closed", "finished", "too_large", "compressed", "malformed",
	"peer_reset", "reset", "protocol_error", "conn_closed",
}

func (r EndReason) String() string {
	if int(r) < len(endReasonNames) {
		return endReasonNames[r]
	}
	return fmt.Sprintf("EndReason(%d)", uint8(r))
}

// ErrCode is an HTTP/2 error code (RFC 9113 §7), sent in RST_STREAM and
// GOAWAY.
type ErrCode uint32

// The HTTP/2 error codes.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
	"SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
	"CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
	"INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
}

func (e ErrCode) String() string {
	if int(e) < len(errCodeNames) {
		return errCodeNames[e]
	}
	return fmt.Sprintf("ErrCode(%#x)", uint32(e))
}

// ConnError is a connection error: the Conn has queued GOAWAY with Code
// in Output, ended every stream, and takes no more input. The adapter
// writes Output out (best effort) and closes the connection.
type ConnError struct {
	Code   ErrCode
	Reason string // also the GOAWAY's debug data
}

func (e *ConnError) Error() string {
	var b strings.Builder
	b.WriteString("http2 connection error ")
	b.WriteString(e.Code.String())
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	return b.String()
}

// ErrClosed is what Feed returns after Close.
var ErrClosed = &ConnError{Code: ErrCodeNo, Reason: "connection closed"}
