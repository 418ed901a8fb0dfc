package textgzip

import (
	"math/bits"
	"slices"
)

// DEFLATE's alphabets (RFC 1951 §3.2.5).
const (
	numLitLen  = 286 // literals 0-255, end of block 256, lengths 257-285
	numDist    = 30
	numCodeLen = 19
	endOfBlock = 256
	maxBits    = 15 // longest literal/length or distance code
	maxCLBits  = 7  // longest code-length code
)

var (
	lengthBase  = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
	// clOrder is the order in which the code-length code's lengths are sent.
	clOrder = [numCodeLen]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}
)

// lengthCode[l-3] is the length code (0-28, symbol 257+code) of a match of
// length l.
var lengthCode = func() (t [256]uint8) {
	for c := range lengthBase {
		hi := 259
		if c+1 < len(lengthBase) {
			hi = int(lengthBase[c+1])
		}
		for l := int(lengthBase[c]); l < hi && l <= 258; l++ {
			t[l-3] = uint8(c)
		}
	}
	t[258-3] = 28 // 258 has its own code, not 284's last value
	return t
}()

// distCodeLow[d-1] is the distance code of d ≤ 256; distCodeHigh[(d-1)>>7]
// that of a larger d (from 257 on, the codes' ranges start at multiples of
// 128 plus one).
var distCodeLow, distCodeHigh = func() (lo [256]uint8, hi [256]uint8) {
	for c := range distBase {
		end := 32769
		if c+1 < len(distBase) {
			end = int(distBase[c+1])
		}
		for d := int(distBase[c]); d < end; d++ {
			if d <= 256 {
				lo[d-1] = uint8(c)
			} else {
				hi[(d-1)>>7] = uint8(c)
			}
		}
	}
	return lo, hi
}()

func distCode(d uint32) uint8 {
	if d <= 256 {
		return distCodeLow[d-1]
	}
	return distCodeHigh[(d-1)>>7]
}

// huffCode is a canonical Huffman code: for each symbol its length in bits
// (0: unused) and its code, bit-reversed, as DEFLATE sends codes from their
// most significant bit into a stream filled from the least significant.
type huffCode struct {
	lens  []uint8
	codes []uint16
}

func newHuffCode(n int) huffCode {
	return huffCode{lens: make([]uint8, n), codes: make([]uint16, n)}
}

// fixedLitLen and fixedDist are the fixed codes of BTYPE=01.
var fixedLitLen, fixedDist = func() (huffCode, huffCode) {
	ll := newHuffCode(288)
	for i := range ll.lens {
		switch {
		case i < 144:
			ll.lens[i] = 8
		case i < 256:
			ll.lens[i] = 9
		case i < 280:
			ll.lens[i] = 7
		default:
			ll.lens[i] = 8
		}
	}
	ll.assign()
	d := newHuffCode(numDist)
	for i := range d.lens {
		d.lens[i] = 5
	}
	d.assign()
	ll.lens, ll.codes = ll.lens[:numLitLen], ll.codes[:numLitLen]
	return ll, d
}()

// assign gives each used symbol its canonical code from the lengths (RFC
// 1951 §3.2.2).
func (h *huffCode) assign() {
	var count [maxBits + 1]uint16
	for _, l := range h.lens {
		count[l]++
	}
	count[0] = 0
	var next [maxBits + 1]uint16
	code := uint16(0)
	for b := 1; b <= maxBits; b++ {
		code = (code + count[b-1]) << 1
		next[b] = code
	}
	for s, l := range h.lens {
		if l == 0 {
			h.codes[s] = 0
			continue
		}
		h.codes[s] = bits.Reverse16(next[l]) >> (16 - l)
		next[l]++
	}
}

// huffBuilder builds length-limited Huffman codes; its slices are reused
// from one block to the next.
type huffBuilder struct {
	syms  []hnode  // the used symbols, by frequency
	nodes []hnode  // internal nodes, created in order of frequency
	depth []uint8  // of each internal node
	freq  []uint32 // the frequencies being fitted to the limit
}

type hnode struct {
	freq   uint32
	parent int32 // index in nodes, -1 for the root
	sym    uint16
}

// build sets h.lens from freq: a Huffman code of at most limit bits over the
// symbols with a non-zero frequency. A code is complete (it always has at
// least two symbols: the caller makes sure freq has two non-zero counts),
// as every decoder accepts. When the optimal code is longer than limit,
// the frequencies are halved (keeping them non-zero) until it fits: a
// slightly worse code, found in a few passes.
func (b *huffBuilder) build(freq []uint32, limit uint8, h *huffCode) {
	b.freq = append(b.freq[:0], freq...)
	f := b.freq
	for {
		if b.lengths(f, limit, h) {
			return
		}
		for i, v := range f {
			if v != 0 {
				f[i] = v>>1 | 1
			}
		}
	}
}

// lengths sets h.lens to an optimal code's lengths for freq and reports
// whether none is longer than limit.
func (b *huffBuilder) lengths(freq []uint32, limit uint8, h *huffCode) bool {
	b.syms = b.syms[:0]
	for s, v := range freq {
		h.lens[s] = 0
		if v != 0 {
			b.syms = append(b.syms, hnode{freq: v, sym: uint16(s), parent: -1})
		}
	}
	slices.SortFunc(b.syms, func(x, y hnode) int {
		if x.freq != y.freq {
			return int(x.freq) - int(y.freq)
		}
		return int(x.sym) - int(y.sym)
	})
	// Two queues: the leaves by frequency, and the internal nodes, which
	// are created in non-decreasing order of frequency.
	b.nodes = b.nodes[:0]
	type ref struct {
		leaf bool
		i    int32
	}
	li, ni := 0, 0
	take := func() ref {
		if li < len(b.syms) && (ni >= len(b.nodes) || b.syms[li].freq <= b.nodes[ni].freq) {
			li++
			return ref{true, int32(li - 1)}
		}
		ni++
		return ref{false, int32(ni - 1)}
	}
	for n := len(b.syms); n > 1; n-- {
		x, y := take(), take()
		parent := int32(len(b.nodes))
		var f uint32
		for _, r := range [2]ref{x, y} {
			if r.leaf {
				b.syms[r.i].parent = parent
				f += b.syms[r.i].freq
			} else {
				b.nodes[r.i].parent = parent
				f += b.nodes[r.i].freq
			}
		}
		b.nodes = append(b.nodes, hnode{freq: f, parent: -1})
	}
	// Depths: a node's parent is created after it, so walking the
	// internal nodes from the root down gives each its depth.
	depth := slices.Grow(b.depth[:0], len(b.nodes))[:len(b.nodes)]
	b.depth = depth
	for i := len(b.nodes) - 1; i >= 0; i-- {
		depth[i] = 0
		if p := b.nodes[i].parent; p >= 0 {
			depth[i] = depth[p] + 1
		}
	}
	for _, s := range b.syms {
		d := depth[s.parent] + 1
		if d > limit {
			return false
		}
		h.lens[s.sym] = d
	}
	return true
}
