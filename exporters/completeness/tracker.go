package completeness

import "time"

// Envoy's gRPC access log stats (docs: access_logs.grpc_access_log.*):
// entries handed to the logger and not dropped (not necessarily flushed
// yet), and entries dropped because the stream backed up.
const (
	StatLogsWritten = "access_logs.grpc_access_log.logs_written"
	StatLogsDropped = "access_logs.grpc_access_log.logs_dropped"
)

// IncompleteBelow is the completeness ratio below which a proxy's telemetry
// is incomplete: the threshold of the alert rule
// MeshlensProxyTelemetryIncomplete (deploy/prometheus/meshlens-alerts.yml),
// which the graph page's node panel applies too.
const IncompleteBelow = 0.99

// Workload is the workload a proxy belongs to (the one it runs beside, or
// is: a gateway), from the identity of its streams (node metadata, else node
// id and node cluster); empty fields are "unknown", as in the graph's nodes.
type Workload struct {
	Cluster, Namespace, Name string
}

// Proxy is one proxy's numbers.
type Proxy struct {
	// Workload is the proxy's workload, as its streams last named it; zero
	// until one did.
	Workload Workload
	// Received is the entries meshlens took from the proxy.
	Received uint64
	// Written and Dropped are what the proxy's Envoy counted since the
	// tracker first saw its stats (or since the Envoy restarted): entries
	// sent to its gRPC access loggers, and dropped by them.
	Written, Dropped uint64
	// ReceivedSinceStats is Received since the first stats report: the
	// entries to set against Written (entries received before Envoy's
	// first report are not in Written).
	ReceivedSinceStats uint64
	// HasStats says the proxy has reported its logger stats.
	HasStats bool

	baseWritten, baseDropped uint64
	lastSeen                 time.Time
}

// Missing is how many of the entries the proxy's loggers took are not (yet)
// at meshlens: written and dropped minus received since the stats began, at
// least 0. Entries in flight (a logger flushes every second) and entries
// sent to another access-log server by the same proxy count too.
func (p *Proxy) Missing() uint64 {
	if !p.HasStats {
		return 0
	}
	want := p.Written + p.Dropped
	if p.ReceivedSinceStats >= want {
		return 0
	}
	return want - p.ReceivedSinceStats
}

// Ratio is the share of the proxy's logged entries meshlens took: received
// since the stats began over written plus dropped; 1 when there is nothing
// to compare.
func (p *Proxy) Ratio() float64 {
	want := p.Written + p.Dropped
	if !p.HasStats || want == 0 {
		return 1
	}
	return min(float64(p.ReceivedSinceStats)/float64(want), 1)
}

// Incomplete reports whether the proxy's telemetry is incomplete: it has
// sent its logger counters, they count entries, and meshlens received less
// than IncompleteBelow of them.
func (p *Proxy) Incomplete() bool {
	return p.HasStats && p.Written+p.Dropped > 0 && p.Ratio() < IncompleteBelow
}

// Tracker holds the numbers of at most max proxies, by node id. It is not
// safe for concurrent use (Locked is).
type Tracker struct {
	max     int
	ttl     time.Duration
	deltas  bool // the proxies report counters as deltas
	proxies map[string]*Proxy
	// Untracked counts entries and stats of proxies beyond max.
	Untracked uint64
}

// NewTracker returns a tracker of at most max proxies, each forgotten ttl
// after it was last heard of. deltas says the proxies report their counters
// as deltas (Envoy's report_counters_as_deltas, meshlens's
// envoy_stats::counters_as_deltas), not cumulative.
func NewTracker(maxProxies int, ttl time.Duration, deltas bool) *Tracker {
	return &Tracker{max: maxProxies, ttl: ttl, deltas: deltas, proxies: map[string]*Proxy{}}
}

func (t *Tracker) proxy(node string, w Workload, now time.Time) *Proxy {
	p := t.proxies[node]
	if p == nil {
		if len(t.proxies) >= t.max {
			return nil
		}
		p = &Proxy{}
		t.proxies[node] = p
	}
	p.lastSeen = now
	if w != (Workload{}) {
		p.Workload = w
	}
	return p
}

// Received adds n entries taken from the proxy with node id node, of
// workload w (zero when the caller does not know it: the proxy keeps the
// last one named).
func (t *Tracker) Received(node string, w Workload, n int, now time.Time) {
	p := t.proxy(node, w, now)
	if p == nil {
		t.Untracked += uint64(n) //nolint:gosec // n >= 0
		return
	}
	p.Received += uint64(n) //nolint:gosec // n >= 0
	if p.HasStats {
		p.ReceivedSinceStats += uint64(n) //nolint:gosec // n >= 0
	}
}

// Stats records the proxy's logger counters. Cumulative (the default): the
// first report is the base; a counter lower than the last (the Envoy
// restarted) starts a new base, and the entries received so far are set
// aside with it. As deltas: each report after the first adds. w is the
// proxy's workload, as in Received.
func (t *Tracker) Stats(node string, w Workload, written, dropped uint64, now time.Time) {
	p := t.proxy(node, w, now)
	if p == nil {
		t.Untracked++
		return
	}
	if t.deltas {
		// Each report counts since the last: the first, which may count
		// entries logged before this tracker counted any, is the start.
		if p.HasStats {
			p.Written += written
			p.Dropped += dropped
		}
		p.HasStats = true
		return
	}
	if !p.HasStats || written < p.baseWritten+p.Written || dropped < p.baseDropped+p.Dropped {
		p.HasStats = true
		p.baseWritten, p.baseDropped = written, dropped
		p.Written, p.Dropped, p.ReceivedSinceStats = 0, 0, 0
		return
	}
	p.Written, p.Dropped = written-p.baseWritten, dropped-p.baseDropped
}

// Expire forgets the proxies not heard of for the ttl and returns how many.
func (t *Tracker) Expire(now time.Time) int {
	n := 0
	for k, p := range t.proxies {
		if now.Sub(p.lastSeen) >= t.ttl {
			delete(t.proxies, k)
			n++
		}
	}
	return n
}

// Of calls f for each proxy of workload w (a copy); an empty w.Cluster
// matches every cluster. It looks at every proxy: at the bound of 10,000,
// about 0.1 ms (BenchmarkTrackerOf).
func (t *Tracker) Of(w Workload, f func(node string, p Proxy)) {
	for k, p := range t.proxies {
		pw := &p.Workload
		if pw.Name == w.Name && pw.Namespace == w.Namespace && (w.Cluster == "" || pw.Cluster == w.Cluster) {
			f(k, *p)
		}
	}
}

// Each calls f for each proxy (a copy).
func (t *Tracker) Each(f func(node string, p Proxy)) {
	for k, p := range t.proxies {
		f(k, *p)
	}
}
