package completeness

import (
	"os"
	"regexp"
	"strconv"
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
					tr.Stats("n", Workload{}, s.written, s.dropped, now)
				}
				if s.received > 0 {
					tr.Received("n", Workload{}, s.received, now)
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
	tr.Received("a", Workload{}, 1, t0)
	tr.Received("b", Workload{}, 1, t0)
	tr.Received("c", Workload{}, 5, t0)
	tr.Stats("c", Workload{}, 1, 0, t0)
	assert.Len(t, tr.proxies, 2)
	assert.Equal(t, uint64(6), tr.Untracked)
	tr.Received("a", Workload{}, 1, t0.Add(50*time.Second))
	assert.Equal(t, 1, tr.Expire(t0.Add(time.Minute)), "b idle for the ttl")
	tr.Received("c", Workload{}, 1, t0.Add(time.Minute))
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
	l.ObserveStats(&accesslog.Proxy{NodeID: "n"}, []*dto.MetricFamily{counter(StatLogsWritten, 100), counter(StatLogsDropped, 0), counter("other", 7)}, t0)
	l.ConsumeRecords(recs, nil, t0)
	l.ConsumeRecords(nil, nil, t0)
	l.ObserveStats(&accesslog.Proxy{NodeID: "n"}, []*dto.MetricFamily{counter(StatLogsWritten, 104), counter(StatLogsDropped, 1)}, t0)
	p, ok := l.Proxy("n")
	require.True(t, ok)
	assert.Equal(t, uint64(3), p.Received)
	assert.Equal(t, uint64(2), p.Missing())
}

// TestTrackerDeltas: proxies that report their counters as deltas
// (report_counters_as_deltas) add up from their second report on.
func TestTrackerDeltas(t *testing.T) {
	tr := NewTracker(10, time.Minute, true)
	tr.Stats("n", Workload{}, 500, 0, t0) // entries before the tracker counted: the start
	tr.Received("n", Workload{}, 90, t0)
	tr.Stats("n", Workload{}, 60, 2, t0)
	tr.Received("n", Workload{}, 10, t0)
	tr.Stats("n", Workload{}, 40, 0, t0)
	p := tr.proxies["n"]
	assert.Equal(t, uint64(100), p.Written)
	assert.Equal(t, uint64(2), p.Dropped)
	assert.Equal(t, uint64(2), p.Missing())
	assert.InDelta(t, 100.0/102, p.Ratio(), 1e-9)
}

// TestLockedWorkload: a proxy's workload is its records' local side (the
// destination of inbound records, the source of outbound ones) or, from the
// Metrics Service, its node's identity; Of finds a workload's proxies.
func TestLockedWorkload(t *testing.T) {
	pp := accesslog.Workload{Cluster: "c1", Namespace: "ns", Name: "productpage-v1", App: "productpage"}
	peer := accesslog.Workload{Cluster: "c1", Namespace: "ns", Name: "reviews-v1"}
	rec := func(node string, rep accesslog.Reporter, src, dst accesslog.Workload) []accesslog.Record {
		return []accesslog.Record{{NodeID: node, Reporter: rep, Source: src, Destination: dst}}
	}
	l := NewLocked(10, time.Minute, false)
	l.ConsumeRecords(rec("pp-1", accesslog.ReporterDestination, peer, pp), nil, t0) // inbound
	l.ConsumeRecords(rec("pp-0", accesslog.ReporterSource, pp, peer), nil, t0)      // outbound
	l.ConsumeRecords(rec("wp", accesslog.ReporterWaypoint, peer, pp), nil, t0)      // names no workload of its own
	l.ObserveStats(&accesslog.Proxy{NodeID: "pp-2", Workload: pp}, []*dto.MetricFamily{logged(10)}, t0)
	l.ObserveStats(&accesslog.Proxy{NodeID: "wp", Workload: accesslog.Workload{Name: "waypoint"}}, []*dto.MetricFamily{logged(5)}, t0)
	other := pp
	other.Cluster = "c2"
	l.ConsumeRecords(rec("pp-east", accesslog.ReporterSource, other, peer), nil, t0)
	// Stats from a node without workload metadata leave the workload its
	// records named.
	l.ObserveStats(&accesslog.Proxy{NodeID: "pp-0"}, []*dto.MetricFamily{logged(3)}, t0)

	nodes := func(ps []NodeProxy) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.NodeID)
		}
		return out
	}
	for _, c := range []struct {
		name string
		w    Workload
		want []string
	}{
		{"one cluster", Workload{"c1", "ns", "productpage-v1"}, []string{"pp-0", "pp-1", "pp-2"}},
		{"every cluster", Workload{"", "ns", "productpage-v1"}, []string{"pp-0", "pp-1", "pp-2", "pp-east"}},
		{"another cluster", Workload{"c2", "ns", "productpage-v1"}, []string{"pp-east"}},
		{"the waypoint, from its stats; empty fields are unknown", Workload{"unknown", "unknown", "waypoint"}, []string{"wp"}},
		{"another namespace", Workload{"c1", "other", "productpage-v1"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, nodes(l.Of(c.w)))
		})
	}
	ps := l.Of(Workload{"c1", "ns", "productpage-v1"})
	assert.Equal(t, uint64(1), ps[0].Received)
	assert.True(t, ps[2].HasStats)
	assert.Equal(t, Workload{"c1", "ns", "productpage-v1"}, ps[2].Workload)
}

// logged is a report's logs_written family.
func logged(written float64) *dto.MetricFamily {
	name := StatLogsWritten
	return &dto.MetricFamily{Name: &name, Metric: []*dto.Metric{{Counter: &dto.Counter{Value: &written}}}}
}

func TestIncomplete(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Proxy
		want bool
	}{
		{"no stats", Proxy{Received: 5}, false},
		{"stats, nothing logged", Proxy{HasStats: true}, false},
		{"at the threshold", Proxy{HasStats: true, Written: 99, Dropped: 1, ReceivedSinceStats: 99}, false},
		{"below it", Proxy{HasStats: true, Written: 98, Dropped: 2, ReceivedSinceStats: 98}, true},
		{"everything dropped", Proxy{HasStats: true, Dropped: 3}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, c.p.Incomplete())
		})
	}
}

// TestIncompleteBelowIsTheAlertRule: the page's warning and the alert rule
// MeshlensProxyTelemetryIncomplete use one threshold.
func TestIncompleteBelowIsTheAlertRule(t *testing.T) {
	b, err := os.ReadFile("../../deploy/prometheus/meshlens-alerts.yml")
	require.NoError(t, err)
	rule := regexp.MustCompile(`(?s)alert: MeshlensProxyTelemetryIncomplete\n.*?expr: \|\n.*?\) < ([0-9.]+)\n\s+for:`).FindSubmatch(b)
	require.NotNil(t, rule, "the rule and its threshold")
	v, err := strconv.ParseFloat(string(rule[1]), 64)
	require.NoError(t, err)
	assert.InDelta(t, IncompleteBelow, v, 0)
}

// BenchmarkTrackerOf: finding one workload's proxies among the 10,000 the
// hub tracks at most (under the lock ingest takes).
func BenchmarkTrackerOf(b *testing.B) {
	tr := NewTracker(10_000, time.Minute, false)
	for i := range 10_000 {
		w := Workload{"Kubernetes", "ns-" + strconv.Itoa(i%50), "wl-" + strconv.Itoa(i%2000)}
		tr.Received("sidecar~"+strconv.Itoa(i), w, 1, t0)
	}
	w := Workload{"Kubernetes", "ns-7", "wl-7"}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		tr.Of(w, func(string, Proxy) { n++ })
		if n != 5 {
			b.Fatal(n)
		}
	}
}
