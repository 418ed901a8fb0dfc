package h2grpc

import (
	"strings"

	"golang.org/x/net/http2/hpack"
)

// Message buffers: a message that spans frames or Feed calls is assembled
// in a buffer that grows with the bytes that arrived (never with the
// length the prefix announces), and goes back to the Conn's spares when
// the message is complete.
const (
	minMsgBuf     = 4 << 10   // first capacity of a message buffer
	maxSpareBuf   = 256 << 10 // larger buffers are dropped, not kept
	maxSpareBufs  = 4
	grpcPrefixLen = 5 // compressed flag and 4-byte length
)

// onField is the HPACK decoder's emit function: it bounds the header list
// and checks the fields of a request (RFC 9113 §8.2, §8.3).
func (c *Conn) onField(f hpack.HeaderField) {
	hb := &c.hb
	hb.size += uint64(f.Size())
	if hb.size > uint64(c.cfg.MaxHeaderListSize) {
		hb.tooBig = true
	}
	if hb.kind != blockNew || hb.tooBig || hb.malformed != "" {
		return
	}
	h := &c.hdrs
	if f.IsPseudo() {
		if hb.regular {
			hb.malformed = "pseudo-header field after a regular field"
			return
		}
		var dst *string
		switch f.Name {
		case ":method":
			dst = &h.Method
		case ":scheme":
			dst = &h.Scheme
		case ":authority":
			dst = &h.Authority
		case ":path":
			dst = &h.Path
		default:
			hb.malformed = "invalid pseudo-header field " + f.Name
			return
		}
		if *dst != "" || f.Value == "" {
			hb.malformed = "duplicate or empty " + f.Name
			return
		}
		*dst = f.Value
		return
	}
	hb.regular = true
	if strings.ContainsFunc(f.Name, func(r rune) bool { return 'A' <= r && r <= 'Z' }) {
		hb.malformed = "upper-case field name"
		return
	}
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		hb.malformed = "connection-specific field " + f.Name
		return
	case "te":
		if f.Value != "trailers" {
			hb.malformed = "te other than trailers"
			return
		}
	case "content-type":
		h.ContentType = f.Value
	case "grpc-encoding":
		h.Encoding = f.Value
	case "grpc-timeout":
		h.Timeout = f.Value
	}
	h.Fields = append(h.Fields, f)
}

// endBlock acts on a complete header block.
func (c *Conn) endBlock() error {
	if err := c.dec.Close(); err != nil {
		return c.fail(ErrCodeCompression, "HPACK: "+err.Error())
	}
	hb := c.hb
	c.hb.open = false
	switch hb.kind {
	case blockNew:
		return c.openStream(&hb)
	case blockTrailers:
		s := c.streams[hb.sid]
		if s == nil || s.state != stOpen {
			return nil
		}
		if !hb.endStream || hb.malformed != "" {
			c.streamError(s, ErrCodeProtocol) // trailers must end the stream
			return nil
		}
		c.halfClose(s)
	case blockIgnore:
		if s := c.streams[hb.sid]; s != nil && s.remoteClosed {
			c.streamError(s, ErrCodeStreamClosed)
		}
	}
	return nil
}

// openStream handles the request header block of a new stream.
func (c *Conn) openStream(hb *headerBlock) error {
	id, h := hb.sid, &c.hdrs
	switch {
	case c.goAwaySent && id > c.goAwayID:
		c.writeRST(id, ErrCodeRefusedStream)
		return nil
	case hb.malformed != "":
		c.writeRST(id, ErrCodeProtocol)
		return nil
	case hb.tooBig:
		c.answerEarly(id, 200, Errorf(ResourceExhausted, "header list larger than %d bytes", c.cfg.MaxHeaderListSize), hb.endStream)
		return nil
	case h.Method == "" || h.Scheme == "" || h.Path == "":
		c.writeRST(id, ErrCodeProtocol)
		return nil
	case len(c.streams) >= int(c.cfg.MaxConcurrentStreams):
		c.writeRST(id, ErrCodeRefusedStream)
		return c.countReset()
	case h.Method != "POST":
		c.answerEarly(id, 405, Status{Code: Internal, Message: "invalid HTTP method " + h.Method}, hb.endStream)
		return nil
	case !isGRPCContentType(h.ContentType):
		c.answerEarly(id, 415, Status{Code: InvalidArgument, Message: "invalid gRPC request content-type " + h.ContentType}, hb.endStream)
		return nil
	}
	if st := c.h.Open(id, h); st.Code != OK {
		c.answerEarly(id, 200, st, hb.endStream)
		return nil
	}
	s := c.newStream(id)
	if hb.endStream {
		c.halfClose(s)
	}
	return nil
}

// isGRPCContentType reports whether v is application/grpc or
// application/grpc+<subtype> or application/grpc;<params>.
func isGRPCContentType(v string) bool {
	rest, ok := strings.CutPrefix(v, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// answerEarly refuses a stream that was never open for the Handler with a
// trailers-only answer.
func (c *Conn) answerEarly(id uint32, httpStatus int, st Status, remoteClosed bool) {
	c.writeTrailersOnly(id, httpStatus, st)
	if !remoteClosed {
		c.writeRST(id, ErrCodeNo)
	}
}

func (c *Conn) writeTrailersOnly(id uint32, httpStatus int, st Status) {
	at := len(c.out)
	c.out = appendFrameHeader(c.out, 0, frameHeaders, flagEndHeaders|flagEndStream, id)
	c.out = appendTrailersOnly(c.out, httpStatus, st)
	n := len(c.out) - at - frameHeaderLen
	c.out[at], c.out[at+1], c.out[at+2] = byte(n>>16), byte(n>>8), byte(n)
}

func (c *Conn) newStream(id uint32) *stream {
	var s *stream
	if n := len(c.spare); n > 0 {
		s, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		s = new(stream)
	}
	*s = stream{
		id:         id,
		state:      stOpen,
		recvWindow: int64(c.cfg.InitialWindowSize),
		sendWindow: c.peerInitWindow,
	}
	c.streams[id] = s
	return s
}

// free forgets s: its message bytes leave the pending count and its
// buffer goes back to the spares. The caller calls End, if it must, after.
func (c *Conn) free(s *stream) {
	if s.state == stAnswering {
		c.blocked--
	}
	delete(c.streams, s.id)
	c.pending -= s.held
	if s.buf != nil {
		c.putBuf(s.buf)
	}
	if c.cur == s {
		c.cur = nil
	}
	*s = stream{id: s.id}
	if len(c.spare) < int(c.cfg.MaxConcurrentStreams) {
		c.spare = append(c.spare, s)
	}
}

// data parses the gRPC messages in b, DATA payload of s.
func (c *Conn) data(s *stream, b []byte) {
	s.lastData = c.now
	for len(b) > 0 && s.state == stOpen {
		if s.pfxN < grpcPrefixLen {
			if s.pfxN == 0 {
				s.since = c.now
			}
			k := copy(s.pfx[s.pfxN:], b)
			s.pfxN += k
			c.hold(s, k)
			b = b[k:]
			if s.pfxN < grpcPrefixLen {
				return
			}
			if !c.beginMessage(s) {
				return
			}
			if s.msgLen == 0 {
				c.complete(s, b[:0])
			}
			continue
		}
		need := s.msgLen - s.got
		if s.got == 0 && len(b) >= need {
			// The whole body is here: no copy.
			msg := b[:need]
			b = b[need:]
			c.complete(s, msg)
			continue
		}
		k := min(need, len(b))
		if s.buf == nil {
			s.buf = c.getBuf(s.msgLen, k)
		} else if cap(s.buf)-len(s.buf) < k {
			// Grow by doubling, up to the message: the old buffer goes
			// back (to the pool, if any) rather than to the garbage.
			nb := c.getBuf(s.msgLen, max(2*cap(s.buf), len(s.buf)+k)/2)
			nb = append(nb, s.buf...)
			c.putBuf(s.buf)
			s.buf = nb
		}
		s.buf = append(s.buf, b[:k]...)
		s.got += k
		c.hold(s, k)
		b = b[k:]
		if s.got == s.msgLen {
			c.complete(s, s.buf)
		}
	}
}

// beginMessage checks a complete 5-byte prefix; false: s was answered.
func (c *Conn) beginMessage(s *stream) bool {
	flags, n := s.pfx[0], be32(s.pfx[1:5])
	switch {
	case flags&1 != 0:
		c.finishStream(s, Status{Code: Unimplemented, Message: "compressed gRPC messages are not supported"}, EndCompressed)
		return false
	case flags != 0:
		c.finishStream(s, Status{Code: Internal, Message: "invalid gRPC message flags"}, EndMalformed)
		return false
	case uint64(n) > uint64(c.cfg.MaxRecvMsgSize):
		c.finishStream(s, Errorf(ResourceExhausted, "grpc: received message larger than max (%d vs. %d)", n, c.cfg.MaxRecvMsgSize), EndTooLarge)
		return false
	}
	s.msgLen, s.got = int(n), 0
	return true
}

func (c *Conn) hold(s *stream, n int) {
	s.held += n
	c.pending += n
}

// complete hands a whole message to the Handler.
func (c *Conn) complete(s *stream, msg []byte) {
	s.pfxN, s.msgLen, s.got = 0, 0, 0
	c.pending -= s.held
	s.held = 0
	st := c.h.Message(s.id, msg)
	// free (Finish or Reset during Message) may have taken the buffer.
	if s.buf != nil {
		c.putBuf(s.buf)
		s.buf = nil
	}
	if st.Code != OK && s.state == stOpen {
		c.finishStream(s, st, EndFinished)
	}
}

func (c *Conn) getBuf(msgLen, first int) []byte {
	if c.cfg.Buffers != nil {
		return c.cfg.Buffers.Get(min(msgLen, max(minMsgBuf, 2*first)))[:0]
	}
	if n := len(c.bufs); n > 0 {
		b := c.bufs[n-1]
		c.bufs = c.bufs[:n-1]
		return b
	}
	return make([]byte, 0, min(msgLen, max(minMsgBuf, 2*first)))
}

func (c *Conn) putBuf(b []byte) {
	if c.cfg.Buffers != nil {
		c.cfg.Buffers.Put(b)
		return
	}
	if cap(b) <= maxSpareBuf && len(c.bufs) < maxSpareBufs {
		c.bufs = append(c.bufs, b[:0])
	}
}

// halfClose handles END_STREAM on an open stream.
func (c *Conn) halfClose(s *stream) {
	s.remoteClosed = true
	if s.pfxN > 0 {
		c.finishStream(s, Status{Code: Internal, Message: "client half-closed inside a gRPC message"}, EndMalformed)
		return
	}
	s.ending, s.answer = true, Status{}
	c.h.End(s.id, EndHalfClosed)
	s.ending = false
	if s.state != stOpen { // closed during End (Close is not allowed there, but a connection error is)
		return
	}
	if s.reset {
		c.writeRST(s.id, s.resetCode)
		c.free(s)
		return
	}
	c.answer(s, s.answer)
}

// finishStream answers s with st and ends it for the Handler with reason.
func (c *Conn) finishStream(s *stream, st Status, reason EndReason) {
	c.answer(s, st)
	c.h.End(s.id, reason)
}

// answer writes s's answer, then frees it; an OK answer whose DATA frame
// does not fit the client's window waits (stAnswering) for WINDOW_UPDATE.
func (c *Conn) answer(s *stream, st Status) {
	if st.Code == OK && (c.sendConn < grpcPrefixLen || s.sendWindow < grpcPrefixLen) {
		if s.state != stAnswering {
			s.state = stAnswering
			c.blocked++
		}
		c.pending -= s.held
		s.held, s.pfxN, s.got = 0, 0, 0
		return
	}
	if st.Code == OK {
		c.out = appendFrameHeader(c.out, len(blockResponseHeaders), frameHeaders, flagEndHeaders, s.id)
		c.out = append(c.out, blockResponseHeaders...)
		c.out = appendFrameHeader(c.out, grpcPrefixLen, frameData, 0, s.id)
		c.out = append(c.out, 0, 0, 0, 0, 0) // the empty response message
		c.sendConn -= grpcPrefixLen
		s.sendWindow -= grpcPrefixLen
		c.out = appendFrameHeader(c.out, len(blockTrailersOK), frameHeaders, flagEndHeaders|flagEndStream, s.id)
		c.out = append(c.out, blockTrailersOK...)
	} else {
		c.writeTrailersOnly(s.id, 200, st)
	}
	if !s.remoteClosed {
		c.writeRST(s.id, ErrCodeNo) // the client need not send the rest (RFC 9113 §8.1)
	}
	c.free(s)
}

// unblock sends the OK answers the client's window now allows.
func (c *Conn) unblock() {
	if c.blocked == 0 {
		return
	}
	for _, s := range c.streams {
		if s.state == stAnswering {
			c.answer(s, Status{})
		}
	}
}
