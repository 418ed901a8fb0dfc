package topology

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/meshlens/meshlens/accesslog"
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
}

// Snapshot is the graph at one instant.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Source says where the traffic was read: empty for the live graph of
	// this instance, "prometheus" for the global graph (SnapshotFromTotals
	// over the Istio metrics of every replica).
	Source      string      `json:"source,omitempty"`
	Granularity Granularity `json:"graphType"`
	Namespaces  []string    `json:"namespaces,omitempty"`
	Windows     []Window    `json:"windows"`
	Nodes       []Node      `json:"nodes"`
	Edges       []Edge      `json:"edges"`
	Stats       Stats       `json:"stats"`
}

// Window is one window of a snapshot.
type Window struct {
	Name     string        `json:"name"`    // e.g. "1m"
	Duration time.Duration `json:"-"`       // requested length
	Seconds  float64       `json:"seconds"` // requested length in seconds
	// CoveredSeconds is what the counted slots span (the full slots and the
	// elapsed part of the current one): the denominator of every rate.
	CoveredSeconds float64 `json:"coveredSeconds"`
}

// NodeType is Kiali's nodeType.
type NodeType string

// Node types.
const (
	NodeWorkload NodeType = "workload"
	NodeApp      NodeType = "app"
	NodeService  NodeType = "service"
	NodeUnknown  NodeType = "unknown" // callers without identity (Kiali's unknown source)
)

// ServiceRef names a service.
type ServiceRef struct {
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// Node is one node of a snapshot. Its ID is Kiali's node key (Kiali hashes
// it with SHA-256), e.g. "wl_<cluster>_<namespace>_<workload>".
type Node struct {
	ID        string   `json:"id"`
	Type      NodeType `json:"type"`
	Cluster   string   `json:"cluster"`
	Namespace string   `json:"namespace"`
	Workload  string   `json:"workload,omitempty"`
	App       string   `json:"app,omitempty"`
	Version   string   `json:"version,omitempty"`
	Service   string   `json:"service,omitempty"`
	// DestServices are the services the node was reached through.
	DestServices []ServiceRef `json:"destServices,omitempty"`
	// Hosts are the destination service hosts of a service node.
	Hosts []string `json:"hosts,omitempty"`
	// Injected marks a service node standing between callers and workloads.
	Injected bool `json:"injected,omitempty"`
	// External marks a service outside the mesh: an external host reached
	// with no server-side report (Kiali shows a ServiceEntry).
	External bool `json:"external,omitempty"`
	// EgressCluster marks Istio's PassthroughCluster and BlackHoleCluster.
	EgressCluster bool `json:"egressCluster,omitempty"`
}

// Edge is the traffic from one node to another over one protocol.
type Edge struct {
	ID              string      `json:"id"` // "<source>.<target>.<protocol>"
	Source          string      `json:"source"`
	Target          string      `json:"target"`
	Protocol        string      `json:"protocol"` // http, grpc or tcp
	SourcePrincipal string      `json:"sourcePrincipal,omitempty"`
	DestPrincipal   string      `json:"destPrincipal,omitempty"`
	Stats           []EdgeStats `json:"stats"` // one per Snapshot.Windows, same order
}

// EdgeStats are an edge's numbers over one window. Requests count each
// request hop once however many proxies reported it (see the package
// documentation); Client and Server are what each side reported.
type EdgeStats struct {
	Window       string  `json:"window"`
	Requests     float64 `json:"requests"`
	RequestRate  float64 `json:"requestRate"` // per second
	Errors       float64 `json:"errors"`      // 5xx, no response, gRPC non-OK; TCP: proxy failures
	ErrorRate    float64 `json:"errorRate"`   // per second
	ErrorPercent float64 `json:"errorPercent"`
	// ProxyErrors are the errors the proxy generated (response flags such as
	// UF, UH, URX, UO, NR), AppErrors those the application returned.
	ProxyErrors float64 `json:"proxyErrors"`
	AppErrors   float64 `json:"appErrors"`
	NoResponse  float64 `json:"noResponse,omitempty"`
	Status3xx   float64 `json:"status3xx,omitempty"`
	Status4xx   float64 `json:"status4xx,omitempty"`
	Status5xx   float64 `json:"status5xx,omitempty"`
	GRPCErrors  float64 `json:"grpcErrors,omitempty"` // gRPC status other than 0
	// Latency is the caller's view when the client side reported, else the
	// server's.
	Latency *Latency `json:"latency,omitempty"`
	// Byte rates: client → server (request bytes, TCP received) and
	// server → client (response bytes, TCP sent), per second.
	BytesInRate        float64    `json:"bytesInRate,omitempty"`
	BytesOutRate       float64    `json:"bytesOutRate,omitempty"`
	MessagesInRate     float64    `json:"messagesInRate,omitempty"`  // gRPC request messages per second
	MessagesOutRate    float64    `json:"messagesOutRate,omitempty"` // gRPC response messages per second
	ConnectionsOpened  float64    `json:"connectionsOpened,omitempty"`
	ConnectionsClosed  float64    `json:"connectionsClosed,omitempty"`
	MTLSPercent        *float64   `json:"mtlsPercent,omitempty"`
	Responses          []Response `json:"responses,omitempty"`
	ClientOnlyFailures float64    `json:"clientOnlyFailures,omitempty"`
	Client             *Side      `json:"client,omitempty"`
	Server             *Side      `json:"server,omitempty"`
	// LatencyOverhead is client minus server latency: the time spent outside
	// the server application (network, proxies, queues).
	LatencyOverhead *Latency `json:"latencyOverhead,omitempty"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	P50     float64 `json:"p50"`
	P95     float64 `json:"p95"`
	P99     float64 `json:"p99"`
	Avg     float64 `json:"avg"`
	Samples float64 `json:"samples,omitempty"`
}

// Side is what one reporter saw of an edge.
type Side struct {
	Requests    float64  `json:"requests"`
	RequestRate float64  `json:"requestRate"`
	Errors      float64  `json:"errors"`
	ProxyErrors float64  `json:"proxyErrors"`
	Latency     *Latency `json:"latency,omitempty"`
	MTLSPercent *float64 `json:"mtlsPercent,omitempty"`
}

// Response is the share of one response code, flags and destination host.
type Response struct {
	Code     string  `json:"code"`  // HTTP status, gRPC status or "-"
	Flags    string  `json:"flags"` // Istio response_flags label
	Host     string  `json:"host,omitempty"`
	Requests float64 `json:"requests"` // TCP: report entries
	Percent  float64 `json:"percent"`
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
		w, n, found := g.layout.Span(d)
		if d <= 0 || !found {
			return nil, fmt.Errorf("%w: %s (longest window %s)", ErrWindow, d, g.cfg.Windows[len(g.cfg.Windows)-1])
		}
		out = append(out, span{d: d, w: w, n: n, covered: max(g.layout.Covered(w, n, nowNano), 1e-9)})
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
	key    edgeKey // ids of edgeSet's tables
	seq    uint64  // the edge's place in the graph's expiry list
	c, s   []window.Agg
	folded bool
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

// activity is how much traffic an aggregate carries, to weigh folds.
func activity(a *window.Agg) float64 { return a.Requests + a.Opened + a.KindTotal() }

// Snapshot computes the graph at now. It does not modify the graph.
//
// The stored edges are first summed per window and reporter. A client-side
// view whose callee is unknown (no peer metadata, not joined) is folded into
// the edges of the same caller, service and protocol whose server side named
// the callee, in proportion to their server-side traffic. Each stored edge's
// client and server views are then merged with the count-once rule and
// mapped onto the nodes of the requested granularity.
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

// build folds, merges and maps the summed edges onto the nodes of the
// requested granularity: the part of a snapshot shared by the live graph and
// the graph of external totals (SnapshotFromTotals). It modifies es's
// aggregates.
func build(now time.Time, o SnapshotOptions, spans []span, es *edgeSet) *Snapshot {
	nw := len(spans)
	es.fold(nw)

	b := builder{
		es: es, o: o, nodes: map[string]*nodeAcc{}, edges: map[string]*outEdge{}, nw: nw,
	}
	if o.Granularity == Service {
		b.indexServices()
	}
	for k := range es.ies {
		ie := &es.ies[k]
		if ie.folded {
			continue
		}
		b.add(ie)
	}
	return b.finish(now, spans)
}

// fold moves client-side views whose callee is unknown into the edges of
// the same caller, service and protocol whose server side named the callee.
func (es *edgeSet) fold(nw int) {
	type group struct {
		src, svc int32
		proto    accesslog.Protocol
	}
	ies := es.ies
	cands := map[group][]int{}
	for k := range ies {
		key := ies[k].key
		if ok(es.nodes[key.dst].key.Name) && anyActive(ies[k].s) {
			gk := group{key.src, key.svc, key.proto}
			cands[gk] = append(cands[gk], k)
		}
	}
	if len(cands) == 0 {
		return
	}
	for k := range ies {
		ie := &ies[k]
		key := ie.key
		if ok(es.nodes[key.dst].key.Name) || anyActive(ie.s) || !anyActive(ie.c) {
			continue
		}
		cs := cands[group{key.src, key.svc, key.proto}]
		if len(cs) == 0 {
			continue
		}
		for w := range nw {
			weights := make([]float64, len(cs))
			var total float64
			for j, c := range cs {
				weights[j] = activity(&ies[c].s[w])
				total += weights[j]
			}
			if total == 0 { // no server traffic in this window: weigh by the longest
				for j, c := range cs {
					weights[j] = activity(&ies[c].s[nw-1])
					total += weights[j]
				}
			}
			if total == 0 {
				for j := range weights {
					weights[j] = 1
				}
				total = float64(len(weights))
			}
			for j, c := range cs {
				ies[c].c[w].Add(&ie.c[w], weights[j]/total)
			}
		}
		ie.folded = true
	}
}

type nodeAcc struct {
	Node
	dest  map[ServiceRef]struct{}
	hosts map[string]struct{}
}

type outEdge struct {
	src, dst     string
	proto        accesslog.Protocol
	merged, c, s []window.Agg
	clientOnly   []float64
	srcPrincipal string
	dstPrincipal string
	owned        bool // the aggregates are not shared with a stored edge
}

type builder struct {
	es    *edgeSet
	o     SnapshotOptions
	nw    int
	nodes map[string]*nodeAcc
	edges map[string]*outEdge
	// service graphs: the service node a workload serves (by node id), and
	// service nodes by "namespace/name".
	served   map[int32]Node
	services map[string]Node
	slab     aggSlab // the output edges' aggregates
}

// aggSlab hands out Agg slices carved from large blocks: a snapshot needs
// several per edge.
type aggSlab struct{ free []window.Agg }

const slabBlock = 4096

func (s *aggSlab) take(n int) []window.Agg {
	if len(s.free) < n {
		s.free = make([]window.Agg, max(slabBlock, n))
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

type hop struct {
	src, dst Node
	svc      *ServiceRef // the service the destination is reached through
}

// indexServices finds, for service graphs, which service each workload
// serves (the server side of an edge names both) and every service seen.
func (b *builder) indexServices() {
	es := b.es
	b.served = map[int32]Node{}
	b.services = map[string]Node{}
	for _, key := range es.keys {
		src, dst, svc := es.nodes[key.src].key, es.nodes[key.dst].key, es.svcs[key.svc].key
		if !ok(svc.Name) {
			continue
		}
		n := b.serviceNode(destCluster(&src, &dst, &svc), svcNamespace(&svc, &dst), svc.Name)
		sk := n.Namespace + "/" + n.Service
		if cur, found := b.services[sk]; !found || n.ID < cur.ID {
			b.services[sk] = n
		}
		if ok(dst.Name) {
			if cur, found := b.served[key.dst]; !found || n.ID < cur.ID {
				b.served[key.dst] = n
			}
		}
	}
}

func svcNamespace(svc *svcKey, dst *wlKey) string {
	if ok(svc.Namespace) {
		return svc.Namespace
	}
	return dst.Namespace
}

// destCluster is the destination's cluster; an unknown one is taken to be
// the caller's when the service namespace is known (Kiali's handling of
// istio#29373).
func destCluster(src, dst *wlKey, svc *svcKey) string {
	if !ok(dst.Cluster) && ok(src.Cluster) && ok(svc.Namespace) {
		return src.Cluster
	}
	return dst.Cluster
}

func (b *builder) hops(ie *internal) []hop {
	es := b.es
	key := ie.key
	src, dst, svc := es.nodes[key.src].key, es.nodes[key.dst].key, es.svcs[key.svc].key
	cluster := destCluster(&src, &dst, &svc)
	var ref *ServiceRef
	if ok(svc.Name) {
		ref = &ServiceRef{Cluster: cluster, Namespace: svcNamespace(&svc, &dst), Name: svc.Name}
	}
	if b.o.Granularity == Service {
		var from Node
		switch n, served := b.served[key.src]; {
		case src.unknownSource():
			from = unknownNode()
		case served:
			from = n
		default:
			if n, found := b.services[src.Namespace+"/"+src.CanonicalService]; found && ok(src.CanonicalService) {
				from = n
			} else {
				from = sourceNode(&src, Workload)
			}
		}
		to := b.serviceNode(cluster, svcNamespace(&svc, &dst), svc.Name)
		return []hop{{src: from, dst: to, svc: ref}}
	}
	from := sourceNode(&src, b.o.Granularity)
	to := destNode(cluster, &svc, &dst, b.o.Granularity)
	if b.o.InjectServiceNodes && ref != nil && to.Type != NodeService {
		mid := b.serviceNode(cluster, ref.Namespace, svc.Name)
		return []hop{{src: from, dst: mid, svc: ref}, {src: mid, dst: to, svc: ref}}
	}
	return []hop{{src: from, dst: to, svc: ref}}
}

func (b *builder) add(ie *internal) {
	es := b.es
	key := ie.key
	svc := es.svcs[key.svc].key
	merged := b.slab.take(b.nw)
	clientOnly := make([]float64, b.nw)
	for w := range b.nw {
		clientOnly[w] = window.CountOnce(&merged[w], &ie.c[w], &ie.s[w])
	}
	for n, h := range b.hops(ie) {
		b.node(h.src, nil, "")
		b.node(h.dst, h.svc, svc.Host)
		id := h.src.ID + "." + h.dst.ID + "." + key.proto.String()
		oe := b.edges[id]
		switch {
		case oe == nil && n == 0:
			// Most output edges have one stored edge: share its aggregates.
			oe = &outEdge{src: h.src.ID, dst: h.dst.ID, proto: key.proto, merged: merged, c: ie.c, s: ie.s, clientOnly: clientOnly}
			b.edges[id] = oe
		case oe == nil:
			oe = &outEdge{src: h.src.ID, dst: h.dst.ID, proto: key.proto, clientOnly: make([]float64, b.nw)}
			b.edges[id] = oe
			b.own(oe)
			b.addTo(oe, merged, ie, clientOnly)
		default:
			b.own(oe)
			b.addTo(oe, merged, ie, clientOnly)
		}
		if p := es.nodes[key.src].principal; oe.srcPrincipal == "" && p != "" {
			oe.srcPrincipal = p
		}
		if p := es.nodes[key.dst].principal; oe.dstPrincipal == "" && p != "" {
			oe.dstPrincipal = p
		}
	}
}

// own gives an output edge aggregates of its own before a second stored
// edge is added to it.
func (b *builder) own(oe *outEdge) {
	if oe.owned {
		return
	}
	for _, p := range []*[]window.Agg{&oe.merged, &oe.c, &oe.s} {
		shared := *p
		*p = b.slab.take(b.nw)
		for w := range shared {
			(*p)[w].Add(&shared[w], 1)
		}
	}
	oe.clientOnly = slices.Clone(oe.clientOnly)
	if oe.clientOnly == nil {
		oe.clientOnly = make([]float64, b.nw)
	}
	oe.owned = true
}

func (b *builder) addTo(oe *outEdge, merged []window.Agg, ie *internal, clientOnly []float64) {
	for w := range b.nw {
		oe.merged[w].Add(&merged[w], 1)
		oe.c[w].Add(&ie.c[w], 1)
		oe.s[w].Add(&ie.s[w], 1)
		oe.clientOnly[w] += clientOnly[w]
	}
}

func (b *builder) node(n Node, svc *ServiceRef, host string) {
	acc := b.nodes[n.ID]
	if acc == nil {
		acc = &nodeAcc{Node: n}
		b.nodes[n.ID] = acc
	}
	if svc != nil {
		if acc.dest == nil {
			acc.dest = map[ServiceRef]struct{}{}
		}
		acc.dest[*svc] = struct{}{}
	}
	if n.Type == NodeService && host != "" && svc != nil && n.Service == svc.Name {
		if acc.hosts == nil {
			acc.hosts = map[string]struct{}{}
		}
		acc.hosts[host] = struct{}{}
	}
}

func (b *builder) finish(now time.Time, spans []span) *Snapshot {
	snap := &Snapshot{
		Time: now, Granularity: b.o.Granularity, Stats: b.es.stats,
		Namespaces: slices.Clone(b.o.Namespaces),
		Nodes:      []Node{}, Edges: []Edge{},
	}
	for _, sp := range spans {
		snap.Windows = append(snap.Windows, Window{
			Name: formatWindow(sp.d), Duration: sp.d, Seconds: sp.d.Seconds(), CoveredSeconds: sp.covered,
		})
	}
	inNS := func(ns string) bool { return len(b.o.Namespaces) == 0 || slices.Contains(b.o.Namespaces, ns) }
	used := map[string]bool{}
	servedSide := map[string]bool{} // nodes some edge reached with a server-side report
	for _, oe := range b.edges {
		if anyActive(oe.s) {
			servedSide[oe.dst] = true
		}
	}
	for id, oe := range b.edges {
		src, dst := b.nodes[oe.src], b.nodes[oe.dst]
		if !inNS(src.Namespace) && !inNS(dst.Namespace) {
			continue
		}
		if !b.o.IncludeIdle && !anyActive(oe.merged) {
			continue
		}
		used[oe.src], used[oe.dst] = true, true
		e := Edge{ID: id, Source: oe.src, Target: oe.dst, Protocol: oe.proto.String()}
		mtls := false
		for w, sp := range spans {
			st := edgeStats(snap.Windows[w].Name, sp.covered, oe.proto, &oe.merged[w], &oe.c[w], &oe.s[w], oe.clientOnly[w])
			mtls = mtls || st.MTLSPercent != nil && *st.MTLSPercent > 0
			e.Stats = append(e.Stats, st)
		}
		if mtls { // principals are the identities presented over mutual TLS
			e.SourcePrincipal, e.DestPrincipal = oe.srcPrincipal, oe.dstPrincipal
		}
		snap.Edges = append(snap.Edges, e)
	}
	for id := range used {
		acc := b.nodes[id]
		n := acc.Node
		for ref := range acc.dest {
			n.DestServices = append(n.DestServices, ref)
		}
		slices.SortFunc(n.DestServices, func(x, y ServiceRef) int {
			return cmp.Or(cmp.Compare(x.Cluster, y.Cluster), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
		})
		for h := range acc.hosts {
			n.Hosts = append(n.Hosts, h)
		}
		slices.Sort(n.Hosts)
		if n.Type == NodeService && !n.EgressCluster && !servedSide[id] {
			for _, h := range n.Hosts {
				if externalHost(h) {
					n.External = true
				}
			}
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	slices.SortFunc(snap.Nodes, func(x, y Node) int { return cmp.Compare(x.ID, y.ID) })
	slices.SortFunc(snap.Edges, func(x, y Edge) int { return cmp.Compare(x.ID, y.ID) })
	return snap
}

// externalHost reports whether a destination service host looks like a
// host outside the cluster: a DNS name with a dot that is not a Kubernetes
// service name and not an IP address.
func externalHost(h string) bool {
	if h == "" || !strings.Contains(h, ".") || strings.Contains(h, ".svc") || strings.HasSuffix(h, ".local") {
		return false
	}
	host := h
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "0123456789.") != ""
}

func formatWindow(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return d.String()
	}
}

func latencyOf(a *window.Agg) *Latency {
	n := a.Samples()
	if n <= 0 {
		return nil
	}
	l := &Latency{Samples: n, Avg: roundMicros(a.DurSumMicros / 1000 / n)}
	if n <= 1 { // one request: its duration is known exactly
		l.P50, l.P95, l.P99 = l.Avg, l.Avg, l.Avg
		return l
	}
	for _, q := range []struct {
		dst *float64
		q   float64
	}{{&l.P50, 0.5}, {&l.P95, 0.95}, {&l.P99, 0.99}} {
		v, _ := a.Quantile(q.q)
		*q.dst = roundMicros(v)
	}
	return l
}

// roundMicros rounds milliseconds to microseconds.
func roundMicros(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// mtlsPercent is the share of requests (TCP: report entries) over mutual
// TLS, or nil without traffic.
func mtlsPercent(a *window.Agg, proto accesslog.Protocol) *float64 {
	base := a.Requests
	if proto == accesslog.ProtocolTCP {
		base = a.KindTotal()
	}
	if base <= 0 {
		return nil
	}
	p := min(100, a.MTLS/base*100)
	return &p
}

func side(a *window.Agg, covered float64, proto accesslog.Protocol) *Side {
	if !a.Active() {
		return nil
	}
	errs, proxy := a.Errors()
	return &Side{
		Requests: a.Requests, RequestRate: a.Requests / covered, Errors: errs, ProxyErrors: proxy,
		Latency: latencyOf(a), MTLSPercent: mtlsPercent(a, proto),
	}
}

func edgeStats(name string, covered float64, proto accesslog.Protocol, m, c, s *window.Agg, clientOnly float64) EdgeStats {
	errs, proxy := m.Errors()
	classes := m.ByClass()
	es := EdgeStats{
		Window: name, Requests: m.Requests, RequestRate: m.Requests / covered,
		Errors: errs, ErrorRate: errs / covered, ProxyErrors: proxy, AppErrors: errs - proxy,
		NoResponse: classes[window.ClassNoResponse], Status3xx: classes[window.Class3xx],
		Status4xx: classes[window.Class4xx], Status5xx: classes[window.Class5xx],
		GRPCErrors:  classes[window.ClassGRPCErr],
		Latency:     latencyOf(m),
		BytesInRate: m.BytesIn / covered, BytesOutRate: m.BytesOut / covered,
		MessagesInRate: m.MsgsIn / covered, MessagesOutRate: m.MsgsOut / covered,
		ConnectionsOpened: m.Opened, ConnectionsClosed: m.Closed,
		ClientOnlyFailures: clientOnly,
		Client:             side(c, covered, proto),
		Server:             side(s, covered, proto),
	}
	base := m.Requests
	if proto == accesslog.ProtocolTCP {
		base = m.KindTotal()
	}
	if base > 0 {
		es.ErrorPercent = errs / base * 100
	}
	if s.Active() {
		es.MTLSPercent = mtlsPercent(s, proto)
	} else {
		es.MTLSPercent = mtlsPercent(c, proto)
	}
	m.SortKinds()
	total := m.KindTotal()
	for _, k := range m.Kinds {
		if k.Count <= 0 {
			continue
		}
		es.Responses = append(es.Responses, Response{
			Code: k.Kind.Code.String(), Flags: k.Kind.Flags.String(), Host: k.Host,
			Requests: k.Count, Percent: k.Count / total * 100,
		})
	}
	if es.Client != nil && es.Server != nil && es.Client.Latency != nil && es.Server.Latency != nil {
		cl, sl := es.Client.Latency, es.Server.Latency
		es.LatencyOverhead = &Latency{
			P50: roundMicros(cl.P50 - sl.P50), P95: roundMicros(cl.P95 - sl.P95),
			P99: roundMicros(cl.P99 - sl.P99), Avg: roundMicros(cl.Avg - sl.Avg),
		}
	}
	return es
}
