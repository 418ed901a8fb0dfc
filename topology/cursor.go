package topology

import (
	"cmp"
	"slices"
	"time"

	"github.com/meshlens/meshlens/topology/internal/window"
)

// SnapshotCursor computes a snapshot in two parts, so that a caller sharing
// the graph between goroutines reads it in short steps and builds the
// snapshot without it:
//
//	c, err := g.NewSnapshotCursor(now, o) // graph locked
//	for !g.SnapshotStep(c, n) {           // graph locked, one step at a time
//	}
//	snap := c.Snapshot()                  // graph not needed
//
// Each step copies up to n stored edges, in the order of their storage
// slots, summed per window and reporter side: the only part of a snapshot
// that reads the rings. What Snapshot then does (count-once, nodes,
// granularity, sorting) works on those copies.
//
// The graph may change between steps. Each edge is copied whole within one
// step (both reporter sides, every window), so the count-once rule compares
// sides observed at the same instant. An edge created after the cursor
// passed its slot is left out; an edge removed (Expire) after it was copied
// stays in, as the snapshot saw it; an edge touched between steps is copied
// once, with the traffic it had when its step ran. The snapshot is thus the
// graph as of slightly different instants for different edges, all over the
// same windows (the cursor's now); Stats are those of the last step. When
// the graph does not change between steps the snapshot is the one Snapshot
// computes, number for number.
//
// A cursor is used by one goroutine, with one graph, and Snapshot is called
// once, after SnapshotStep reported that every edge has been copied.
type SnapshotCursor struct {
	g       *Graph
	now     time.Time
	nowNano int64
	o       SnapshotOptions
	spans   []span

	next  int          // the next storage slot to copy
	done  bool         // every slot copied: stats hold the graph's counters
	built bool         // Snapshot has been called
	nodes names[wlKey] // the cursor's copies of the node keys and principals
	svcs  names[svcKey]
	keys  []edgeKey // every stored edge copied (ids of nodes and svcs)
	ies   []internal
	slab  aggSlab
	spare []window.Agg // cleared aggregates of an idle edge left out
	stats Stats
}

// NewSnapshotCursor checks o and returns a cursor that computes the snapshot
// Snapshot(now, o) would. It reads the graph's configuration and size only.
func (g *Graph) NewSnapshotCursor(now time.Time, o SnapshotOptions) (*SnapshotCursor, error) {
	nowNano := now.UnixNano()
	spans, err := g.spans(o.Windows, nowNano)
	if err != nil {
		return nil, err
	}
	if err := checkGranularity(o.Granularity); err != nil {
		return nil, err
	}
	n := len(g.index)
	return &SnapshotCursor{
		g: g, now: now, nowNano: nowNano, o: o, spans: spans,
		nodes: newNames[wlKey](), svcs: newNames[svcKey](),
		keys: make([]edgeKey, 0, n), ies: make([]internal, 0, n),
	}, nil
}

// Windows is the number of windows the snapshot covers: the cost of a step
// is proportional to the edges it copies times the windows.
func (c *SnapshotCursor) Windows() int { return len(c.spans) }

// SnapshotStep copies up to maxEdges more storage slots of the graph into c
// (free slots count too; maxEdges < 1 counts as 1). It reports whether every
// slot has been copied: c.Snapshot can then be called. It does not modify
// the graph.
func (g *Graph) SnapshotStep(c *SnapshotCursor, maxEdges int) (done bool) {
	if c.g != g {
		panic("topology: SnapshotStep with the cursor of another graph")
	}
	if c.done {
		return true
	}
	c.nodes.sync(&g.nodes)
	c.svcs.sync(&g.svcs)
	nw := len(c.spans)
	end := len(g.edges)
	if n := max(maxEdges, 1); n < end-c.next {
		end = c.next + n
	}
	for ; c.next < end; c.next++ {
		e := &g.edges[c.next]
		if e.seq == 0 { // free slot
			continue
		}
		key := edgeKey{
			src: c.nodes.id(&g.nodes, e.key.src), dst: c.nodes.id(&g.nodes, e.key.dst),
			svc: c.svcs.id(&g.svcs, e.key.svc), proto: e.key.proto,
		}
		c.keys = append(c.keys, key)
		aggs := c.spare
		if aggs == nil {
			aggs = c.slab.take(2 * nw)
		}
		c.spare = nil
		ie := internal{key: key, seq: e.seq, c: aggs[:nw:nw], s: aggs[nw:]}
		host := g.svcs.items[e.key.svc].key.Host
		for w, sp := range c.spans {
			if v := e.views[client]; v != nil {
				v.Sum(g.layout, sp.w, sp.n, c.nowNano, host, &ie.c[w])
			}
			if v := e.views[server]; v != nil {
				v.Sum(g.layout, sp.w, sp.n, c.nowNano, host, &ie.s[w])
			}
		}
		if c.o.IncludeIdle || anyActive(ie.c) || anyActive(ie.s) {
			c.ies = append(c.ies, ie)
		} else {
			clear(aggs)
			c.spare = aggs
		}
	}
	if c.next == len(g.edges) {
		c.done = true
		c.stats = g.Stats()
	}
	return c.done
}

// Snapshot builds the snapshot from what the steps copied. It does not read
// the graph: a caller sharing the graph calls it without the graph's lock.
// It panics unless SnapshotStep has reported that every edge is copied, or
// when called twice.
func (c *SnapshotCursor) Snapshot() *Snapshot {
	if !c.done {
		panic("topology: SnapshotCursor.Snapshot before the last SnapshotStep")
	}
	if c.built {
		panic("topology: SnapshotCursor.Snapshot called twice")
	}
	c.built = true
	// The steps copied in storage order; the merges and the choice of a
	// principal among several stored edges follow the expiry list, as when
	// the graph was read in one go.
	slices.SortFunc(c.ies, func(x, y internal) int { return cmp.Compare(x.seq, y.seq) })
	es := edgeSet{nodes: c.nodes.t.items, svcs: c.svcs.t.items, keys: c.keys, ies: c.ies, stats: c.stats}
	return build(c.now, c.o, c.spans, &es)
}

// names is a cursor's copy of a graph table: the keys (and principals) of
// the ids it met, under ids of its own. The graph's ids map to the copy
// through an array; when the graph has freed ids since (Expire between
// steps), an id may have been reused for another key, so the mapping starts
// again from the keys themselves.
type names[K comparable] struct {
	t     table[K]
	of    []int32 // graph id → cursor id + 1; 0: not met since the last sync
	freed uint64  // the graph table's freed count when of was valid
}

func newNames[K comparable]() names[K] { return names[K]{t: newTable[K]()} }

// sync prepares the mapping for a step over table gt.
func (n *names[K]) sync(gt *table[K]) {
	if gt.freed != n.freed {
		clear(n.of)
		n.freed = gt.freed
	}
	if len(n.of) < len(gt.items) {
		n.of = append(n.of, make([]int32, len(gt.items)-len(n.of))...)
	}
}

// id returns the cursor's id for the graph's id, copying the key (and the
// principal as it is now).
func (n *names[K]) id(gt *table[K], gid int32) int32 {
	src := &gt.items[gid]
	id := n.of[gid] - 1
	if id < 0 {
		id, _, _ = n.t.acquire(src.key, int(^uint(0)>>1))
		n.of[gid] = id + 1
	}
	if p := src.principal; p != "" {
		n.t.items[id].principal = p
	}
	return id
}
