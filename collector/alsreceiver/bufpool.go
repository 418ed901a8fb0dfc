package alsreceiver

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// Buffer sizes the pool keeps: powers of two from 2^minPoolShift (256 B) to
// 2^maxPoolShift (1 MiB). gRPC reads each HTTP/2 DATA frame (at most
// 16 KiB) into one of them.
const (
	minPoolShift = 8
	maxPoolShift = 20
)

// recvPool is the gRPC server's buffer pool. It is gRPC's tiered pool
// without the zeroing of every buffer it hands out: mem.DefaultBufferPool
// clears a 16 KiB buffer before each frame is read into it (2 % of
// meshlens's CPU at full load), although the read then overwrites the
// length gRPC uses and nothing reads past it.
type recvPool struct {
	pools [maxPoolShift - minPoolShift + 1]sync.Pool
}

var _ mem.BufferPool = (*recvPool)(nil)

func newRecvPool() *recvPool { return new(recvPool) }

// poolClass returns the index of the smallest size class holding n bytes, or -1
// when n is larger than every class.
func poolClass(n int) int {
	if n <= 1<<minPoolShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minPoolShift
	if c > maxPoolShift-minPoolShift {
		return -1
	}
	return c
}

// Get returns a buffer of length n; its contents are unspecified.
func (p *recvPool) Get(n int) *[]byte {
	c := poolClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if bp, ok := p.pools[c].Get().(*[]byte); ok {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<(c+minPoolShift))
	return &b
}

// Put returns a buffer obtained from Get; buffers of other capacities are
// left to the garbage collector.
func (p *recvPool) Put(bp *[]byte) {
	c := cap(*bp)
	if c < 1<<minPoolShift || c > 1<<maxPoolShift || c&(c-1) != 0 {
		return
	}
	p.pools[bits.Len(uint(c))-1-minPoolShift].Put(bp)
}
