package loadgen

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

// TestForeignMessages decodes every message of a foreign run with the
// go-control-plane types: valid, the identifier on each stream's first
// message only, HTTP entries only, and the request id, trace context and
// path of every entry unique over the run.
func TestForeignMessages(t *testing.T) {
	for _, tc := range []struct {
		name               string
		cfg                ForeignConfig
		minBatch, maxBatch int
		streams            int
	}{
		{"defaults, fewer entries", ForeignConfig{Entries: 4000, Seed: 1}, 100, 100, 8},
		{"3 proxies, 17 per message", ForeignConfig{Proxies: 3, Entries: 1000, BatchSize: 17, Seed: 2}, 17, 17, 3},
		{"realistic: 40 proxies, 4 streams each, 5-50 per message", ForeignConfig{
			Proxies: 40, StreamsPerProxy: 4, Entries: 20_000, MinBatch: 5, BatchSize: 50, Seed: 3,
		}, 5, 50, 160},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Foreign(tc.cfg)
			ids, traces, paths := map[string]int{}, map[string]int{}, map[string]int{}
			entries := 0
			sizes := map[int]bool{}
			for s := range f.Streams() {
				for m := range f.Messages(s) {
					var msg alsv3.StreamAccessLogsMessage
					require.NoError(t, proto.Unmarshal(f.Message(s, m), &msg))
					n := len(msg.GetHttpLogs().GetLogEntry())
					sizes[n] = true
					assert.GreaterOrEqual(t, n, tc.minBatch)
					assert.LessOrEqual(t, n, tc.maxBatch)
					require.NoError(t, msg.ValidateAll())
					assert.Equal(t, m == 0, msg.GetIdentifier() != nil, "identifier on message %d", m)
					require.Nil(t, msg.GetTcpLogs())
					for _, e := range msg.GetHttpLogs().GetLogEntry() {
						entries++
						ids[e.GetRequest().GetRequestId()]++
						traces[e.GetRequest().GetRequestHeaders()["traceparent"]]++
						paths[e.GetRequest().GetPath()]++
						assert.NotContains(t, e.GetRequest().GetRequestId(), "Q")
						assert.True(t, strings.HasPrefix(e.GetRequest().GetPath(), "/api/v1/orders/"))
					}
				}
			}
			assert.Equal(t, tc.streams, f.Streams())
			if tc.minBatch < tc.maxBatch {
				assert.Greater(t, len(sizes), (tc.maxBatch-tc.minBatch)/2, "message sizes vary")
			}
			assert.Equal(t, f.EntryCount(), entries)
			assert.GreaterOrEqual(t, entries, tc.cfg.Entries)
			assert.Len(t, ids, entries, "unique request ids")
			assert.Len(t, traces, entries, "unique trace contexts")
			assert.Len(t, paths, entries, "unique paths")
		})
	}
}

// TestForeignDeterministic: the same config gives the same bytes; another
// seed other unique values.
func TestForeignDeterministic(t *testing.T) {
	a := Foreign(ForeignConfig{Entries: 2000, Seed: 7})
	b := Foreign(ForeignConfig{Entries: 2000, Seed: 7})
	c := Foreign(ForeignConfig{Entries: 2000, Seed: 8})
	assert.Equal(t, a.Message(3, 0), b.Message(3, 0))
	for _, m := range []int{0, 1} {
		enc, err := proto.MarshalOptions{Deterministic: true}.Marshal(a.marshalMessage(3, m))
		require.NoError(t, err)
		assert.Equal(t, a.Message(3, m), enc, "Marshal builds the bytes appendMessage writes, message %d", m)
	}
	assert.False(t, bytes.Equal(a.Message(3, 0), c.Message(3, 0)))
}

// TestForeignSend sends a foreign run to a server that decodes and
// validates every message: every entry arrives once, on one stream per
// proxy, and the pooled buffers gRPC frees are never sent twice (a
// buffer reused too early would repeat or mix request ids).
func TestForeignSend(t *testing.T) {
	for _, marshal := range []bool{false, true} {
		t.Run(fmt.Sprintf("marshal=%v", marshal), func(t *testing.T) {
			srv := newTestServer()
			conn := startServer(t, srv)
			f := Foreign(ForeignConfig{Proxies: 4, Entries: 20_000, Seed: 3, Marshal: marshal})
			st, err := f.Send(t.Context(), conn, SendOptions{})
			require.NoError(t, err)
			got := srv.snapshot()
			assert.Empty(t, got.identErrors)
			assert.Zero(t, got.validateErrors)
			assert.Equal(t, 4, got.streams)
			assert.Equal(t, f.EntryCount(), got.entries)
			assert.EqualValues(t, f.EntryCount(), st.Entries)
			assert.EqualValues(t, f.MessageCount(), st.Messages)
			assert.Len(t, got.requestIDs, f.EntryCount())
		})
	}
}
