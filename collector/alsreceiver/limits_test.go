package alsreceiver

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
)

// TestIdleTimeoutSparesMessageInProgress: a stream quiet for most of stream_idle_timeout that then starts a
// message is still receiving: grpc-go's guard never idle-times-out a stream
// with a message in progress (msgStart != 0; lastData is its last byte).
func TestIdleTimeoutSparesMessageInProgress(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) {
		c.MessageTimeout = 5 * time.Second
		c.StreamIdleTimeout = 600 * time.Millisecond // sweeps every 120 ms
	})
	_, fr := rawStream(t, addr)
	time.Sleep(450 * time.Millisecond)
	require.NoError(t, fr.WriteData(1, false, grpcFrame(bytes.Repeat([]byte{'x'}, 10), 1000)))
	time.Sleep(700 * time.Millisecond) // message in progress for 700 ms (< message_timeout)
	assert.InDelta(t, 0, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "idle_timeout"), 0,
		"a stream with a message in progress is not idle")
}

// TestEvictionSparesMessageInProgress: at max_streams, a stream with a message in progress is not
// evicted on grpc-go (evictIdle skips msgStart != 0).
func TestEvictionSparesMessageInProgress(t *testing.T) {
	_, hub, addr := startReceiverWith(t, func(c *Config) {
		c.MaxStreams = 1
		c.MessageTimeout = 5 * time.Second
	}, func(r *alsReceiver) { r.evictIdleAfter = 300 * time.Millisecond })
	_, fr := rawStream(t, addr)
	time.Sleep(400 * time.Millisecond)
	require.NoError(t, fr.WriteData(1, false, grpcFrame(bytes.Repeat([]byte{'x'}, 10), 1000)))
	time.Sleep(50 * time.Millisecond)
	_, fr2 := rawStream(t, addr)
	_ = fr2
	time.Sleep(1500 * time.Millisecond)
	assert.InDelta(t, 0, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "idle_evicted"), 0,
		"a stream receiving a message is not evicted")
}

// TestBudgetShedsOldestMessage: over the receive budget, the oldest unfinished messages are ended
// (config.go ReceiveBudgetMiB doc, guard.shed); not the newest connection's.
func TestBudgetShedsOldestMessage(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) {
		c.GRPC.MaxRecvMsgSizeMiB = 1
		c.ReceiveBudgetMiB = 1
	})
	attack := newStallingClient(t, addr)
	const size = 330 << 10
	for range 3 {
		attack.open(size+1, size)
	}
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_receiving_bytes") >= 3*(size+5)
	}, 10*time.Second, 5*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // the attack's streams are older
	_, fr := rawStream(t, addr)
	body := grpcFrame(bytes.Repeat([]byte{'y'}, 60<<10), 200<<10)
	for len(body) > 0 {
		k := min(len(body), 16<<10)
		require.NoError(t, fr.WriteData(1, false, body[:k]))
		body = body[k:]
	}
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "receive_budget") >= 1
	}, 5*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, 1, attack.ended(codes.Canceled), "the oldest unfinished message (the attack's) is ended, not the newcomer's")
}
