package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

type sse struct {
	name string
	data []byte
}

// readEvent reads the next event, skipping comments.
func readEvent(t *testing.T, r *bufio.Reader) sse {
	t.Helper()
	var ev sse
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && ev.name != "":
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = []byte(strings.TrimPrefix(line, "data: "))
		}
	}
}

func openStream(ctx context.Context, t *testing.T, url string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return resp, bufio.NewReader(resp.Body)
}

// TestStream drives the SSE endpoint over a real connection: a snapshot
// first, a change event after records arrive, the client bound, and Close
// ending the stream.
func TestStream(t *testing.T) {
	l := newLive(t, Options{PublishInterval: 10 * time.Millisecond, MaxStreamClients: 1})
	srv := httptest.NewServer(l.Handler(fixedNow))
	defer srv.Close()
	defer http.DefaultClient.CloseIdleConnections()
	ctx := t.Context()

	resp, r := openStream(ctx, t, srv.URL+"/api/v1/graph/stream?graphType=service&duration=1m")
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	first := readEvent(t, r)
	require.Equal(t, "snapshot", first.name)
	var snap topology.Snapshot
	require.NoError(t, json.Unmarshal(first.data, &snap))
	assert.Empty(t, snap.Edges)

	// The bound: a second client is refused while the first is connected.
	resp2, _ := openStream(ctx, t, srv.URL+"/api/v1/graph/stream")
	assert.Equal(t, http.StatusServiceUnavailable, resp2.StatusCode)
	_ = resp2.Body.Close()

	batches, times := meshtest.Records(testNow)
	for i := range batches {
		l.ConsumeRecords(batches[i], nil, times[i])
	}
	// The publisher ticks every 10 ms: on a loaded machine the batches may
	// straddle a tick, so the additions may come in more than one event.
	var ev changeEvent
	for len(ev.Edges.Added) < 10 {
		change := readEvent(t, r)
		require.Equal(t, "change", change.name)
		var part changeEvent
		require.NoError(t, json.Unmarshal(change.data, &part))
		ev.Edges.Added = append(ev.Edges.Added, part.Edges.Added...)
		ev.Nodes.Added = append(ev.Nodes.Added, part.Nodes.Added...)
		ev.Edges.Removed = append(ev.Edges.Removed, part.Edges.Removed...)
	}
	assert.Len(t, ev.Edges.Added, 10, "every service-graph edge is new")
	assert.Len(t, ev.Nodes.Added, 10)
	assert.Empty(t, ev.Edges.Removed)

	// More records for one edge: an update of that edge only.
	c := meshtest.Mesh()[0]
	l.ConsumeRecords(c.Records(), nil, testNow)
	change := readEvent(t, r)
	require.Equal(t, "change", change.name)
	ev = changeEvent{}
	require.NoError(t, json.Unmarshal(change.data, &ev))
	assert.Empty(t, ev.Edges.Added)
	assert.NotEmpty(t, ev.Edges.Updated)

	require.NoError(t, l.Close())
	_, err := io.ReadAll(r)
	require.NoError(t, err, "the stream ends cleanly on Close")

	resp3, _ := openStream(ctx, t, srv.URL+"/api/v1/graph/stream")
	assert.Equal(t, http.StatusServiceUnavailable, resp3.StatusCode, "no stream after Close")
	_ = resp3.Body.Close()
}

func TestStreamBadQuery(t *testing.T) {
	h := newLive(t, Options{}).Handler(fixedNow)
	code, body := get(t, h, "/api/v1/graph/stream?graphType=mesh")
	assert.Equal(t, http.StatusBadRequest, code, string(body))
}

// TestPublisherCoalesces checks, on a fake clock, that many batches within
// one publish interval make one change event, that without records the
// publisher refreshes once per slot of the shortest window, and that Close
// stops it.
func TestPublisherCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, err := NewLive(topology.Config{}, Options{PublishInterval: time.Second})
		require.NoError(t, err)
		q, err := parseQuery(nil, limits{longest: 10 * time.Minute}, time.Now())
		require.NoError(t, err)
		q.snap.Granularity = topology.Service
		s, first, err := l.subscribe(q, time.Now)
		require.NoError(t, err)
		assert.Contains(t, string(first), "event: snapshot")

		batches, _ := meshtest.Records(time.Now())
		for i := range batches {
			l.ConsumeRecords(batches[i], nil, time.Now())
		}
		time.Sleep(time.Second)
		synctest.Wait()
		require.Len(t, s.events, 1, "one event for all batches of the interval")
		assert.Contains(t, string(<-s.events), "event: change")

		// No records: nothing for the next 9 intervals, then a refresh
		// when the 10s slot turns (rates now cover more time).
		time.Sleep(9 * time.Second)
		synctest.Wait()
		assert.Empty(t, s.events)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, s.events, 1)

		l.unsubscribe(s)
		require.NoError(t, l.Close())
		require.NoError(t, l.Close(), "Close is idempotent")
	})
}
