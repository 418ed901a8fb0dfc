package loadgen

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc"
)

// Conns spreads the gRPC streams of a Send over several client connections,
// round robin. Envoy opens one ALS stream per worker thread, each on that
// worker's own HTTP/2 connection, so a mesh reaches a collector over as many
// connections as it has streams; one connection carrying every stream
// instead interleaves all their frames on one socket.
type Conns struct {
	conns []grpc.ClientConnInterface
	next  atomic.Uint64
}

var _ grpc.ClientConnInterface = (*Conns)(nil)

// NewConns returns a Conns over conns (at least one).
func NewConns(conns ...grpc.ClientConnInterface) *Conns {
	if len(conns) == 0 {
		panic("loadgen.NewConns: no connections")
	}
	return &Conns{conns: conns}
}

func (c *Conns) pick() grpc.ClientConnInterface {
	return c.conns[(c.next.Add(1)-1)%uint64(len(c.conns))]
}

// Invoke performs a unary RPC on the next connection.
func (c *Conns) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.pick().Invoke(ctx, method, args, reply, opts...)
}

// NewStream opens a stream on the next connection.
func (c *Conns) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.pick().NewStream(ctx, desc, method, opts...)
}
