package completeness

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/meshlens/meshlens/accesslog"
)

// Locked is the Tracker behind a lock: what the hub holds.
type Locked struct {
	mu sync.Mutex
	t  *Tracker
}

// NewLocked returns a Locked tracker (NewTracker's arguments).
func NewLocked(maxProxies int, ttl time.Duration, deltas bool) *Locked {
	return &Locked{t: NewTracker(maxProxies, ttl, deltas)}
}

// ConsumeRecords counts a batch's records by their reporting proxy.
func (l *Locked) ConsumeRecords(recs []accesslog.Record, _ *accesslog.StreamLocal, now time.Time) {
	if len(recs) == 0 {
		return
	}
	// A batch comes from one stream, whose normaliser gives every record
	// its proxy's node id (accesslog.Consumer's contract): one count a
	// batch, nothing a record. The proxy's workload is its records' local
	// side, which the normaliser takes from the stream's node metadata
	// (or node id): the destination of an inbound record, the source of an
	// outbound one; a waypoint's records name neither (its stats do).
	var w Workload
	switch r := &recs[0]; r.Reporter {
	case accesslog.ReporterSource:
		w = workloadOf(&r.Source)
	case accesslog.ReporterDestination:
		w = workloadOf(&r.Destination)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Received(recs[0].NodeID, w, len(recs), now)
}

// workloadOf is the Workload of a proxy's own side, empty fields "unknown"
// (as the graph names its nodes).
func workloadOf(w *accesslog.Workload) Workload {
	return Workload{Cluster: cmp.Or(w.Cluster, unknown), Namespace: cmp.Or(w.Namespace, unknown), Name: cmp.Or(w.Name, unknown)}
}

const unknown = "unknown"

// ObserveStats takes a Metrics Service report of proxy p (its identity,
// from the stream's node): its gRPC access logger counters, when it has
// them.
func (l *Locked) ObserveStats(p *accesslog.Proxy, fams []*dto.MetricFamily, now time.Time) {
	var written, dropped uint64
	found := false
	for _, f := range fams {
		var dst *uint64
		switch f.GetName() {
		case StatLogsWritten:
			dst = &written
		case StatLogsDropped:
			dst = &dropped
		default:
			continue
		}
		found = true
		for _, m := range f.GetMetric() {
			if c := m.GetCounter(); c != nil && c.GetValue() >= 0 {
				*dst += uint64(c.GetValue())
			}
		}
	}
	if !found {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A node without workload metadata leaves the workload the records
	// named alone.
	var w Workload
	if p.Workload.Name != "" || p.Workload.Namespace != "" {
		w = workloadOf(&p.Workload)
	}
	l.t.Stats(p.NodeID, w, written, dropped, now)
}

// Expire forgets idle proxies.
func (l *Locked) Expire(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Expire(now)
}

// Proxy returns the numbers of one proxy.
func (l *Locked) Proxy(node string) (Proxy, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p, ok := l.t.proxies[node]
	if !ok {
		return Proxy{}, false
	}
	return *p, true
}

// NodeProxy is one proxy's numbers and its node id.
type NodeProxy struct {
	NodeID string
	Proxy
}

// Of returns the proxies of workload w, by node id; an empty w.Cluster
// matches every cluster.
func (l *Locked) Of(w Workload) []NodeProxy {
	var out []NodeProxy
	l.mu.Lock()
	l.t.Of(w, func(node string, p Proxy) { out = append(out, NodeProxy{node, p}) })
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeProxy) int { return cmp.Compare(a.NodeID, b.NodeID) })
	return out
}

var (
	descReceived = prometheus.NewDesc("meshlens_proxy_entries_received_total",
		"Access-log entries meshlens took from the proxy (every ingest path).", []string{"node_id"}, nil)
	descMissing = prometheus.NewDesc("meshlens_proxy_entries_missing",
		"Entries the proxy's gRPC access loggers wrote or dropped (Envoy's access_logs.grpc_access_log.* over the Metrics Service) "+
			"that meshlens did not receive, since its stats were first seen or the Envoy restarted.", []string{"node_id"}, nil)
	descRatio = prometheus.NewDesc("meshlens_proxy_telemetry_completeness_ratio",
		"Share of the entries the proxy's gRPC access loggers wrote or dropped that meshlens received (1 without stats).", []string{"node_id"}, nil)
	descUntracked = prometheus.NewDesc("meshlens_proxy_untracked_total",
		"Entries and stats reports of proxies beyond the tracker's bound (not in the per-proxy series).", nil, nil)
)

// Describe implements prometheus.Collector.
func (l *Locked) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReceived
	ch <- descMissing
	ch <- descRatio
	ch <- descUntracked
}

// Collect implements prometheus.Collector: the numbers are copied under the
// lock, the metrics built after it.
func (l *Locked) Collect(ch chan<- prometheus.Metric) {
	type row struct {
		node string
		p    Proxy
	}
	l.mu.Lock()
	rows := make([]row, 0, len(l.t.proxies))
	l.t.Each(func(node string, p Proxy) { rows = append(rows, row{node, p}) })
	untracked := l.t.Untracked
	l.mu.Unlock()
	for _, r := range rows {
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(r.p.Received), r.node)
		if r.p.HasStats {
			ch <- prometheus.MustNewConstMetric(descMissing, prometheus.GaugeValue, float64(r.p.Missing()), r.node)
			ch <- prometheus.MustNewConstMetric(descRatio, prometheus.GaugeValue, r.p.Ratio(), r.node)
		}
	}
	ch <- prometheus.MustNewConstMetric(descUntracked, prometheus.CounterValue, float64(untracked))
}
