package api

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/promsource"
)

// Options configure the adapter.
type Options struct {
	// PublishInterval is the stream publisher's period: at most one
	// snapshot per option set per interval (default 1s).
	PublishInterval time.Duration
	// MaxStreamClients bounds the concurrent stream clients (default 16).
	MaxStreamClients int
	// KeepAlive is the period of SSE comment lines on idle streams
	// (default 15s).
	KeepAlive time.Duration
	// Start is when counting began (the hub's start): rates in a window
	// longer than the time since divide by the time since. Zero: the time
	// of the first record.
	Start time.Time
	// Kiali is what the Kiali endpoints say of the server (kialiapp.go).
	Kiali KialiSettings
	// Proxies answers GET /api/v1/proxies (the telemetry completeness of a
	// workload's proxies); nil: the route is not served.
	Proxies ProxySource
}

func (o Options) withDefaults() Options {
	if o.PublishInterval <= 0 {
		o.PublishInterval = time.Second
	}
	if o.MaxStreamClients <= 0 {
		o.MaxStreamClients = 16
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	return o
}

// Errors of the stream endpoint.
var (
	ErrClosed         = errors.New("topology: closed")
	ErrTooManyClients = errors.New("topology: too many stream clients")
)

// Live is a topology.Graph shared between the hub (ConsumeRecords, Expire)
// and HTTP clients. It is safe for concurrent use.
//
// A snapshot holds the lock only to copy the stored edges' counters, a few
// hundred edges at a time (topology.SnapshotCursor), and builds nodes,
// edges and rates after releasing it: ingest waits at most one such step
// (≈ 0.2 ms) for an API request or a stream tick, however large the graph.
type Live struct {
	opts Options

	mu sync.RWMutex // guards g
	g  *topology.Graph
	// stepWork bounds one snapshot step under the lock: stored edges times
	// windows (snapshotStepWork; tests change it).
	stepWork int

	// global answers ?source=prometheus; nil unless topology::global is set.
	global *promsource.Source

	// badQueries counts the requests answered 400 (BadQueries).
	badQueries atomic.Uint64

	changed chan struct{} // one slot: records arrived since the last publish
	done    chan struct{}

	subMu   sync.Mutex // guards subs, closed, started
	subs    map[*subscriber]struct{}
	closed  bool
	started bool
	wg      sync.WaitGroup
	once    sync.Once
}

// NewLive returns a Live graph. When cfg.Global names a query endpoint,
// the HTTP API also serves the global graph from it (?source=prometheus).
func NewLive(cfg topology.Config, opts Options) (*Live, error) {
	g, err := topology.NewGraph(cfg)
	if err != nil {
		return nil, fmt.Errorf("create topology graph: %w", err)
	}
	if !opts.Start.IsZero() {
		g.SetStart(opts.Start)
	}
	l := &Live{
		opts:     opts.withDefaults(),
		g:        g,
		stepWork: snapshotStepWork,
		changed:  make(chan struct{}, 1),
		done:     make(chan struct{}),
		subs:     map[*subscriber]struct{}{},
	}
	if gc := g.Config().Global; gc.Enabled() {
		if l.global, err = promsource.New(gc); err != nil {
			return nil, fmt.Errorf("create global topology source: %w", err)
		}
	}
	return l, nil
}

// ConsumeRecords counts a batch of records (an aggregation of the hub). The
// records' Details are read only during the call; the graph keeps nothing
// per stream, so local is not used.
func (l *Live) ConsumeRecords(recs []accesslog.Record, _ *accesslog.StreamLocal, now time.Time) {
	l.mu.Lock()
	l.g.ObserveBatch(recs, now)
	l.mu.Unlock()
	l.signal()
}

// Expire removes idle edges and nodes; it returns the number of edges
// removed.
func (l *Live) Expire(now time.Time) int {
	l.mu.Lock()
	n := l.g.Expire(now)
	l.mu.Unlock()
	if n > 0 {
		l.signal()
	}
	return n
}

// Stats returns the graph's counters.
func (l *Live) Stats() topology.Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.g.Stats()
}

// snapshotStepWork is how much of a snapshot runs per hold of the lock, in
// stored edges times windows. Copying one edge's counters for one window
// (both reporter sides, 6 slots) takes about 1 µs at 10,000 edges, where
// the rings no longer fit in the CPU caches: 256 keeps a step near 0.25 ms,
// for a target of 1 ms per ingest batch (BENCHMARKS.md, "Topology").
const snapshotStepWork = 256

// Snapshot computes a snapshot. It reads the graph in steps of a few hundred
// edges, each under the lock, so that record batches interleave, and builds
// the snapshot after releasing the lock (see topology.SnapshotCursor for
// what a snapshot of a graph changing between steps shows).
func (l *Live) Snapshot(now time.Time, o topology.SnapshotOptions) (*topology.Snapshot, error) {
	l.mu.RLock()
	c, err := l.g.NewSnapshotCursor(now, o)
	l.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	step := max(1, l.stepWork/c.Windows())
	for done := false; !done; {
		l.mu.RLock()
		done = l.g.SnapshotStep(c, step)
		l.mu.RUnlock()
	}
	return c.Snapshot(), nil
}

func (l *Live) longestWindow() time.Duration {
	ws := l.windows()
	return ws[len(ws)-1]
}

// windows are the configured windows (immutable after NewGraph).
func (l *Live) windows() []time.Duration { return l.g.Config().Windows }

// signal wakes the publisher without blocking: one pending signal stands
// for any number of batches.
func (l *Live) signal() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// Close ends every stream and stops the publisher. It is idempotent; the
// graph stays usable for ConsumeRecords and snapshots.
func (l *Live) Close() error {
	l.once.Do(func() {
		l.subMu.Lock()
		l.closed = true
		close(l.done)
		l.subMu.Unlock()
		l.wg.Wait()
		if l.global != nil {
			l.global.Close()
		}
	})
	return nil
}

// BadQueries returns how many API requests were answered 400 (bad or
// over-limit query parameters) since the start.
func (l *Live) BadQueries() uint64 { return l.badQueries.Load() }
