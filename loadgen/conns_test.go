package loadgen

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// countingConn counts the streams opened through it.
type countingConn struct {
	grpc.ClientConnInterface
	streams atomic.Int64
}

func (c *countingConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c.streams.Add(1)
	return c.ClientConnInterface.NewStream(ctx, desc, method, opts...)
}

func TestConnsSpreadsStreams(t *testing.T) {
	srv := newTestServer()
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 14, Requests: 2000, StreamsPerProxy: 2})
	cc := []*countingConn{{ClientConnInterface: conn}, {ClientConnInterface: conn}, {ClientConnInterface: conn}}
	st, err := Send(t.Context(), NewConns(cc[0], cc[1], cc[2]), tr, SendOptions{})
	require.NoError(t, err)
	assert.Equal(t, tr.Ledger.Entries, st.Entries)
	assert.EqualValues(t, tr.Ledger.Entries, srv.snapshot().entries, "every entry delivered")
	n := int64(len(tr.Streams))
	for i, c := range cc {
		assert.InDelta(t, n/3, c.streams.Load(), 1, "connection %d: streams round robin", i)
	}
	assert.Equal(t, n, cc[0].streams.Load()+cc[1].streams.Load()+cc[2].streams.Load())
}

func TestNewConnsNeedsOne(t *testing.T) {
	assert.Panics(t, func() { NewConns() })
}
