package topology

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology/internal/window"
)

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
	// service graphs: the service nodes a workload serves (by node id;
	// sorted by id), and service nodes by "namespace/name".
	served   map[int32][]Node
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
	b.served = map[int32][]Node{}
	b.services = map[string]Node{}
	for _, key := range es.keys {
		src, dst, svc := es.nodes[key.src].key, es.nodes[key.dst].key, es.svcs[key.svc].key
		if !ok(svc.Name) {
			continue
		}
		n := b.serviceNode(destCluster(&src, &dst, &svc), svcNamespace(&svc, &dst, &src), svc.Name)
		sk := n.Namespace + "/" + n.Service
		if cur, found := b.services[sk]; !found || n.ID < cur.ID {
			b.services[sk] = n
		}
		if ok(dst.Name) {
			list := b.served[key.dst]
			if i, found := slices.BinarySearchFunc(list, n.ID, func(x Node, id string) int { return cmp.Compare(x.ID, id) }); !found {
				b.served[key.dst] = slices.Insert(list, i, n)
			}
		}
	}
}

// svcNamespace is the namespace of the service node of svc: the service's,
// else its callee's, else, for a host outside the mesh (a ServiceEntry's,
// whose namespace only Kubernetes knows), the caller's — where Kiali would
// find the ServiceEntry the caller uses — rather than "unknown".
// focused reports whether o.Focus selects one of the stored edge's ends.
func (b *builder) focused(ie *internal) bool {
	key := ie.key
	src, dst, svc := b.es.nodes[key.src].key, b.es.nodes[key.dst].key, b.es.svcs[key.svc].key
	svcNS := svcNamespace(&svc, &dst, &src)
	dstNS := dst.Namespace
	if !ok(dstNS) {
		dstNS = svcNS
	}
	return b.o.Focus(End{Namespace: src.Namespace, Workload: src.Name, App: src.CanonicalService, Version: src.CanonicalRevision}) ||
		b.o.Focus(End{
			Namespace: dstNS, Workload: dst.Name, App: dst.CanonicalService, Version: dst.CanonicalRevision,
			Service: svc.Name, ServiceNamespace: svcNS,
		})
}

func svcNamespace(svc *svcKey, dst, src *wlKey) string {
	switch {
	case ok(svc.Namespace):
		return svc.Namespace
	case ok(dst.Namespace):
		return dst.Namespace
	case ExternalHost(svc.Host) && !egressCluster(svc.Name) && ok(src.Namespace):
		return src.Namespace
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
		ref = &ServiceRef{Cluster: cluster, Namespace: svcNamespace(&svc, &dst, &src), Name: svc.Name}
	}
	if b.o.Granularity == Service {
		to := b.serviceNode(cluster, svcNamespace(&svc, &dst, &src), svc.Name)
		// A workload behind several services calls out from each of them,
		// as Kiali repeats its outgoing edges under every service.
		if served := b.served[key.src]; len(served) > 0 && !src.unknownSource() {
			hops := make([]hop, len(served))
			for i, from := range served {
				hops[i] = hop{src: from, dst: to, svc: ref}
			}
			return hops
		}
		var from Node
		switch {
		case src.unknownSource():
			from = unknownNode()
		default:
			if n, found := b.services[src.Namespace+"/"+src.CanonicalService]; found && ok(src.CanonicalService) {
				from = n
			} else {
				from = sourceNode(&src, Workload)
			}
		}
		return []hop{{src: from, dst: to, svc: ref}}
	}
	from := sourceNode(&src, b.o.Granularity)
	to := destNode(cluster, &svc, &dst, &src, b.o.Granularity)
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
	// A service node is injected only if no edge reaches it as its own
	// destination (a client report that named no workload), whatever the
	// order the edges are added in.
	acc.Injected = acc.Injected && n.Injected
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
				if ExternalHost(h) {
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

// egressCluster reports whether a service name is Istio's
// PassthroughCluster or BlackHoleCluster, which Kiali leaves in namespace
// unknown.
func egressCluster(name string) bool {
	return name == "PassthroughCluster" || name == "BlackHoleCluster"
}

// ExternalHost reports whether a destination service host looks like a
// host outside the cluster: a DNS name with a dot that is not a Kubernetes
// service name and not an IP address.
func ExternalHost(h string) bool {
	if h == "" || !strings.Contains(h, ".") || strings.Contains(h, ".svc") || strings.HasSuffix(h, ".local") {
		return false
	}
	host := h
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	return strings.Trim(host, "0123456789.") != ""
}
