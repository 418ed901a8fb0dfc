package topology

import (
	"strings"
	"time"
	"unsafe"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology/internal/window"
)

const unknown = "unknown"

func ok(v string) bool { return v != "" && v != unknown }

// wlKey is a workload identity: the finest node of the graph.
type wlKey struct {
	Cluster, Namespace, Name, CanonicalService, CanonicalRevision string
}

func keyOf(w *accesslog.Workload) wlKey {
	k := wlKey{
		Cluster: w.Cluster, Namespace: w.Namespace, Name: w.Name,
		CanonicalService: w.CanonicalService, CanonicalRevision: w.CanonicalRevision,
	}
	if k.Cluster == "" {
		k.Cluster = unknown
	}
	if k.Namespace == "" {
		k.Namespace = unknown
	}
	if k.Name == "" {
		k.Name = unknown
	}
	return k
}

// unknownSource reports whether k is Istio's unknown caller.
func (k *wlKey) unknownSource() bool {
	return !ok(k.Namespace) && !ok(k.Name) && !ok(k.CanonicalService)
}

type svcKey struct{ Host, Name, Namespace string }

// table interns keys into small ids with reference counts.
type table[K comparable] struct {
	index map[K]int32
	items []tableItem[K]
	free  []int32
	// freed counts the ids removed: while it does not change, no id has
	// been reused for another key (snapshot cursors rely on it).
	freed uint64
}

type tableItem[K comparable] struct {
	key       K
	refs      int32
	principal string // nodes: last known SPIFFE principal
}

func newTable[K comparable]() table[K] { return table[K]{index: make(map[K]int32)} }

func (t *table[K]) len() int { return len(t.index) }

// acquire returns k's id, creating it (with no references) when there is
// room below limit.
func (t *table[K]) acquire(k K, limit int) (id int32, created, ok bool) {
	if id, ok := t.index[k]; ok {
		return id, false, true
	}
	if len(t.index) >= limit {
		return 0, false, false
	}
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
		t.items[id] = tableItem[K]{key: k}
	} else {
		id = int32(len(t.items))
		t.items = append(t.items, tableItem[K]{key: k})
	}
	t.index[k] = id
	return id, true, true
}

// release drops a reference and removes the entry when none is left. It
// reports whether the entry was removed.
func (t *table[K]) release(id int32) bool {
	it := &t.items[id]
	it.refs--
	if it.refs > 0 {
		return false
	}
	delete(t.index, it.key)
	*it = tableItem[K]{}
	t.free = append(t.free, id)
	t.freed++
	return true
}

// dropIfUnused removes an entry that no edge references.
func (t *table[K]) dropIfUnused(id int32) {
	if t.items[id].refs == 0 {
		t.items[id].refs = 1
		t.release(id)
	}
}

type edgeKey struct {
	src, dst, svc int32
	proto         accesslog.Protocol
}

const (
	client = 0 // reporter=source
	server = 1 // reporter=destination or waypoint
)

const none = -1

type edge struct {
	key        edgeKey
	prev, next int32 // least recently seen first
	// seq orders the expiry list: it is stamped from Graph.seq each time
	// the edge goes to the back of the list, so the list runs in ascending
	// seq. Zero marks a free slot.
	seq      uint64
	lastSeen int64
	views    [2]*window.View
}

// Stats are the graph's counters.
type Stats struct {
	Records       uint64 `json:"records"`       // records that counted in an edge
	Ignored       uint64 `json:"ignored"`       // records with nothing to count (no reporter, intermediate HTTP entries)
	Edges         int    `json:"edges"`         // stored edges
	Nodes         int    `json:"nodes"`         // stored workload identities
	Services      int    `json:"services"`      // stored destination services
	EdgesOverflow uint64 `json:"edgesOverflow"` // records dropped: MaxEdges reached
	NodesOverflow uint64 `json:"nodesOverflow"` // records dropped: MaxNodes reached
	EdgesExpired  uint64 `json:"edgesExpired"`  // edges removed after IdleTTL without traffic
	NodesExpired  uint64 `json:"nodesExpired"`  // workload identities removed with their last edge
	KindsFolded   uint64 `json:"kindsFolded"`   // records whose response kind was folded (kind table full)
}

// Graph is the live service graph. It is a pure core: no I/O, no
// goroutines, no clock (time is a parameter), not safe for concurrent use.
type Graph struct {
	cfg    Config
	layout *window.Layout
	nodes  table[wlKey]
	svcs   table[svcKey]
	index  map[edgeKey]int32
	edges  []edge
	free   []int32
	head   int32
	tail   int32
	seq    uint64 // the last edge.seq stamped
	start  int64  // when counting began (SetStart), 0 until then
	stats  Stats
	// recent remembers edges found, compared by the identity of their
	// interned strings: a proxy's records repeat a few edges, and this skips
	// hashing three keys of strings per record. Direct-mapped by the keys'
	// fingerprint; cleared whenever an edge is removed (Expire).
	recent []recentEdge
}

// recentEdges is the size of Graph.recent (a power of two): the edges of
// several hundred streams, whose interned strings differ.
const (
	recentBits  = 12
	recentEdges = 1 << recentBits
)

type recentEdge struct {
	fp       uint64
	src, dst wlKey
	svc      svcKey
	proto    accesslog.Protocol
	i        int32
	ok       bool
}

// same reports whether two strings are the same interned value; false
// negatives only cost a map lookup.
func same(x, y string) bool {
	return len(x) == len(y) && (x == "" || unsafe.StringData(x) == unsafe.StringData(y))
}

// edgeFingerprint mixes the addresses of an edge's most distinctive
// strings: equal interned keys have equal fingerprints, so a different
// fingerprint skips the full comparison.
func edgeFingerprint(src, dst *wlKey, svc *svcKey, proto accesslog.Protocol) uint64 {
	const m = 0x9E3779B97F4A7C15
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(src.Name))))
	h = h*m ^ uint64(uintptr(unsafe.Pointer(unsafe.StringData(dst.Name))))
	h = h*m ^ uint64(uintptr(unsafe.Pointer(unsafe.StringData(svc.Host))))
	return h*m ^ uint64(proto)
}

func sameWL(x, y *wlKey) bool {
	return same(x.Name, y.Name) && same(x.Namespace, y.Namespace) && same(x.Cluster, y.Cluster) &&
		same(x.CanonicalService, y.CanonicalService) && same(x.CanonicalRevision, y.CanonicalRevision)
}

// NewGraph returns an empty graph.
func NewGraph(cfg Config) (*Graph, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Graph{
		cfg:    cfg,
		layout: window.NewLayout(cfg.Windows, cfg.SlotsPerWindow),
		nodes:  newTable[wlKey](),
		svcs:   newTable[svcKey](),
		recent: make([]recentEdge, recentEdges),
		index:  make(map[edgeKey]int32),
		head:   none,
		tail:   none,
	}, nil
}

// SetStart says when the graph began counting: a window longer than the
// time since covers only that time, and its rates divide by it (a graph
// one second old that counted 100 requests shows 100 req/s, not 100/60).
// Without it, the first record's time is taken.
func (g *Graph) SetStart(t time.Time) { g.start = t.UnixNano() }

// Config returns the configuration in effect (defaults applied).
func (g *Graph) Config() Config { return g.cfg }

// Stats returns the graph's counters.
func (g *Graph) Stats() Stats {
	s := g.stats
	s.Edges, s.Nodes, s.Services = len(g.index), g.nodes.len(), g.svcs.len()
	return s
}

// ObserveBatch observes every record of a batch.
func (g *Graph) ObserveBatch(recs []accesslog.Record, now time.Time) {
	for i := range recs {
		g.Observe(&recs[i], now)
	}
}

// Observe counts one record. r's Details are read only during the call.
//
// The record is counted on the edge (source workload, destination service,
// destination workload, protocol) in the view of its reporter: client side
// for reporter=source, server side for destination and waypoint. Its nodes
// are the record's own labels, the ones its Istio metric series carries:
// the graph names nobody the metrics do not (docs/adr/0003).
func (g *Graph) Observe(r *accesslog.Record, now time.Time) {
	side := server
	switch r.Reporter {
	case accesslog.ReporterSource:
		side = client
	case accesslog.ReporterDestination, accesslog.ReporterWaypoint:
	default:
		g.stats.Ignored++
		return
	}
	s := window.Sample{DurNanos: -1}
	proto := r.Protocol
	if r.Kind == accesslog.KindTCP {
		proto = accesslog.ProtocolTCP
		// A TCP connection's response kind (its flags) counts once, when
		// it closes: istio_tcp_connections_closed_total's count.
		s.CountKind = r.TCPClosed
		s.Kind = window.KindOf(r)
		s.BytesIn, s.BytesOut = r.TCPReceivedBytes, r.TCPSentBytes
		s.Opened, s.Closed = r.TCPOpened, r.TCPClosed
	} else {
		if proto != accesslog.ProtocolGRPC {
			proto = accesslog.ProtocolHTTP
		}
		s.MsgsIn, s.MsgsOut = r.RequestMessages, r.ResponseMessages
		if r.Final {
			s.Request, s.CountKind = true, true
			s.Kind = window.KindOf(r)
			s.DurNanos = r.DurationNanos
			s.BytesIn, s.BytesOut = r.RequestBytes, r.ResponseBytes
		} else if s.MsgsIn == 0 && s.MsgsOut == 0 {
			g.stats.Ignored++
			return
		}
	}
	nowNano := now.UnixNano()
	if g.start == 0 {
		g.start = nowNano
	}
	src, dst := &r.Source, &r.Destination
	if side == server {
		s.MTLS = r.Security == accesslog.SecurityMutualTLS
	} else {
		s.MTLS = strings.HasPrefix(src.Principal, "spiffe://") && strings.HasPrefix(dst.Principal, "spiffe://")
	}

	i, found := g.edgeFor(keyOf(src), keyOf(dst), svcKey(r.Service), proto)
	if !found {
		return
	}
	g.touch(i, nowNano)
	e := &g.edges[i]
	g.setPrincipal(e.key.src, src.Principal)
	g.setPrincipal(e.key.dst, dst.Principal)
	v := e.views[side]
	if v == nil {
		v = window.NewView(g.layout)
		e.views[side] = v
	}
	if v.Add(g.layout, nowNano, &s) {
		g.stats.KindsFolded++
	}
	g.stats.Records++
}

func (g *Graph) setPrincipal(id int32, p string) {
	if ok(p) && g.nodes.items[id].principal != p {
		g.nodes.items[id].principal = p
	}
}

// edgeFor returns the index of the edge for a key, creating it (and its
// nodes) when the bounds allow; false when they do not.
func (g *Graph) edgeFor(src, dst wlKey, svc svcKey, proto accesslog.Protocol) (int32, bool) {
	if g.recent == nil { // a graph built from totals: no cache
		return g.lookupEdge(src, dst, svc, proto)
	}
	fp := edgeFingerprint(&src, &dst, &svc, proto)
	c := &g.recent[fp>>(64-recentBits)]
	if c.fp == fp && c.ok && c.proto == proto && sameWL(&c.src, &src) && sameWL(&c.dst, &dst) &&
		same(c.svc.Host, svc.Host) && same(c.svc.Name, svc.Name) && same(c.svc.Namespace, svc.Namespace) {
		return c.i, true
	}
	i, ok := g.lookupEdge(src, dst, svc, proto)
	if ok {
		*c = recentEdge{fp: fp, src: src, dst: dst, svc: svc, proto: proto, i: i, ok: true}
	}
	return i, ok
}

func (g *Graph) lookupEdge(src, dst wlKey, svc svcKey, proto accesslog.Protocol) (int32, bool) {
	srcID, srcNew, okS := g.nodes.acquire(src, g.cfg.MaxNodes)
	if !okS {
		g.stats.NodesOverflow++
		return 0, false
	}
	dstID, dstNew, okD := g.nodes.acquire(dst, g.cfg.MaxNodes)
	if !okD {
		if srcNew {
			g.nodes.dropIfUnused(srcID)
		}
		g.stats.NodesOverflow++
		return 0, false
	}
	svcID, _, _ := g.svcs.acquire(svc, int(^uint(0)>>1)) // bounded by MaxEdges
	k := edgeKey{src: srcID, dst: dstID, svc: svcID, proto: proto}
	if i, found := g.index[k]; found {
		return i, true
	}
	if len(g.index) >= g.cfg.MaxEdges {
		if srcNew {
			g.nodes.dropIfUnused(srcID)
		}
		if dstNew {
			g.nodes.dropIfUnused(dstID)
		}
		g.svcs.dropIfUnused(svcID)
		g.stats.EdgesOverflow++
		return 0, false
	}
	var i int32
	if n := len(g.free); n > 0 {
		i = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		i = int32(len(g.edges))
		g.edges = append(g.edges, edge{})
	}
	g.edges[i] = edge{key: k, prev: none, next: none}
	g.index[k] = i
	g.nodes.items[srcID].refs++
	g.nodes.items[dstID].refs++
	g.svcs.items[svcID].refs++
	g.pushBack(i)
	return i, true
}

// touch marks e seen at nowNano and moves it to the back of the expiry
// list. Edges observed with an older time keep their place.
func (g *Graph) touch(i int32, nowNano int64) {
	e := &g.edges[i]
	if nowNano <= e.lastSeen {
		return
	}
	e.lastSeen = nowNano
	if g.tail == i {
		return
	}
	g.unlink(i)
	g.pushBack(i)
}

func (g *Graph) pushBack(i int32) {
	e := &g.edges[i]
	g.seq++
	e.seq = g.seq
	e.prev, e.next = g.tail, none
	if g.tail != none {
		g.edges[g.tail].next = i
	} else {
		g.head = i
	}
	g.tail = i
}

func (g *Graph) unlink(i int32) {
	e := &g.edges[i]
	if e.prev != none {
		g.edges[e.prev].next = e.next
	} else {
		g.head = e.next
	}
	if e.next != none {
		g.edges[e.next].prev = e.prev
	} else {
		g.tail = e.prev
	}
	e.prev, e.next = none, none
}

// Expire removes the edges without traffic for IdleTTL, the nodes and
// services no edge references any more. It returns the number of edges
// removed. Its cost is proportional to what it removes.
func (g *Graph) Expire(now time.Time) (removed int) {
	cutoff := now.UnixNano() - int64(g.cfg.IdleTTL)
	for g.head != none && g.edges[g.head].lastSeen < cutoff {
		i := g.head
		e := &g.edges[i]
		g.unlink(i)
		delete(g.index, e.key)
		if g.nodes.release(e.key.src) {
			g.stats.NodesExpired++
		}
		if g.nodes.release(e.key.dst) {
			g.stats.NodesExpired++
		}
		g.svcs.release(e.key.svc)
		*e = edge{prev: none, next: none}
		g.free = append(g.free, i)
		removed++
	}
	g.stats.EdgesExpired += uint64(removed)
	if removed > 0 {
		clear(g.recent) // its indices may name freed or reused edges
	}
	return removed
}
