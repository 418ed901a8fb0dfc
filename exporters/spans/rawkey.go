package spans

import (
	"encoding/binary"
	"math/bits"
)

// rawKey is a key of the fast path of Metrics: the parts of a span name
// before repair and cutting (nameHost and namePort of a record), with the
// service, kind and status (ks: rawClient and rawError). It holds strings
// and numbers only: nothing is copied from a record.
type rawKey struct {
	series  *series
	service string
	host    string
	port    uint32
	ks      uint8
}

// Kind and status in a raw key, as bits.
const (
	rawClient = 1 << iota
	rawError
)

// matches reports whether k is the raw key of the given parts.
func (k *rawKey) matches(host string, port uint32, service string, ks uint8) bool {
	return k.port == port && k.ks == ks && k.host == host && k.service == service
}

// rawHash hashes b, wyhash-style: up to 16 bytes take one 128-bit
// multiplication, each 16 more one more. Its quality only matters for
// speed (the table compares the parts of keys with equal hashes); the
// random seed keeps inputs from being chosen to collide.
func rawHash(seed *[2]uint64, b []byte) uint64 {
	n := len(b)
	var x, y uint64
	s := seed[1]
	switch {
	case n > 16:
		for i := 0; n-i > 16; i += 16 {
			s = mum(binary.LittleEndian.Uint64(b[i:])^seed[0], binary.LittleEndian.Uint64(b[i+8:])^s)
		}
		x, y = binary.LittleEndian.Uint64(b[n-16:]), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 8:
		x, y = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		x, y = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[n-4:]))
	case n > 0:
		x = uint64(b[0])<<16 | uint64(b[n/2])<<8 | uint64(b[n-1])
	}
	return mum(x^seed[0]^uint64(n), y^s)
}

// mum folds the 128-bit product of a and b.
func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// rawTable maps the hashes of raw keys to raw keys: open addressing with
// linear probing, at most half full. Keys with equal hashes are told apart
// by their parts.
type rawTable struct {
	slots []rawSlot
	n     int
}

type rawSlot struct {
	hash uint64
	key  *rawKey // nil: empty
}

const minRawSlots = 64

// reset empties t and sizes it for n keys.
func (t *rawTable) reset(n int) {
	size := minRawSlots
	for size < 2*n {
		size *= 2
	}
	t.slots, t.n = make([]rawSlot, size), 0
}

// slot returns the first slot of the probe sequence of h.
func (t *rawTable) slot(h uint64) *rawSlot { return &t.slots[h&uint64(len(t.slots)-1)] }

// find returns the series of the raw key of the given parts, which hashes
// to h, or nil.
func (t *rawTable) find(h uint64, host string, port uint32, service string, ks uint8) *series {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		if sl.key == nil {
			return nil
		}
		if sl.hash == h && sl.key.matches(host, port, service, ks) {
			return sl.key.series
		}
	}
}

// insert adds k, which hashes to h and is not in t.
func (t *rawTable) insert(h uint64, k *rawKey) {
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.slots, t.n = make([]rawSlot, 2*len(old)), 0
		for _, sl := range old {
			if sl.key != nil {
				t.put(sl.hash, sl.key)
			}
		}
	}
	t.put(h, k)
}

func (t *rawTable) put(h uint64, k *rawKey) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i].key != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = rawSlot{hash: h, key: k}
	t.n++
}

// retain keeps the keys for which keep returns true, and sizes t for them.
func (t *rawTable) retain(keep func(*rawKey) bool) {
	old := t.slots
	n := 0
	for _, sl := range old {
		if sl.key != nil && keep(sl.key) {
			n++
		}
	}
	t.reset(n)
	for _, sl := range old {
		if sl.key != nil && keep(sl.key) {
			t.put(sl.hash, sl.key)
		}
	}
}
