package h2grpc

import (
	"fmt"
	"time"

	"golang.org/x/net/http2/hpack"
)

// Conn is the server side of one HTTP/2 connection carrying client-streaming
// gRPC calls. It is not safe for concurrent use: one goroutine (an event
// loop) feeds it, writes its output, and calls its other methods.
type Conn struct {
	cfg Config
	h   Handler
	now time.Time // of the Feed in progress

	err error // set once: a connection error, or ErrClosed

	// Output: out[outOff:] is not yet written.
	out         []byte
	outOff      int
	ctrlPending int // frames answering control frames since out was last drained

	// Frame reader.
	prefaceN    int // bytes of the client preface seen
	sawSettings bool
	hdr         [frameHeaderLen]byte
	hdrN        int
	typ, flags  byte
	sid         uint32
	length      uint32 // payload length of the current frame
	left        uint32 // payload bytes of the current frame not yet seen
	headLen     uint32 // DATA, HEADERS: pad length and priority bytes at the payload's start
	padLen      uint32 // DATA, HEADERS: padding at the payload's end (known once the head is read)
	small       [8]byte
	smallN      int
	cur         *stream // DATA: the stream the current frame's messages go to (nil: discard)

	// Streams.
	streams     map[uint32]*stream
	spare       []*stream // freed streams, reused
	bufs        [][]byte  // message buffers, reused
	maxID       uint32    // highest stream id the client has opened
	pending     int       // bytes of messages begun and not complete, all streams
	blocked     int       // streams whose OK answer waits for send window
	ids         []uint32  // scratch for endAll
	rstSince    time.Time // start of the current rapid-reset window
	rstCount    int
	goAwaySent  bool
	goAwayID    uint32
	peerGoAway  bool
	closingDown bool // endAll in progress: Finish, Reset do nothing

	// Flow control. recv*: what the client may still send; *Unacked:
	// consumed and not yet given back by WINDOW_UPDATE; send*: what we may
	// send (only answers' 5-byte DATA frames need it).
	recvConn       int64
	connUnacked    int64
	sendConn       int64
	peerInitWindow int64

	// Header block in progress (HEADERS then CONTINUATION).
	hb   headerBlock
	dec  *hpack.Decoder
	hdrs Headers
}

// headerBlock is the state of the header block being received.
type headerBlock struct {
	open      bool
	sid       uint32
	kind      blockKind
	endStream bool
	encoded   uint64 // encoded bytes, plus frameHeaderLen per frame
	size      uint64 // decoded size (RFC 9113 §6.5.2)
	tooBig    bool
	regular   bool   // a regular field was seen (pseudo-header fields come first)
	malformed string // why the request is malformed (stream error PROTOCOL_ERROR)
}

type blockKind uint8

const (
	blockNew      blockKind = iota // opens a stream
	blockTrailers                  // trailers of an open stream
	blockIgnore                    // a stream already answered: decoded for HPACK's state only
)

type streamState uint8

const (
	stFree      streamState = iota
	stOpen                  // receiving
	stAnswering             // ended for the Handler; its OK answer waits for send window
)

// stream is one accepted stream.
type stream struct {
	id           uint32
	state        streamState
	remoteClosed bool // END_STREAM received

	recvWindow int64
	unacked    int64
	sendWindow int64

	// gRPC message being assembled.
	pfx    [5]byte
	pfxN   int
	msgLen int
	got    int       // body bytes in buf
	buf    []byte    // nil unless the message spans Feed calls or frames
	held   int       // bytes counted in Conn.pending
	since  time.Time // first byte of the message

	lastData time.Time // the last DATA payload byte (or zero)

	// End(EndHalfClosed) in progress: Finish and Reset record here.
	ending    bool
	answer    Status
	resetCode ErrCode
	reset     bool
}

// NewConn returns a Conn for a new client connection, with our SETTINGS
// (and the connection window's WINDOW_UPDATE) already in Output.
func NewConn(cfg Config, h Handler) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("h2grpc config: %w", err)
	}
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:            cfg,
		h:              h,
		out:            make([]byte, 0, 4096),
		streams:        make(map[uint32]*stream),
		recvConn:       int64(cfg.ConnWindowSize),
		sendConn:       minWindowSize,
		peerInitWindow: minWindowSize,
	}
	c.dec = hpack.NewDecoder(defaultTableSize, c.onField)
	c.dec.SetMaxStringLength(int(cfg.MaxHeaderListSize))
	c.writeSettings()
	if d := cfg.ConnWindowSize - minWindowSize; d > 0 {
		c.writeWindowUpdate(0, d)
	}
	return c, nil
}

// Feed processes bytes read from the client; any split is fine. Handler
// calls happen within it. A non-nil error is a connection error (a
// *ConnError: GOAWAY is in Output, every stream has ended) or ErrClosed;
// Feed then returns it again without reading.
func (c *Conn) Feed(p []byte, now time.Time) error {
	if c.err != nil {
		return c.err
	}
	c.now = now
	for len(p) > 0 {
		if c.prefaceN < len(clientPreface) {
			k := min(len(clientPreface)-c.prefaceN, len(p))
			if string(p[:k]) != clientPreface[c.prefaceN:c.prefaceN+k] {
				return c.fail(ErrCodeProtocol, "invalid client preface")
			}
			c.prefaceN += k
			p = p[k:]
			continue
		}
		if c.hdrN < frameHeaderLen {
			k := copy(c.hdr[c.hdrN:], p)
			c.hdrN += k
			p = p[k:]
			if c.hdrN < frameHeaderLen {
				break
			}
			if err := c.beginFrame(); err != nil {
				return err
			}
		}
		if c.left > 0 && len(p) > 0 {
			k := min(int(c.left), len(p))
			if err := c.payload(p[:k]); err != nil {
				return err
			}
			p = p[k:]
		}
		if c.left == 0 {
			c.hdrN = 0
			if err := c.endFrame(); err != nil {
				return err
			}
		}
		if err := c.checkOutput(); err != nil {
			return err
		}
	}
	return nil
}

// checkOutput fails the connection when the client lets answers pile up.
func (c *Conn) checkOutput() error {
	if c.ctrlPending > c.cfg.MaxControlFramesPending {
		return c.fail(ErrCodeEnhanceYourCalm, "too many control frames pending")
	}
	if len(c.out)-c.outOff > c.cfg.MaxOutput {
		return c.fail(ErrCodeEnhanceYourCalm, "output not read")
	}
	return nil
}

// Output returns the bytes to write to the client; call Written with how
// many were written. It is valid until the next call of any other method.
func (c *Conn) Output() []byte { return c.out[c.outOff:] }

// Written records that the first n bytes of Output were written.
func (c *Conn) Written(n int) {
	c.outOff += min(n, len(c.out)-c.outOff)
	switch {
	case c.outOff == len(c.out):
		c.out, c.outOff, c.ctrlPending = c.out[:0], 0, 0
	case c.outOff >= 4096 && c.outOff*2 >= len(c.out):
		c.out = c.out[:copy(c.out, c.out[c.outOff:])]
		c.outOff = 0
	}
}

// Pending returns the bytes of gRPC messages begun and not yet complete,
// all streams: what the connection holds for the client, for a receive
// budget across connections.
func (c *Conn) Pending() int { return c.pending }

// OldestIncomplete returns the stream whose incomplete message began
// first, and when its first byte arrived; stream 0 when no message is
// incomplete.
func (c *Conn) OldestIncomplete() (stream uint32, since time.Time) {
	for _, s := range c.streams {
		if s.state == stOpen && s.pfxN > 0 && (stream == 0 || s.since.Before(since) || s.since.Equal(since) && s.id < stream) {
			stream, since = s.id, s.since
		}
	}
	return stream, since
}

// Streams returns the number of streams open.
func (c *Conn) Streams() int { return len(c.streams) }

// StreamActivity returns when stream last received DATA (zero: never) and
// whether a message of it has begun and is not complete; ok is false for a
// stream that is not open.
func (c *Conn) StreamActivity(stream uint32) (lastData time.Time, inMessage, ok bool) {
	s := c.streams[stream]
	if s == nil || s.state != stOpen {
		return time.Time{}, false, false
	}
	return s.lastData, s.pfxN > 0, true
}

// Done reports whether the connection has nothing left to do but have its
// Output written and be closed: after a connection error or Close, or
// once a GOAWAY (ours or the client's) has been sent and every stream has
// ended.
func (c *Conn) Done() bool {
	return c.err != nil || (c.goAwaySent || c.peerGoAway) && len(c.streams) == 0 && !c.hb.open
}

// Err returns the connection error, ErrClosed, or nil.
func (c *Conn) Err() error { return c.err }

// Finish answers a stream with s (for OK: response headers, an empty
// response message and trailers) and ends it: End(EndFinished) is called
// before Finish returns. Called during End(EndHalfClosed) it sets the
// answer instead. A stream already ended is left alone.
func (c *Conn) Finish(stream uint32, s Status) {
	st := c.streams[stream]
	if st == nil || c.closingDown {
		return
	}
	if st.ending {
		st.answer = s
		return
	}
	if st.state == stOpen {
		c.finishStream(st, s, EndFinished)
	}
}

// Reset ends a stream with RST_STREAM code, without an answer (the client
// sees code as its status: CANCEL is Canceled, REFUSED_STREAM is
// Unavailable); End(EndReset) is called before Reset returns. Called
// during End(EndHalfClosed) it replaces the answer.
func (c *Conn) Reset(stream uint32, code ErrCode) {
	s := c.streams[stream]
	if s == nil || c.closingDown {
		return
	}
	if s.ending {
		s.reset, s.resetCode = true, code
		return
	}
	wasOpen := s.state == stOpen
	c.writeRST(s.id, code)
	c.free(s)
	if wasOpen {
		c.h.End(stream, EndReset)
	}
}

// GoAway starts a graceful shutdown: GOAWAY NO_ERROR naming the last
// stream opened; streams opened after it are refused (REFUSED_STREAM, the
// client retries them on a new connection), the others run to their end,
// then Done reports true.
func (c *Conn) GoAway() {
	if c.goAwaySent || c.err != nil {
		return
	}
	c.goAwaySent, c.goAwayID = true, c.maxID
	c.writeGoAway(c.maxID, ErrCodeNo, "")
}

// Close ends every stream (End with EndConnClosed): the connection is
// gone, or the adapter is dropping it. Feed then returns ErrClosed.
func (c *Conn) Close() {
	if c.err != nil {
		return
	}
	c.err = ErrClosed
	c.endAll()
}

// fail queues GOAWAY with code, ends every stream, and returns the
// connection error.
func (c *Conn) fail(code ErrCode, reason string) error {
	if c.err != nil {
		return c.err
	}
	e := &ConnError{Code: code, Reason: reason}
	c.err = e
	c.writeGoAway(c.maxID, code, reason)
	c.endAll()
	return e
}

func (c *Conn) endAll() {
	c.closingDown = true
	c.hb.open = false
	c.ids = c.ids[:0]
	for id := range c.streams {
		c.ids = append(c.ids, id)
	}
	for _, id := range c.ids {
		if s := c.streams[id]; s != nil {
			wasOpen := s.state == stOpen
			c.free(s)
			if wasOpen {
				c.h.End(id, EndConnClosed)
			}
		}
	}
}

// beginFrame checks a frame header against the connection's state.
func (c *Conn) beginFrame() error {
	h := &c.hdr
	c.length = uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	c.left = c.length
	c.typ, c.flags = h[3], h[4]
	c.sid = (uint32(h[5])<<24 | uint32(h[6])<<16 | uint32(h[7])<<8 | uint32(h[8])) & 0x7fffffff
	c.smallN, c.headLen, c.padLen, c.cur = 0, 0, 0, nil
	if c.length > c.cfg.MaxFrameSize {
		return c.fail(ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
	}
	if !c.sawSettings {
		if c.typ != frameSettings || c.flags&flagAck != 0 {
			return c.fail(ErrCodeProtocol, "the client's first frame is not SETTINGS")
		}
		c.sawSettings = true
	}
	if c.hb.open && c.typ != frameContinuation {
		return c.fail(ErrCodeProtocol, "frame inside a header block")
	}
	switch c.typ {
	case frameData:
		return c.beginData()
	case frameHeaders:
		return c.beginHeaders()
	case frameContinuation:
		if !c.hb.open || c.sid != c.hb.sid {
			return c.fail(ErrCodeProtocol, "CONTINUATION without a header block")
		}
		return c.countBlock()
	case framePriority:
		if c.sid == 0 {
			return c.fail(ErrCodeProtocol, "PRIORITY on stream 0")
		}
	case frameRSTStream:
		switch {
		case c.sid == 0:
			return c.fail(ErrCodeProtocol, "RST_STREAM on stream 0")
		case c.length != 4:
			return c.fail(ErrCodeFrameSize, "RST_STREAM length")
		case c.sid > c.maxID:
			return c.fail(ErrCodeProtocol, "RST_STREAM on an idle stream")
		}
	case frameSettings:
		switch {
		case c.sid != 0:
			return c.fail(ErrCodeProtocol, "SETTINGS on a stream")
		case c.flags&flagAck != 0 && c.length != 0:
			return c.fail(ErrCodeFrameSize, "SETTINGS ACK with a payload")
		case c.length%6 != 0:
			return c.fail(ErrCodeFrameSize, "SETTINGS length")
		}
	case framePushPromise:
		return c.fail(ErrCodeProtocol, "PUSH_PROMISE from a client")
	case framePing:
		switch {
		case c.sid != 0:
			return c.fail(ErrCodeProtocol, "PING on a stream")
		case c.length != 8:
			return c.fail(ErrCodeFrameSize, "PING length")
		}
	case frameGoAway:
		switch {
		case c.sid != 0:
			return c.fail(ErrCodeProtocol, "GOAWAY on a stream")
		case c.length < 8:
			return c.fail(ErrCodeFrameSize, "GOAWAY length")
		}
	case frameWindowUpdate:
		if c.length != 4 {
			return c.fail(ErrCodeFrameSize, "WINDOW_UPDATE length")
		}
	}
	return nil // other frame types are ignored (RFC 9113 §4.1)
}

func (c *Conn) beginData() error {
	switch {
	case c.sid == 0:
		return c.fail(ErrCodeProtocol, "DATA on stream 0")
	case c.sid > c.maxID:
		return c.fail(ErrCodeProtocol, "DATA on an idle stream")
	}
	if c.flags&flagPadded != 0 {
		c.headLen = 1
	}
	if c.length < c.headLen {
		return c.fail(ErrCodeProtocol, "DATA too short for its padding")
	}
	// Every DATA frame counts against the connection window, whatever its
	// stream's state (RFC 9113 §6.9).
	if int64(c.length) > c.recvConn {
		return c.fail(ErrCodeFlowControl, "DATA beyond the connection window")
	}
	c.recvConn -= int64(c.length)
	s := c.streams[c.sid]
	switch {
	case s == nil: // closed: discarded
	case s.state == stOpen:
		if int64(c.length) > s.recvWindow {
			c.streamError(s, ErrCodeFlowControl)
			return nil
		}
		s.recvWindow -= int64(c.length)
		c.cur = s
	case s.remoteClosed:
		c.streamError(s, ErrCodeStreamClosed)
	}
	return nil
}

func (c *Conn) beginHeaders() error {
	if c.sid == 0 || c.sid%2 == 0 {
		return c.fail(ErrCodeProtocol, "HEADERS on an invalid client stream id")
	}
	if c.flags&flagPadded != 0 {
		c.headLen++
	}
	if c.flags&flagPriority != 0 {
		c.headLen += 5
	}
	if c.length < c.headLen {
		return c.fail(ErrCodeProtocol, "HEADERS too short for its padding and priority")
	}
	c.hb = headerBlock{open: true, sid: c.sid, endStream: c.flags&flagEndStream != 0}
	s := c.streams[c.sid]
	switch {
	case c.sid > c.maxID:
		c.maxID = c.sid
		c.hb.kind = blockNew
		c.hdrs = Headers{Fields: c.hdrs.Fields[:0]}
	case s == nil:
		return c.fail(ErrCodeProtocol, "HEADERS on a closed stream")
	case s.state == stOpen:
		c.hb.kind = blockTrailers
	default:
		c.hb.kind = blockIgnore
	}
	return c.countBlock()
}

// countBlock bounds the encoded bytes and frames of a header block.
func (c *Conn) countBlock() error {
	c.hb.encoded += uint64(c.length) + frameHeaderLen
	if c.hb.encoded > 2*uint64(c.cfg.MaxHeaderListSize) {
		return c.fail(ErrCodeEnhanceYourCalm, "header block too large")
	}
	return nil
}

// payload handles b, the next bytes of the current frame's payload.
func (c *Conn) payload(b []byte) error {
	switch c.typ {
	case frameData, frameHeaders, frameContinuation:
		for len(b) > 0 {
			pos := c.length - c.left
			switch {
			case pos < c.headLen:
				k := min(c.headLen-pos, uint32(len(b)))
				copy(c.small[pos:], b[:k])
				c.left -= k
				b = b[k:]
				if pos+k == c.headLen {
					if err := c.endHead(); err != nil {
						return err
					}
				}
			case pos < c.length-c.padLen:
				k := min(c.length-c.padLen-pos, uint32(len(b)))
				if err := c.body(b[:k]); err != nil {
					return err
				}
				c.left -= k
				b = b[k:]
			default: // padding
				c.left -= uint32(len(b))
				b = nil
			}
		}
		return nil
	case frameSettings:
		for len(b) > 0 {
			k := copy(c.small[c.smallN:6], b)
			c.smallN += k
			c.left -= uint32(k)
			b = b[k:]
			if c.smallN == 6 {
				c.smallN = 0
				if err := c.setting(uint16(c.small[0])<<8|uint16(c.small[1]), be32(c.small[2:6])); err != nil {
					return err
				}
			}
		}
		return nil
	default: // keep what fits (the fixed-size fields), skip the rest
		if c.smallN < len(c.small) {
			c.smallN += copy(c.small[c.smallN:], b)
		}
		c.left -= uint32(len(b))
		return nil
	}
}

// endHead reads the pad length and priority fields of DATA and HEADERS.
func (c *Conn) endHead() error {
	i := 0
	if c.flags&flagPadded != 0 {
		c.padLen = uint32(c.small[0])
		i = 1
		if c.headLen+c.padLen > c.length {
			return c.fail(ErrCodeProtocol, "padding longer than the payload")
		}
	}
	if c.typ == frameHeaders && c.flags&flagPriority != 0 && be32(c.small[i:i+4])&0x7fffffff == c.sid {
		c.hb.malformed = "stream depends on itself"
	}
	return nil
}

// body handles payload bytes between the head and the padding.
func (c *Conn) body(b []byte) error {
	if c.typ != frameData {
		if _, err := c.dec.Write(b); err != nil {
			return c.fail(ErrCodeCompression, "HPACK: "+err.Error())
		}
		return nil
	}
	if c.cur != nil {
		c.data(c.cur, b)
	}
	return nil
}

// endFrame acts on a frame whose payload has all been seen.
func (c *Conn) endFrame() error {
	switch c.typ {
	case frameData:
		return c.endData()
	case frameHeaders, frameContinuation:
		if c.flags&flagEndHeaders != 0 {
			return c.endBlock()
		}
	case framePriority:
		// Stream errors, but an idle stream cannot be reset (RFC 9113 §6.4).
		code := ErrCodeNo
		if c.length != 5 {
			code = ErrCodeFrameSize
		} else if be32(c.small[:4])&0x7fffffff == c.sid {
			code = ErrCodeProtocol
		}
		switch {
		case code == ErrCodeNo:
		case c.sid > c.maxID:
			return c.fail(code, "invalid PRIORITY on an idle stream")
		default:
			c.streamErrorID(c.sid, code)
		}
	case frameRSTStream:
		if err := c.countReset(); err != nil {
			return err
		}
		if s := c.streams[c.sid]; s != nil {
			wasOpen := s.state == stOpen
			c.free(s)
			if wasOpen {
				c.h.End(c.sid, EndPeerReset)
			}
		}
	case frameSettings:
		if c.flags&flagAck == 0 {
			c.out = appendFrameHeader(c.out, 0, frameSettings, flagAck, 0)
			c.ctrlPending++
			c.unblock()
		}
	case framePing:
		if c.flags&flagAck == 0 {
			c.out = appendFrameHeader(c.out, 8, framePing, flagAck, 0)
			c.out = append(c.out, c.small[:8]...)
			c.ctrlPending++
		}
	case frameGoAway:
		c.peerGoAway = true
	case frameWindowUpdate:
		return c.windowUpdate(be32(c.small[:4]) & 0x7fffffff)
	}
	return nil
}

func (c *Conn) endData() error {
	n := int64(c.length)
	c.connUnacked += n
	if c.connUnacked >= int64(c.cfg.ConnWindowSize/2) {
		c.writeWindowUpdate(0, uint32(c.connUnacked))
		c.recvConn += c.connUnacked
		c.connUnacked = 0
	}
	s := c.cur
	c.cur = nil
	if s == nil || s.state != stOpen {
		return nil
	}
	if c.flags&flagEndStream != 0 {
		c.halfClose(s)
		return nil
	}
	s.unacked += n
	if s.unacked >= int64(c.cfg.InitialWindowSize/2) {
		c.writeWindowUpdate(s.id, uint32(s.unacked))
		s.recvWindow += s.unacked
		s.unacked = 0
	}
	return nil
}

func (c *Conn) windowUpdate(incr uint32) error {
	if c.sid == 0 {
		if incr == 0 {
			return c.fail(ErrCodeProtocol, "WINDOW_UPDATE of 0")
		}
		c.sendConn += int64(incr)
		if c.sendConn > maxWindowSize {
			return c.fail(ErrCodeFlowControl, "connection send window over 2^31-1")
		}
		c.unblock()
		return nil
	}
	if c.sid > c.maxID {
		return c.fail(ErrCodeProtocol, "WINDOW_UPDATE on an idle stream")
	}
	s := c.streams[c.sid]
	switch {
	case s == nil:
	case incr == 0:
		c.streamError(s, ErrCodeProtocol)
	case s.sendWindow+int64(incr) > maxWindowSize:
		c.streamError(s, ErrCodeFlowControl)
	default:
		s.sendWindow += int64(incr)
		c.unblock()
	}
	return nil
}

func (c *Conn) setting(id uint16, v uint32) error {
	switch id {
	case settingEnablePush:
		if v > 1 {
			return c.fail(ErrCodeProtocol, "SETTINGS_ENABLE_PUSH not 0 or 1")
		}
	case settingInitialWindowSize:
		if v > maxWindowSize {
			return c.fail(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1")
		}
		delta := int64(v) - c.peerInitWindow
		c.peerInitWindow = int64(v)
		for _, s := range c.streams {
			s.sendWindow += delta
			if s.sendWindow > maxWindowSize {
				return c.fail(ErrCodeFlowControl, "stream send window over 2^31-1")
			}
		}
	case settingMaxFrameSize:
		// Our frames are all far below the smallest allowed value: an
		// answer's header block is at most ~3.2 KB (maxStatusMessage).
		if v < minMaxFrameSize || v > maxMaxFrameSize {
			return c.fail(ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE out of range")
		}
	}
	// SETTINGS_HEADER_TABLE_SIZE: our encoder keeps no dynamic table.
	// SETTINGS_MAX_CONCURRENT_STREAMS: we open no streams.
	// SETTINGS_MAX_HEADER_LIST_SIZE: advisory; our answers are small.
	return nil
}

// countReset counts a stream the client reset or we refused for
// MaxConcurrentStreams (rapid reset, CVE-2023-44487).
func (c *Conn) countReset() error {
	if c.rstSince.IsZero() || c.now.Sub(c.rstSince) >= time.Second {
		c.rstSince, c.rstCount = c.now, 0
	}
	c.rstCount++
	if c.rstCount > c.cfg.MaxResetsPerSecond {
		return c.fail(ErrCodeEnhanceYourCalm, "too many streams reset")
	}
	return nil
}

// streamError ends s with RST_STREAM code (a stream error, RFC 9113 §5.4.2).
func (c *Conn) streamError(s *stream, code ErrCode) {
	wasOpen := s.state == stOpen
	c.writeRST(s.id, code)
	c.free(s)
	if wasOpen {
		c.h.End(s.id, EndProtocolError)
	}
}

// streamErrorID is streamError for a stream id that may not be open.
func (c *Conn) streamErrorID(id uint32, code ErrCode) {
	if s := c.streams[id]; s != nil {
		c.streamError(s, code)
		return
	}
	c.writeRST(id, code)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
