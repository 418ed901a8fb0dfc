package completeness

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

func TestTracker(t *testing.T) {
	type step struct {
		received         int
		written, dropped uint64 // a stats report when stats
		stats            bool
	}
	for _, c := range []struct {
		name                string
		steps               []step
		missing             uint64
		ratio               float64
		received, sinceBase uint64
	}{
		{"no stats: nothing to compare", []step{{received: 100}}, 0, 1, 100, 0},
		{"complete", []step{{stats: true, written: 1000}, {received: 100}, {stats: true, written: 1100}}, 0, 1, 100, 100},
		{
			"entries received before the first report are not set against it",
			[]step{{received: 500}, {stats: true, written: 5000}, {received: 90}, {stats: true, written: 5100}},
			10, 0.9, 590, 90,
		},
		{"drops count as missing", []step{{stats: true}, {received: 80}, {stats: true, written: 80, dropped: 20}}, 20, 0.8, 80, 80},
		{"an Envoy restart starts a new base", []step{
			{stats: true, written: 1000},
			{received: 50},
			{stats: true, written: 1100},
			{stats: true, written: 10},
			{received: 30},
			{stats: true, written: 40},
		}, 0, 1, 80, 30},
		{"in flight: more written than received yet", []step{{stats: true}, {received: 70}, {stats: true, written: 100}}, 30, 0.7, 70, 70},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(10, time.Minute, false)
			for i, s := range c.steps {
				now := t0.Add(time.Duration(i) * time.Second)
				if s.stats {
					tr.Stats("n", s.written, s.dropped, now)
				}
				if s.received > 0 {
					tr.Received("n", s.received, now)
				}
			}
			p := tr.proxies["n"]
			require.NotNil(t, p)
			assert.Equal(t, c.missing, p.Missing())
			assert.InDelta(t, c.ratio, p.Ratio(), 1e-9)
			assert.Equal(t, c.received, p.Received)
			assert.Equal(t, c.sinceBase, p.ReceivedSinceStats)
		})
	}
}

func TestTrackerBounds(t *testing.T) {
	tr := NewTracker(2, time.Minute, false)
	tr.Received("a", 1, t0)
	tr.Received("b", 1, t0)
	tr.Received("c", 5, t0)
	tr.Stats("c", 1, 0, t0)
	assert.Len(t, tr.proxies, 2)
	assert.Equal(t, uint64(6), tr.Untracked)
	tr.Received("a", 1, t0.Add(50*time.Second))
	assert.Equal(t, 1, tr.Expire(t0.Add(time.Minute)), "b idle for the ttl")
	tr.Received("c", 1, t0.Add(time.Minute))
	assert.Len(t, tr.proxies, 2, "room again")
}

// TestLockedCountsBatches: a batch's records count for their proxy, and
// the proxy's logger stats are read from a Metrics Service report.
func TestLockedCountsBatches(t *testing.T) {
	l := NewLocked(10, time.Minute, false)
	recs := make([]accesslog.Record, 3)
	for i := range recs {
		recs[i].NodeID = "n"
	}
	counter := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{Name: &name, Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &v}}}}
	}
	l.ObserveStats("n", []*dto.MetricFamily{counter(StatLogsWritten, 100), counter(StatLogsDropped, 0), counter("other", 7)}, t0)
	l.ConsumeRecords(recs, nil, t0)
	l.ConsumeRecords(nil, nil, t0)
	l.ObserveStats("n", []*dto.MetricFamily{counter(StatLogsWritten, 104), counter(StatLogsDropped, 1)}, t0)
	p, ok := l.Proxy("n")
	require.True(t, ok)
	assert.Equal(t, uint64(3), p.Received)
	assert.Equal(t, uint64(2), p.Missing())
}

// TestTrackerDeltas: proxies that report their counters as deltas
// (report_counters_as_deltas) add up from their second report on.
func TestTrackerDeltas(t *testing.T) {
	tr := NewTracker(10, time.Minute, true)
	tr.Stats("n", 500, 0, t0) // entries before the tracker counted: the start
	tr.Received("n", 90, t0)
	tr.Stats("n", 60, 2, t0)
	tr.Received("n", 10, t0)
	tr.Stats("n", 40, 0, t0)
	p := tr.proxies["n"]
	assert.Equal(t, uint64(100), p.Written)
	assert.Equal(t, uint64(2), p.Dropped)
	assert.Equal(t, uint64(2), p.Missing())
	assert.InDelta(t, 100.0/102, p.Ratio(), 1e-9)
}
