package wire

// DecodeAccessLogsSegments decodes a StreamAccessLogsMessage given as
// consecutive segments of its encoding (the HTTP/2 frames gRPC received it
// in) as DecodeAccessLogs decodes their concatenation, without copying it
// whole. An identifier or log entry that lies within one segment is decoded
// in place; one that straddles segments is copied into arena first. arena's
// capacity must be at least the message's length; its contents are
// overwritten. The Message's byte slices alias the segments and arena.
//
// Only the usual shape is walked across segments: length-delimited fields
// at the top two levels. Anything else there (other wire types, groups,
// malformed or truncated lengths) is decoded by DecodeAccessLogs on the
// segments concatenated into arena, so that the results and errors are the
// same in every case.
func DecodeAccessLogsSegments(segs [][]byte, arena []byte, m *Message) error {
	if len(segs) == 1 {
		return DecodeAccessLogs(segs[0], m)
	}
	total := 0
	for _, s := range segs {
		total += len(s)
	}
	if cap(arena) < total {
		arena = make([]byte, 0, total)
	}
	if decodeSegments(segs, total, arena[:0], m) {
		return nil
	}
	b := arena[:0]
	for _, s := range segs {
		b = append(b, s...)
	}
	return DecodeAccessLogs(b, m)
}

// decodeSegments decodes the usual shape of message across segments. It
// reports false (m then undefined) where DecodeAccessLogs must decide:
// another shape, or any error.
func decodeSegments(segs [][]byte, total int, arena []byte, m *Message) bool {
	m.reset()
	var ms messageState
	var kind uint64
	c := segCursor{segs: segs}
	for c.pos < total {
		num, n, ok := c.bytesField(total)
		if !ok {
			return false
		}
		switch num {
		case 1:
			p, ok := c.take(n, &arena)
			if !ok {
				return false
			}
			m.Identifier.Present = true
			if decodeIdentifier(p, m, &ms) != nil {
				return false
			}
		case 2, 3:
			if kind != num {
				kind = num
				m.Entries = m.Entries[:0]
				m.HTTP = num == 2
			}
			end := c.pos + n
			for c.pos < end {
				num, n, ok := c.bytesField(end)
				if !ok {
					return false
				}
				if num != 1 {
					c.skip(n)
					continue
				}
				p, ok := c.take(n, &arena)
				if !ok || decodeEntry(p, m, kind == 3) != nil {
					return false
				}
			}
		default:
			c.skip(n)
		}
	}
	return true
}

// segCursor reads a message spread over segments.
type segCursor struct {
	segs [][]byte
	si   int // current segment
	off  int // offset in it
	pos  int // offset in the message
}

// byte returns the next byte.
func (c *segCursor) byte() (byte, bool) {
	for c.si < len(c.segs) && c.off == len(c.segs[c.si]) {
		c.si, c.off = c.si+1, 0
	}
	if c.si == len(c.segs) {
		return 0, false
	}
	b := c.segs[c.si][c.off]
	c.off++
	c.pos++
	return b, true
}

// varint reads a varint of at most 10 bytes.
func (c *segCursor) varint() (uint64, bool) {
	var v uint64
	for shift := uint(0); shift < 70; shift += 7 {
		b, ok := c.byte()
		if !ok {
			return 0, false
		}
		if shift == 63 && b > 1 {
			return 0, false
		}
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, true
		}
	}
	return 0, false
}

// bytesField reads the key and length of a length-delimited field that
// ends at or before end; false for anything else.
func (c *segCursor) bytesField(end int) (num uint64, n int, ok bool) {
	key, ok := c.varint()
	if !ok || key&7 != wireBytes || key>>3 == 0 || key>>3 > maxFieldNumber {
		return 0, 0, false
	}
	l, ok := c.varint()
	// The key and the length must themselves lie before end: a field
	// whose header runs past the enclosing one is malformed.
	if !ok || c.pos > end || l > uint64(end-c.pos) {
		return 0, 0, false
	}
	return key >> 3, int(l), true
}

// take returns the next n bytes: in place when they lie in one segment,
// else copied to the end of *arena (false when it lacks the capacity).
func (c *segCursor) take(n int, arena *[]byte) ([]byte, bool) {
	for c.si < len(c.segs) && c.off == len(c.segs[c.si]) {
		c.si, c.off = c.si+1, 0
	}
	if c.si < len(c.segs) && len(c.segs[c.si])-c.off >= n {
		p := c.segs[c.si][c.off : c.off+n : c.off+n]
		c.off += n
		c.pos += n
		return p, true
	}
	a := *arena
	if cap(a)-len(a) < n {
		return nil, false
	}
	start := len(a)
	for rest := n; rest > 0; {
		for c.off == len(c.segs[c.si]) {
			c.si, c.off = c.si+1, 0
		}
		k := min(rest, len(c.segs[c.si])-c.off)
		a = append(a, c.segs[c.si][c.off:c.off+k]...)
		c.off += k
		rest -= k
	}
	c.pos += n
	*arena = a
	return a[start:len(a):len(a)], true
}

// skip moves past the next n bytes (the caller checked they exist).
func (c *segCursor) skip(n int) {
	for n > 0 {
		if c.off == len(c.segs[c.si]) {
			c.si, c.off = c.si+1, 0
			continue
		}
		k := min(n, len(c.segs[c.si])-c.off)
		c.off += k
		c.pos += k
		n -= k
	}
}
