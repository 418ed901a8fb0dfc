package accesslog

import (
	"bytes"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// parseTrace recovers the trace context from logged request headers: W3C
// traceparent first, then B3 single header, then B3 multi headers.
func parseTrace(e *entry.Entry, t *TraceContext) {
	if parseTraceparent(e.Traceparent, t) {
		return
	}
	*t = TraceContext{}
	if parseB3Single(e.B3, t) {
		return
	}
	*t = TraceContext{}
	if len(e.B3TraceID) > 0 && hexID(e.B3TraceID, t.TraceID[:]) && hexInto(e.B3SpanID, t.SpanID[:]) {
		t.Format = TraceB3Multi
		if len(e.B3ParentSpanID) > 0 && !hexInto(e.B3ParentSpanID, t.ParentSpanID[:]) {
			t.ParentSpanID = [8]byte{}
		}
		if len(e.B3Sampled) > 0 {
			t.HasSampled = true
			t.Sampled = bytes.Equal(e.B3Sampled, []byte("1")) || bytes.EqualFold(e.B3Sampled, []byte("true"))
		}
		return
	}
	*t = TraceContext{}
}

// parseTraceparent parses "00-<32 hex>-<16 hex>-<2 hex>" (future versions
// may append fields).
func parseTraceparent(v []byte, t *TraceContext) bool {
	v = bytes.TrimSpace(v)
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return false
	}
	if bytes.Equal(v[:2], []byte("ff")) || (bytes.Equal(v[:2], []byte("00")) && len(v) != 55) {
		return false
	}
	var flags [1]byte
	if !hexInto(v[3:35], t.TraceID[:]) || !hexInto(v[36:52], t.SpanID[:]) || !hexInto(v[53:55], flags[:]) {
		return false
	}
	if t.TraceID == [16]byte{} || t.SpanID == [8]byte{} {
		return false
	}
	t.Format = TraceW3C
	t.HasSampled = true
	t.Sampled = flags[0]&1 == 1
	return true
}

// parseB3Single parses "traceid-spanid[-sampled[-parentspanid]]" (a lone
// sampling state "0"/"1"/"d" carries no ids).
func parseB3Single(v []byte, t *TraceContext) bool {
	v = bytes.TrimSpace(v)
	i := bytes.IndexByte(v, '-')
	if i < 0 {
		return false
	}
	if !hexID(v[:i], t.TraceID[:]) {
		return false
	}
	rest := v[i+1:]
	span := rest
	if j := bytes.IndexByte(rest, '-'); j >= 0 {
		span, rest = rest[:j], rest[j+1:]
	} else {
		rest = nil
	}
	if !hexInto(span, t.SpanID[:]) {
		return false
	}
	t.Format = TraceB3Single
	if len(rest) > 0 {
		sampled := rest
		if j := bytes.IndexByte(rest, '-'); j >= 0 {
			sampled, rest = rest[:j], rest[j+1:]
			if !hexInto(rest, t.ParentSpanID[:]) {
				t.ParentSpanID = [8]byte{}
			}
		}
		t.HasSampled = true
		t.Sampled = bytes.Equal(sampled, []byte("1")) || bytes.Equal(sampled, []byte("d"))
	}
	return true
}

// hexID decodes a 16- or 32-digit hex trace id into a 16-byte id (64-bit ids
// are left-padded with zeros, as B3 specifies).
func hexID(v []byte, dst []byte) bool {
	switch len(v) {
	case 32:
		return hexInto(v, dst) && !allZero(dst)
	case 16:
		clear(dst[:8])
		return hexInto(v, dst[8:]) && !allZero(dst)
	}
	return false
}

func hexInto(v []byte, dst []byte) bool {
	if len(v) != 2*len(dst) {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := unhexTable[v[2*i]], unhexTable[v[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad&0x80 == 0
}

// unhexTable maps a hex digit to its value and anything else to 0xff.
var unhexTable = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
