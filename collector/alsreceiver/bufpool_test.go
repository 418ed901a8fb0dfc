package alsreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecvPool(t *testing.T) {
	p := newRecvPool()
	for _, tc := range []struct {
		n, wantCap int
	}{
		{0, 256},
		{1, 256},
		{256, 256},
		{257, 512},
		{9, 256},       // an HTTP/2 frame header
		{16384, 16384}, // a full DATA frame
		{16385, 32768},
		{1 << 20, 1 << 20},
		{1<<20 + 1, 1<<20 + 1}, // beyond the classes: allocated as asked
	} {
		b := p.Get(tc.n)
		require.Len(t, *b, tc.n, "Get(%d)", tc.n)
		assert.Equal(t, tc.wantCap, cap(*b), "Get(%d)", tc.n)
		p.Put(b)
	}
}

func TestRecvPoolReuses(t *testing.T) {
	p := newRecvPool()
	// sync.Pool may drop items at any time (and does so at random under
	// the race detector): a reuse must happen at least once in many tries.
	reused := false
	for i := 0; i < 100 && !reused; i++ {
		b := p.Get(16384)
		(*b)[0] = 0xAB
		p.Put(b)
		c := p.Get(10000)
		require.Len(t, *c, 10000)
		assert.Equal(t, 16384, cap(*c))
		reused = &(*c)[0] == &(*b)[0]
		p.Put(c)
	}
	assert.True(t, reused, "a returned buffer is handed out again")
}

func TestRecvPoolIgnoresForeignBuffers(t *testing.T) {
	p := newRecvPool()
	for _, c := range []int{0, 100, 3000, 1<<20 + 1, 1 << 21} {
		b := make([]byte, 0, c)
		p.Put(&b) // must not panic or pool a buffer of a wrong class
	}
	b := p.Get(3000)
	assert.Equal(t, 4096, cap(*b))
}
