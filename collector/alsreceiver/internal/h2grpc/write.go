package h2grpc

// What a Conn writes: a handful of frame kinds, appended to its output
// buffer. Answers are HPACK-encoded by hand with literals that are never
// indexed (RFC 7541 §6.2.3) and the static table, so the encoder has no
// dynamic table: any SETTINGS_HEADER_TABLE_SIZE the client announces,
// even 0, is honoured without tracking it, and encoding allocates nothing.

// HTTP/2 frame types (RFC 9113 §6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// HTTP/2 frame flags.
const (
	flagAck        = 0x1 // SETTINGS, PING
	flagEndStream  = 0x1 // DATA, HEADERS
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

// SETTINGS identifiers (RFC 9113 §6.5.2).
const (
	settingHeaderTableSize      = 0x1
	settingEnablePush           = 0x2
	settingMaxConcurrentStreams = 0x3
	settingInitialWindowSize    = 0x4
	settingMaxFrameSize         = 0x5
	settingMaxHeaderListSize    = 0x6
)

const frameHeaderLen = 9

// clientPreface starts every client connection (RFC 9113 §3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func appendFrameHeader(b []byte, length int, typ, flags byte, stream uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), typ, flags,
		byte(stream>>24)&0x7f, byte(stream>>16), byte(stream>>8), byte(stream))
}

func append32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (c *Conn) writeSettings() {
	settings := [...]struct {
		id uint16
		v  uint32
	}{
		{settingMaxConcurrentStreams, c.cfg.MaxConcurrentStreams},
		{settingInitialWindowSize, c.cfg.InitialWindowSize},
		{settingMaxFrameSize, c.cfg.MaxFrameSize},
		{settingMaxHeaderListSize, c.cfg.MaxHeaderListSize},
	}
	c.out = appendFrameHeader(c.out, 6*len(settings), frameSettings, 0, 0)
	for _, s := range settings {
		c.out = append(c.out, byte(s.id>>8), byte(s.id))
		c.out = append32(c.out, s.v)
	}
}

func (c *Conn) writeWindowUpdate(stream, incr uint32) {
	c.out = appendFrameHeader(c.out, 4, frameWindowUpdate, 0, stream)
	c.out = append32(c.out, incr&0x7fffffff)
}

func (c *Conn) writeRST(stream uint32, code ErrCode) {
	c.out = appendFrameHeader(c.out, 4, frameRSTStream, 0, stream)
	c.out = append32(c.out, uint32(code))
	c.ctrlPending++
}

func (c *Conn) writeGoAway(last uint32, code ErrCode, debug string) {
	debug = debug[:min(len(debug), 256)]
	c.out = appendFrameHeader(c.out, 8+len(debug), frameGoAway, 0, 0)
	c.out = append32(c.out, last&0x7fffffff)
	c.out = append32(c.out, uint32(code))
	c.out = append(c.out, debug...)
}

// Header blocks of answers.
var (
	// :status 200 (static index 8), content-type: application/grpc (name:
	// static index 31).
	blockResponseHeaders = appendLiteral(append([]byte(nil), 0x88), 31, "", "application/grpc")
	// grpc-status: 0.
	blockTrailersOK = appendLiteral(nil, 0, "grpc-status", "0")
)

// appendLiteral appends a literal header field never indexed (RFC 7541
// §6.2.3), its name a static table index (nameIdx > 0) or a literal.
func appendLiteral(b []byte, nameIdx uint8, name, value string) []byte {
	if nameIdx > 0 {
		b = appendVarInt(b, 0x10, 4, uint64(nameIdx))
	} else {
		b = append(b, 0x10)
		b = appendVarInt(b, 0, 7, uint64(len(name)))
		b = append(b, name...)
	}
	b = appendVarInt(b, 0, 7, uint64(len(value)))
	return append(b, value...)
}

// appendVarInt appends i as an HPACK integer with an n-bit prefix, the
// first byte's other bits being first (RFC 7541 §5.1).
func appendVarInt(b []byte, first byte, n uint, i uint64) []byte {
	k := uint64(1)<<n - 1
	if i < k {
		return append(b, first|byte(i))
	}
	b = append(b, first|byte(k))
	i -= k
	for ; i >= 128; i >>= 7 {
		b = append(b, byte(0x80|(i&0x7f)))
	}
	return append(b, byte(i))
}

// statusValues are the grpc-status values of the codes.
var statusValues = [...]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"}

// appendTrailersOnly appends the header block of a trailers-only answer:
// :status, content-type, grpc-status and, when there is one, grpc-message.
func appendTrailersOnly(b []byte, httpStatus int, s Status) []byte {
	if httpStatus == 200 {
		b = append(b, 0x88)
	} else {
		b = appendLiteral(b, 8, "", httpStatusValue(httpStatus))
	}
	b = appendLiteral(b, 31, "", "application/grpc")
	return appendStatus(b, s)
}

// appendStatus appends grpc-status and grpc-message.
func appendStatus(b []byte, s Status) []byte {
	if int(s.Code) < len(statusValues) {
		b = appendLiteral(b, 0, "grpc-status", statusValues[s.Code])
	} else {
		b = appendLiteral(b, 0, "grpc-status", statusValues[Unknown])
	}
	if s.Message == "" {
		return b
	}
	msg := s.Message[:min(len(s.Message), maxStatusMessage)]
	b = append(b, 0x10)
	b = appendVarInt(b, 0, 7, uint64(len("grpc-message")))
	b = append(b, "grpc-message"...)
	b = appendVarInt(b, 0, 7, uint64(percentEncodedLen(msg)))
	return appendPercentEncoded(b, msg)
}

func httpStatusValue(code int) string {
	switch code {
	case 405:
		return "405"
	case 415:
		return "415"
	default:
		return "200"
	}
}

// grpc-message is percent-encoded: bytes outside printable ASCII, and '%'
// (gRPC's PROTOCOL-HTTP2.md).
func needsEscape(c byte) bool { return c < 0x20 || c > 0x7e || c == '%' }

func percentEncodedLen(s string) int {
	n := len(s)
	for i := range len(s) {
		if needsEscape(s[i]) {
			n += 2
		}
	}
	return n
}

func appendPercentEncoded(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := range len(s) {
		if c := s[i]; needsEscape(c) {
			b = append(b, '%', hex[c>>4], hex[c&0xf])
		} else {
			b = append(b, c)
		}
	}
	return b
}
