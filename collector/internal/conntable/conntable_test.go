package conntable

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/meshlens/meshlens/accesslog"
)

// TestConcurrentTrack: streams track connections concurrently (run with
// -race); each connection's deltas add up to its final counters.
func TestConcurrentTrack(t *testing.T) {
	l := New(100, time.Minute)
	now := time.Unix(1e9, 0)
	var wg sync.WaitGroup
	sums := make([]uint64, 8)
	for g := range 8 {
		wg.Go(func() {
			key := accesslog.ConnKey(g + 1)
			for i := uint64(1); i <= 100; i++ {
				d, _, _ := l.Track(key, i*10, 0, i == 100, now)
				sums[g] += d
			}
		})
	}
	wg.Wait()
	for g := range 8 {
		assert.Equal(t, uint64(1000), sums[g])
	}
	assert.Zero(t, l.Len(), "final entries end their connections")
	l.Expire(now.Add(time.Hour))
	assert.Zero(t, l.Overflow())
}
