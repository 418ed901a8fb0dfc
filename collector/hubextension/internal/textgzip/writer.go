package textgzip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/bits"
)

const (
	windowSize = 1 << 15 // DEFLATE's farthest back-reference
	maxMatch   = 258     // DEFLATE's longest back-reference
	// minMatch is the shortest back-reference the writer emits (DEFLATE
	// allows 3; a 3-byte one is rarely shorter than its literals).
	minMatch = 4
	// inputBytes is how much input the writer takes before it encodes what
	// it holds; it keeps windowSize of encoded input besides.
	inputBytes = 256 << 10
	// maxTokens is a block: the tokens that get one Huffman code.
	maxTokens = 1 << 16
	// hashRest: what is left of a line after the references to the line
	// before goes through the hash matcher from this length on (a line seen
	// for the first time, a comment); shorter (a value, the end of a le
	// label), it is literals.
	hashRest = 32
	hashBits = 14
	// outBytes is how much compressed output the writer holds before it
	// writes it to the underlying writer.
	outBytes = 32 << 10
)

// ErrClosed is returned by Write and Close on a closed Writer.
var ErrClosed = errors.New("textgzip: writer closed")

// token is a literal byte (below matchFlag) or a back-reference:
// matchFlag | (length-3)<<15 | (distance-1).
type token uint32

const matchFlag token = 1 << 31

// Writer compresses what is written to it into a gzip stream on an
// underlying writer, like compress/gzip's Writer at a fast level. It is not
// safe for concurrent use. It holds about 0.7 MB whatever the input
// (windowSize + inputBytes of input, maxTokens tokens, a hash table of
// 64 KiB and outBytes of output), allocated once: Reset reuses it.
type Writer struct {
	w      io.Writer
	err    error
	closed bool
	crc    uint32
	size   uint32 // input bytes, modulo 2^32 (gzip's ISIZE)

	// buf is input from stream offset pos0 on: up to windowSize bytes
	// already encoded (the history back-references reach), then buf[done:],
	// not yet encoded (the start of a line whose end has not come).
	buf  []byte
	done int
	pos0 int64
	// prevStart and prevBrace are where in buf the last encoded line
	// starts and its first '{' (-1: it has none, or it has left buf).
	prevStart, prevBrace int
	// table maps the hash of 4 bytes to the stream offset (modulo 2^32) of
	// the last place they were seen by the hash matcher.
	table [1 << hashBits]uint32

	tokens   []token
	litFreq  [numLitLen]uint32
	distFreq [numDist]uint32

	// Output: bits not yet in out, then out, not yet written to w.
	bits  uint64
	nbits uint
	out   []byte

	hb       huffBuilder
	ll, dist huffCode
	cl       huffCode
	clFreq   [numCodeLen]uint32
	clSyms   []uint16 // the code lengths, run-length coded: symbol | extra<<8
}

// NewWriter returns a Writer that writes a gzip stream to w.
func NewWriter(w io.Writer) *Writer {
	z := &Writer{
		buf:    make([]byte, 0, windowSize+inputBytes),
		tokens: make([]token, 0, maxTokens),
		out:    make([]byte, 0, outBytes+1024),
		ll:     newHuffCode(numLitLen),
		dist:   newHuffCode(numDist),
		cl:     newHuffCode(numCodeLen),
	}
	z.Reset(w)
	return z
}

// Reset discards the Writer's state and makes it write a new stream to w.
func (z *Writer) Reset(w io.Writer) {
	z.w, z.err, z.closed = w, nil, false
	z.crc, z.size = 0, 0
	z.buf, z.done, z.pos0 = z.buf[:0], 0, 0
	z.prevStart, z.prevBrace = -1, -1
	clear(z.table[:])
	z.tokens = z.tokens[:0]
	clear(z.litFreq[:])
	clear(z.distFreq[:])
	z.bits, z.nbits = 0, 0
	// The gzip header (RFC 1952 §2.3): deflate, no flags, no time, the
	// fastest level's XFL, OS unknown.
	z.out = append(z.out[:0], 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255)
}

// Write compresses p. Its output reaches the underlying writer in pieces of
// about 32 KiB, the last of them on Close.
func (z *Writer) Write(p []byte) (int, error) {
	if z.closed {
		return 0, ErrClosed
	}
	if z.err != nil {
		return 0, z.err
	}
	n := len(p)
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(n)
	for len(p) > 0 && z.err == nil {
		if len(z.buf) == cap(z.buf) {
			z.slide()
			if len(z.buf) == cap(z.buf) { // one line fills the buffer
				z.encode(true)
				z.slide()
			}
		}
		k := copy(z.buf[len(z.buf):cap(z.buf)], p)
		z.buf = z.buf[:len(z.buf)+k]
		p = p[k:]
		z.encode(false)
	}
	if z.err != nil {
		return 0, z.err
	}
	return n, nil
}

// Close encodes what is left, ends the stream and writes it out. It does
// not close the underlying writer.
func (z *Writer) Close() error {
	if z.closed {
		return ErrClosed
	}
	z.closed = true
	if z.err != nil {
		return z.err
	}
	z.encode(true)
	z.writeBlock(true)
	for ; z.nbits > 0; z.nbits -= min(z.nbits, 8) {
		z.out = append(z.out, byte(z.bits))
		z.bits >>= 8
	}
	z.out = binary.LittleEndian.AppendUint32(z.out, z.crc)
	z.out = binary.LittleEndian.AppendUint32(z.out, z.size)
	z.flushOut()
	return z.err
}

// slide drops the input that is neither within windowSize of what is
// left to encode nor left to encode.
func (z *Writer) slide() {
	start := z.done - windowSize
	if start <= 0 {
		return
	}
	n := copy(z.buf, z.buf[start:])
	z.buf = z.buf[:n]
	z.done -= start
	z.pos0 += int64(start)
	z.prevStart = max(z.prevStart-start, -1)
	z.prevBrace = max(z.prevBrace-start, -1)
}

// encode encodes the complete lines of buf[done:], and the rest if all.
func (z *Writer) encode(all bool) {
	for z.done < len(z.buf) {
		e := len(z.buf)
		if nl := bytes.IndexByte(z.buf[z.done:], '\n'); nl >= 0 {
			e = z.done + nl + 1
		} else if !all {
			return
		}
		z.encodeLine(z.done, e)
		z.done = e
	}
}

// encodeLine encodes buf[s:e], a line (or a piece of one, or the bytes
// left at the end), that follows the line at prevStart.
//
// Its common prefix with the line before is one back-reference (in 258-byte
// pieces) at the distance between the two lines; then, from the first '{'
// of each (when the prefix ended before it: a histogram's _sum after its
// last _bucket), their common part is another. What is left is literals,
// or goes through the hash matcher when it is long: a series seen for the
// first time shares label names and values with the lines before it, not
// with the line before.
func (z *Writer) encodeLine(s, e int) {
	buf := z.buf
	i := s
	brace := -1
	if k := bytes.IndexByte(buf[s:e], '{'); k >= 0 {
		brace = s + k
	}
	pj := -1 // where in the line before i's byte would be, once aligned
	if ps := z.prevStart; ps >= 0 && s-ps <= windowSize {
		if n := commonPrefix(buf[s:e], buf[ps:s]); n >= minMatch {
			z.match(n, s-ps)
			i, pj = s+n, ps+n
		}
	}
	if pb := z.prevBrace; brace >= i && pb >= 0 && brace-pb <= windowSize {
		if n := commonPrefix(buf[brace:e], buf[pb:e]); n >= minMatch {
			z.literals(buf[i:brace])
			z.match(n, brace-pb)
			i, pj = brace+n, pb+n
		}
	}
	if pj >= 0 && i < e {
		i = z.resync(i, e, pj, s)
	}
	z.prevStart, z.prevBrace = s, brace
	if e-i >= hashRest {
		z.hashMatch(i, e)
	} else {
		z.literals(buf[i:e])
	}
}

// maxResyncs bounds the label values a line may differ in from the line
// before and still be resynchronised with it.
const maxResyncs = 8

// resync encodes what follows a difference between a line and the line
// before (a new series, whose labels differ in a value or two from the
// last series'): the two lines are aligned again at the next '"' of each,
// the end of the label value that differs, and their common part from
// there, with the values' common end before it, is one more back-reference;
// the rest of the value is literals. It stops at the first alignment that
// does not match and returns where encoding goes on.
// i is the position in buf of the first byte that differs, pi the
// position of the aligned byte in the line before, which ends at pe.
func (z *Writer) resync(i, e, pi, pe int) int {
	buf := z.buf
	for range maxResyncs {
		q := bytes.IndexByte(buf[i:e], '"')
		pq := bytes.IndexByte(buf[pi:pe], '"')
		if q < 0 || pq < 0 {
			break
		}
		ci, cp := i+q, pi+pq
		d := ci - cp
		if d <= 0 || d > windowSize {
			break
		}
		n := commonPrefix(buf[ci:e], buf[cp:pe])
		// The values' common end ("9.ns.svc.cluster.local" after
		// "8.ns.svc.cluster.local") belongs to the reference too.
		k := 0
		for ci-k > i && cp-k > pi && buf[ci-k-1] == buf[cp-k-1] {
			k++
		}
		if n+k < minMatch {
			break
		}
		z.literals(buf[i : ci-k])
		z.match(n+k, d)
		i, pi = ci+n, cp+n
		if i == e {
			break
		}
	}
	return i
}

// hashMatch encodes buf[s:e] greedily: at each position, the last place
// the hash of its 4 bytes was seen, if the bytes are equal and within the
// window, starts a back-reference as long as they stay equal; else a
// literal. Past 64 literals in a row it looks at every other position, and
// so on, to get through input that does not compress.
func (z *Writer) hashMatch(s, e int) {
	buf := z.buf
	lit, i := s, s
	for i+minMatch <= e {
		cur := binary.LittleEndian.Uint32(buf[i:])
		h := (cur * 0x1e35a7bd) >> (32 - hashBits)
		at := uint32(z.pos0 + int64(i))
		d := int(at - z.table[h])
		z.table[h] = at
		if d > 0 && d <= windowSize && d <= i && binary.LittleEndian.Uint32(buf[i-d:]) == cur {
			n := minMatch + commonPrefix(buf[i+minMatch:e], buf[i-d+minMatch:e])
			z.literals(buf[lit:i])
			z.match(n, d)
			i += n
			lit = i
			continue
		}
		i += 1 + (i-lit)>>6
	}
	z.literals(buf[lit:e])
}

// commonPrefix returns the length of the common prefix of a and b: 128
// bytes at a time through bytes.Equal (vector instructions), then 8 at a
// time.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	a, b = a[:n], b[:n]
	i := 0
	for i+128 <= n && bytes.Equal(a[i:i+128], b[i:i+128]) {
		i += 128
	}
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)>>3
		}
	}
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

func (z *Writer) literals(p []byte) {
	for len(p) > 0 {
		n := len(z.tokens)
		k := min(len(p), maxTokens-n)
		t := z.tokens[n : n+k]
		for i, c := range p[:k] {
			t[i] = token(c)
			z.litFreq[c]++
		}
		z.tokens = z.tokens[:n+k]
		p = p[k:]
		if len(z.tokens) == maxTokens {
			z.writeBlock(false)
		}
	}
}

// match emits a back-reference of n ≥ 3 bytes at distance d as pieces of
// at most 258 bytes (and at least 3).
func (z *Writer) match(n, d int) {
	dc := distCode(uint32(d))
	for n > 0 {
		l := min(n, maxMatch)
		if r := n - l; r > 0 && r < 3 {
			l = n - 3
		}
		n -= l
		z.tokens = append(z.tokens, matchFlag|token(l-3)<<15|token(d-1))
		z.litFreq[257+int(lengthCode[l-3])]++
		z.distFreq[dc]++
		if len(z.tokens) == maxTokens {
			z.writeBlock(false)
		}
	}
}

// writeBits appends the n ≤ 32 low bits of b to the output.
func (z *Writer) writeBits(b uint64, n uint) {
	z.bits |= b << z.nbits
	z.nbits += n
	if z.nbits >= 32 {
		z.out = binary.LittleEndian.AppendUint32(z.out, uint32(z.bits))
		z.bits >>= 32
		z.nbits -= 32
	}
}

func (z *Writer) flushOut() {
	if z.err == nil && len(z.out) > 0 {
		if _, err := z.w.Write(z.out); err != nil {
			z.err = err
		}
	}
	z.out = z.out[:0]
}

// writeBlock writes the tokens as a block, with a dynamic Huffman code
// built from their counts, or the fixed one when that is smaller (a short
// last block).
func (z *Writer) writeBlock(final bool) {
	z.litFreq[endOfBlock]++
	atLeastTwo(z.litFreq[:])
	atLeastTwo(z.distFreq[:])
	z.hb.build(z.litFreq[:], maxBits, &z.ll)
	z.hb.build(z.distFreq[:], maxBits, &z.dist)
	z.ll.assign()
	z.dist.assign()
	numLit := numLitLen
	for numLit > 257 && z.ll.lens[numLit-1] == 0 {
		numLit--
	}
	numD := numDist
	for numD > 1 && z.dist.lens[numD-1] == 0 {
		numD--
	}
	z.codeLengths(numLit, numD)
	atLeastTwo(z.clFreq[:])
	z.hb.build(z.clFreq[:], maxCLBits, &z.cl)
	z.cl.assign()
	numCL := numCodeLen
	for numCL > 4 && z.cl.lens[clOrder[numCL-1]] == 0 {
		numCL--
	}

	dynamic := uint64(5+5+4+3*numCL) + z.bodyBits(&z.ll, &z.dist)
	for s, f := range z.clFreq {
		dynamic += uint64(f) * uint64(z.cl.lens[s])
	}
	for _, c := range z.clSyms {
		dynamic += uint64(clExtraBits[c&0xff])
	}
	var fin uint64
	if final {
		fin = 1
	}
	ll, dist := &fixedLitLen, &fixedDist
	if dynamic < z.bodyBits(ll, dist) {
		ll, dist = &z.ll, &z.dist
		z.writeBits(fin|2<<1, 3)
		z.writeBits(uint64(numLit-257)|uint64(numD-1)<<5|uint64(numCL-4)<<10, 14)
		for _, s := range clOrder[:numCL] {
			z.writeBits(uint64(z.cl.lens[s]), 3)
		}
		for _, c := range z.clSyms {
			s := c & 0xff
			z.writeBits(uint64(z.cl.codes[s])|uint64(c>>8)<<z.cl.lens[s], uint(z.cl.lens[s]+clExtraBits[s]))
		}
	} else {
		z.writeBits(fin|1<<1, 3)
	}
	for _, t := range z.tokens {
		if t < matchFlag {
			z.writeBits(uint64(ll.codes[t]), uint(ll.lens[t]))
			continue
		}
		l := int(t>>15) & 0xff
		lc := lengthCode[l]
		s := 257 + int(lc)
		z.writeBits(uint64(ll.codes[s])|uint64(l+3-int(lengthBase[lc]))<<ll.lens[s], uint(ll.lens[s]+lengthExtra[lc]))
		d := uint32(t&0x7fff) + 1
		dc := distCode(d)
		z.writeBits(uint64(dist.codes[dc])|uint64(d-uint32(distBase[dc]))<<dist.lens[dc], uint(dist.lens[dc]+distExtra[dc]))
	}
	z.writeBits(uint64(ll.codes[endOfBlock]), uint(ll.lens[endOfBlock]))

	z.tokens = z.tokens[:0]
	clear(z.litFreq[:])
	clear(z.distFreq[:])
	if len(z.out) >= outBytes {
		z.flushOut()
	}
}

// bodyBits is the size of the tokens (and the end of block) in the codes
// ll and dist.
func (z *Writer) bodyBits(ll, dist *huffCode) uint64 {
	var n uint64
	for s, f := range &z.litFreq {
		n += uint64(f) * uint64(ll.lens[s])
		if s > endOfBlock {
			n += uint64(f) * uint64(lengthExtra[s-257])
		}
	}
	for s, f := range z.distFreq {
		n += uint64(f) * uint64(dist.lens[s]+distExtra[s])
	}
	return n
}

// clExtraBits are the extra bits of the code-length symbols 16, 17, 18.
var clExtraBits = [numCodeLen]uint8{16: 2, 17: 3, 18: 7}

// codeLengths run-length codes the lengths of the literal/length code's
// first numLit symbols and the distance code's first numD (RFC 1951
// §3.2.7) into clSyms and counts the symbols in clFreq.
func (z *Writer) codeLengths(numLit, numD int) {
	clear(z.clFreq[:])
	z.clSyms = z.clSyms[:0]
	emit := func(s, extra int) {
		z.clSyms = append(z.clSyms, uint16(s|extra<<8))
		z.clFreq[s]++
	}
	n := numLit + numD
	at := func(i int) uint8 {
		if i < numLit {
			return z.ll.lens[i]
		}
		return z.dist.lens[i-numLit]
	}
	for i := 0; i < n; {
		v := at(i)
		run := 1
		for i+run < n && at(i+run) == v {
			run++
		}
		i += run
		if v == 0 {
			for run >= 11 {
				r := min(run, 138)
				emit(18, r-11)
				run -= r
			}
			if run >= 3 {
				emit(17, run-3)
				run = 0
			}
		} else {
			emit(int(v), 0)
			run--
			for run >= 3 {
				r := min(run, 6)
				emit(16, r-3)
				run -= r
			}
		}
		for ; run > 0; run-- {
			emit(int(v), 0)
		}
	}
}

// atLeastTwo makes sure at least two symbols of freq are counted, so that
// the code built from it is complete (some decoders reject a code of one
// symbol); the extra symbols cost a few bits of the block's header.
func atLeastTwo(freq []uint32) {
	used := 0
	for _, f := range freq {
		if f != 0 {
			used++
		}
	}
	for s := 0; used < 2; s++ {
		if freq[s] == 0 {
			freq[s] = 1
			used++
		}
	}
}
