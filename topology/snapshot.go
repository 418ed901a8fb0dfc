package topology

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/meshlens/meshlens/topology/internal/window"
)

// ErrWindow means a requested window is not positive or longer than the
// longest configured window.
var ErrWindow = errors.New("window out of range")

// SnapshotOptions select what a snapshot shows.
type SnapshotOptions struct {
	// Granularity is what nodes stand for.
	Granularity Granularity
	// Namespaces keeps the edges whose source or target is in one of them
	// (Kiali's namespace graph); empty keeps everything.
	Namespaces []string
	// Windows are the windows to compute stats over, each not longer than the
	// longest configured window; empty means every configured window.
	Windows []time.Duration
	// IncludeIdle keeps edges without traffic in any of the windows (until
	// they expire).
	IncludeIdle bool
	// InjectServiceNodes puts the destination service node between caller
	// and callee (Kiali's injectServiceNodes) in workload, app and
	// versionedApp graphs. Service graphs always have service nodes.
	InjectServiceNodes bool
	// Focus, when set, keeps only the traffic one of whose ends it selects,
	// before the edges are mapped onto nodes: Kiali's node graphs, which
	// query the series of the node alone, so that an edge into a service
	// node in front of the node carries the node's share of the service's
	// traffic, not all of it.
	Focus func(End) bool
}

// End is one end of the traffic a Focus looks at: the caller (Service
// empty) or the callee with the service it was reached through.
type End struct {
	Namespace, Workload, App, Version string // the workload's
	Service, ServiceNamespace         string // the service the callee was reached through
}

type span struct {
	d       time.Duration
	w, n    int
	covered float64
}

func (g *Graph) spans(ws []time.Duration, nowNano int64) ([]span, error) {
	if len(ws) == 0 {
		ws = g.cfg.Windows
	}
	out := make([]span, 0, len(ws))
	for _, d := range ws {
		w, n, found := g.layout.Span(d, nowNano)
		if d <= 0 || !found {
			return nil, fmt.Errorf("%w: %s (longest window %s)", ErrWindow, d, g.cfg.Windows[len(g.cfg.Windows)-1])
		}
		covered := g.layout.Covered(w, n, nowNano)
		if g.start != 0 {
			covered = min(covered, float64(nowNano-g.start)/1e9)
		}
		out = append(out, span{d: d, w: w, n: n, covered: max(covered, 1e-9)})
	}
	return out, nil
}

func checkGranularity(g Granularity) error {
	if int(g) >= len(granularityNames) {
		return fmt.Errorf("invalid granularity %d", g)
	}
	return nil
}

// internal is one stored edge summed over the snapshot's windows: c for
// the client side, s for the server side, one Agg per window each.
type internal struct {
	key  edgeKey // ids of edgeSet's tables
	seq  uint64  // the edge's place in the graph's expiry list
	c, s []window.Agg
}

// edgeSet is what a snapshot is built from, read from the graph or from
// external totals: build reads nothing else, so that a live snapshot can be
// built without the graph's lock.
type edgeSet struct {
	// nodes and svcs name the ids of the edge keys (with the principal last
	// seen of each node).
	nodes []tableItem[wlKey]
	svcs  []tableItem[svcKey]
	// keys are every stored edge, idle ones included: service graphs name a
	// caller after the service its workload serves, traffic or not.
	keys []edgeKey
	// ies are the edges to show, in the order of the graph's expiry list
	// (least recently seen first).
	ies   []internal
	stats Stats
}

func anyActive(a []window.Agg) bool {
	for i := range a {
		if a[i].Active() {
			return true
		}
	}
	return false
}

// Snapshot computes the graph at now. It does not modify the graph.
//
// The stored edges are first summed per window and reporter. Each stored
// edge's client and server views are then merged with the count-once rule
// and mapped onto the nodes of the requested granularity.
//
// Snapshot reads the graph for its whole duration; NewSnapshotCursor splits
// the reading into short steps and builds the snapshot without the graph.
func (g *Graph) Snapshot(now time.Time, o SnapshotOptions) (*Snapshot, error) {
	c, err := g.NewSnapshotCursor(now, o)
	if err != nil {
		return nil, err
	}
	g.SnapshotStep(c, math.MaxInt)
	return c.Snapshot(), nil
}

// build merges and maps the summed edges onto the nodes of the
// requested granularity: the part of a snapshot shared by the live graph and
// the graph of external totals (SnapshotFromTotals). It modifies es's
// aggregates.
func build(now time.Time, o SnapshotOptions, spans []span, es *edgeSet) *Snapshot {
	nw := len(spans)
	b := builder{
		es: es, o: o, nodes: map[string]*nodeAcc{}, edges: map[string]*outEdge{}, nw: nw,
	}
	if o.Granularity == Service {
		b.indexServices()
	}
	for k := range es.ies {
		if o.Focus != nil && !b.focused(&es.ies[k]) {
			continue
		}
		b.add(&es.ies[k])
	}
	return b.finish(now, spans)
}
