package kiali

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshlens/meshlens/topology"
)

// Options are the Kiali query parameters that shape the response.
type Options struct {
	Duration   time.Duration // requested duration
	QueryTime  time.Time     // end of the window
	Namespaces []string      // requested namespaces (for isOutside)
	BoxBy      []string      // "app", "namespace", "cluster"
	// Appenders enabled; nil means all.
	Appenders map[string]bool
	RateHTTP  string // requests | none
	RateGRPC  string // requests | sent | received | total | none
	RateTCP   string // sent | received | total | none
	// ResponseTime is the edge latency: avg, 50, 95 or 99.
	ResponseTime string
	// ThroughputType is request or response (bytes/s).
	ThroughputType string
}

// Appender names Kiali accepts: those of Kiali today and "healthConfig",
// the health-annotation appender of Kiali up to 1.x that Kiali's UI of that
// time still sends (meshlens has no annotations: it adds nothing).
var Appenders = []string{
	"aggregateNode", "ambient", "deadNode", "extensions", "health", "healthConfig", "idleNode", "istio", "labeler",
	"meshCheck", "outsider", "responseTime", "securityPolicy", "serviceEntry", "sidecarsCheck",
	"throughput", "trafficGenerator", "workloadEntry",
}

func (o *Options) appender(name string) bool { return o.Appenders == nil || o.Appenders[name] }

func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// nodeRates accumulates a node's traffic per rate key.
type nodeRates map[string]float64

type edgeRates struct {
	protocol  string
	total     float64
	rates     map[string]float64 // error / class rates
	responses map[string]*respAcc
}

type respAcc struct {
	flags map[string]float64
	hosts map[string]float64
}

// Render converts a snapshot (of one window) into Kiali's graph response.
func Render(s *topology.Snapshot, o *Options) *Config {
	cfg := &Config{
		Timestamp: o.QueryTime.Unix(), Duration: int64(o.Duration.Seconds()),
		GraphType: s.Granularity.String(),
		Elements:  Elements{Nodes: []*NodeWrapper{}, Edges: []*EdgeWrapper{}},
	}
	type edgeOut struct {
		e     *topology.Edge
		rates edgeRates
	}
	var edges []edgeOut
	covered := 0.0
	if len(s.Windows) > 0 {
		covered = s.Windows[0].CoveredSeconds
	}
	nodeTraffic := map[string]nodeRates{}
	incoming, outgoing := map[string]bool{}, map[string]bool{}
	for i := range s.Edges {
		e := &s.Edges[i]
		r, keep := o.edgeRates(e, covered)
		if !keep {
			continue
		}
		edges = append(edges, edgeOut{e: e, rates: r})
		incoming[e.Target], outgoing[e.Source] = true, true
		addNodeRates(nodeTraffic, e.Source, e.Target, &r)
	}
	var health map[string]*RequestHealth
	if o.appender("health") {
		health = nodeRequests(s)
	}
	ids := map[string]string{}
	var nodes []*NodeData
	for i := range s.Nodes {
		n := &s.Nodes[i]
		if !incoming[n.ID] && !outgoing[n.ID] {
			continue
		}
		nd := o.node(n, nodeTraffic[n.ID])
		nd.IsRoot = outgoing[n.ID] && !incoming[n.ID]
		if health != nil && !nd.IsInaccessible {
			nd.HealthData = nodeHealth(n, health[n.ID])
		}
		ids[n.ID] = nd.ID
		nodes = append(nodes, nd)
	}
	for _, eo := range edges {
		cfg.Elements.Edges = append(cfg.Elements.Edges, &EdgeWrapper{Data: o.edge(eo.e, &eo.rates, ids, nodeTraffic[eo.e.Source])})
	}
	nodes = o.box(nodes, s.Granularity)
	slices.SortFunc(nodes, compareNodes)
	for _, n := range nodes {
		cfg.Elements.Nodes = append(cfg.Elements.Nodes, &NodeWrapper{Data: n})
	}
	slices.SortFunc(cfg.Elements.Edges, func(a, b *EdgeWrapper) int {
		return cmp.Or(cmp.Compare(a.Data.Source, b.Data.Source), cmp.Compare(a.Data.Target, b.Data.Target),
			cmp.Compare(a.Data.Traffic.Protocol, b.Data.Traffic.Protocol))
	})
	return cfg
}

// edgeRates computes an edge's rates from its (only) window, and whether
// the edge is part of the graph at all (a protocol rated "none" is not).
func (o *Options) edgeRates(e *topology.Edge, covered float64) (edgeRates, bool) {
	r := edgeRates{protocol: e.Protocol, rates: map[string]float64{}, responses: map[string]*respAcc{}}
	if len(e.Stats) == 0 {
		return r, false
	}
	st := &e.Stats[0]
	perSec := func(n float64) float64 {
		if covered <= 0 {
			return 0
		}
		return n / covered
	}
	withResponses := true
	switch e.Protocol {
	case "http":
		if o.RateHTTP == "none" {
			return r, false
		}
		r.total = st.RequestRate
		r.rates["httpNoResponse"] = perSec(st.NoResponse)
		r.rates["http3xx"] = perSec(st.Status3xx)
		r.rates["http4xx"] = perSec(st.Status4xx)
		r.rates["http5xx"] = perSec(st.Status5xx)
	case "grpc":
		switch o.RateGRPC {
		case "none":
			return r, false
		case "sent":
			r.total, withResponses = st.MessagesInRate, false
		case "received":
			r.total, withResponses = st.MessagesOutRate, false
		case "total":
			r.total, withResponses = st.MessagesInRate+st.MessagesOutRate, false
		default:
			r.total = st.RequestRate
			r.rates["grpcNoResponse"] = perSec(st.NoResponse)
			r.rates["grpcErr"] = perSec(st.GRPCErrors + st.Status4xx + st.Status5xx)
		}
	case "tcp":
		// Kiali's names are the client's, Istio's the reporting proxy's
		// (istio#32399): "sent" is istio_tcp_received_bytes_total (the
		// edge's BytesIn), "received" istio_tcp_sent_bytes_total.
		switch o.RateTCP {
		case "none":
			return r, false
		case "received":
			r.total = st.BytesOutRate
		case "total":
			r.total = st.BytesInRate + st.BytesOutRate
		default:
			r.total = st.BytesInRate
		}
	default:
		return r, false
	}
	if r.total <= 0 {
		return r, true
	}
	for _, resp := range st.Responses {
		code, flags := resp.Code, resp.Flags
		if !withResponses {
			code, flags = "-", ""
		}
		acc := r.responses[code]
		if acc == nil {
			acc = &respAcc{flags: map[string]float64{}, hosts: map[string]float64{}}
			r.responses[code] = acc
		}
		if flags != "" {
			acc.flags[flags] += resp.Percent
		}
		if resp.Host != "" {
			acc.hosts[resp.Host] += resp.Percent
		}
	}
	return r, true
}

var nodeKeys = map[string]struct{ in, out string }{
	"http": {"httpIn", "httpOut"}, "grpc": {"grpcIn", "grpcOut"}, "tcp": {"tcpIn", "tcpOut"},
}

var inKeys = map[string]string{
	"httpNoResponse": "httpInNoResponse", "http3xx": "httpIn3xx", "http4xx": "httpIn4xx", "http5xx": "httpIn5xx",
	"grpcNoResponse": "grpcInNoResponse", "grpcErr": "grpcInErr",
}

func addNodeRates(m map[string]nodeRates, src, dst string, r *edgeRates) {
	if r.total <= 0 {
		return
	}
	for _, id := range []string{src, dst} {
		if m[id] == nil {
			m[id] = nodeRates{}
		}
	}
	k := nodeKeys[r.protocol]
	m[src][k.out] += r.total
	m[dst][k.in] += r.total
	for name, v := range r.rates {
		if v > 0 {
			m[dst][inKeys[name]] += v
		}
	}
}

// Rate keys per protocol, in Kiali's order (node traffic lists protocols
// grpc, http, tcp).
var (
	protocols     = []string{"grpc", "http", "tcp"}
	nodeRateNames = map[string][]string{
		"grpc": {"grpcIn", "grpcInNoResponse", "grpcInErr", "grpcOut"},
		"http": {"httpIn", "httpInNoResponse", "httpIn3xx", "httpIn4xx", "httpIn5xx", "httpOut"},
		"tcp":  {"tcpIn", "tcpOut"},
	}
	edgeErrNames = map[string][]string{
		"grpc": {"grpcNoResponse", "grpcErr"},
		"http": {"httpNoResponse", "http4xx", "http5xx"},
	}
)

func (o *Options) node(n *topology.Node, traffic nodeRates) *NodeData {
	nd := &NodeData{
		ID: hash(n.ID), NodeType: string(n.Type), Cluster: n.Cluster, Namespace: n.Namespace,
		Workload: n.Workload, App: n.App, Version: n.Version, Service: n.Service,
		IsInjected: n.Injected, rank: 3,
	}
	for _, d := range n.DestServices {
		nd.DestServices = append(nd.DestServices, ServiceName(d))
	}
	for _, p := range protocols {
		pt := ProtocolTraffic{Protocol: p}
		for _, name := range nodeRateNames[p] {
			if v := traffic[name]; v > 0 {
				if pt.Rates == nil {
					pt.Rates = map[string]string{}
				}
				pt.Rates[name] = RateString(2, v)
			}
		}
		if pt.Rates != nil {
			nd.Traffic = append(nd.Traffic, pt)
		}
	}
	// A node drawn only for edges without traffic in the window (with
	// includeIdleEdges) is idle, as Kiali's idleNode appender marks it.
	nd.IsIdle = len(nd.Traffic) == 0 && o.appender("idleNode")
	switch {
	case n.Type == topology.NodeUnknown:
		nd.IsInaccessible = true
	case n.Type == topology.NodeService && (n.Namespace == "unknown" || n.EgressCluster):
		nd.IsInaccessible = true
	case n.Namespace != "unknown" && len(o.Namespaces) > 0 && !slices.Contains(o.Namespaces, n.Namespace):
		nd.IsOutside = true
	}
	if n.External && o.appender("serviceEntry") {
		nd.IsServiceEntry = &SEInfo{Hosts: slices.Clone(n.Hosts), Location: "MESH_EXTERNAL", Namespace: n.Namespace}
	}
	return nd
}

func (o *Options) edge(e *topology.Edge, r *edgeRates, ids map[string]string, src nodeRates) *EdgeData {
	srcID, dstID := ids[e.Source], ids[e.Target]
	ed := &EdgeData{
		ID: hash(srcID + "." + dstID + "." + e.Protocol), Source: srcID, Target: dstID,
		Traffic: ProtocolTraffic{Protocol: e.Protocol},
	}
	st := &e.Stats[0]
	if o.appender("securityPolicy") {
		if st.MTLSPercent != nil && *st.MTLSPercent > 0 {
			ed.IsMTLS = fmt.Sprintf("%.0f", *st.MTLSPercent)
		}
		ed.SourcePrincipal, ed.DestPrincipal = e.SourcePrincipal, e.DestPrincipal
	}
	if e.Protocol != "tcp" && st.Latency != nil && o.appender("responseTime") {
		v := st.Latency.P95
		switch o.ResponseTime {
		case "avg":
			v = st.Latency.Avg
		case "50":
			v = st.Latency.P50
		case "99":
			v = st.Latency.P99
		}
		ed.ResponseTime = fmt.Sprintf("%.0f", v)
	}
	if e.Protocol != "tcp" && o.appender("throughput") {
		v := st.BytesOutRate
		if o.ThroughputType == "request" {
			v = st.BytesInRate
		}
		if v > 0 {
			ed.Throughput = fmt.Sprintf("%.0f", v)
		}
	}
	if r.total <= 0 {
		return ed
	}
	rates := map[string]string{e.Protocol: RateString(2, r.total)}
	var errs float64
	for _, name := range edgeErrNames[e.Protocol] {
		errs += r.rates[name]
	}
	for name, v := range r.rates {
		if v > 0 {
			rates[name] = RateString(2, v)
		}
	}
	if e.Protocol != "tcp" {
		if pct := errs / r.total * 100; pct > 0 {
			rates[e.Protocol+"PercentErr"] = fmt.Sprintf("%.1f", pct)
		}
		if out := src[nodeKeys[e.Protocol].out]; out > 0 {
			rates[e.Protocol+"PercentReq"] = fmt.Sprintf("%.1f", r.total/out*100)
		}
	}
	ed.Traffic.Rates = rates
	if len(r.responses) > 0 {
		ed.Traffic.Responses = Responses{}
		for code, acc := range r.responses {
			d := &ResponseDetail{}
			if len(acc.flags) > 0 {
				d.Flags = map[string]string{}
				for f, v := range acc.flags {
					d.Flags[f] = fmt.Sprintf("%.1f", v)
				}
			}
			if len(acc.hosts) > 0 {
				d.Hosts = map[string]string{}
				for h, v := range acc.hosts {
					d.Hosts[h] = fmt.Sprintf("%.1f", v)
				}
			}
			ed.Traffic.Responses[code] = d
		}
	}
	return ed
}

// RateString formats a rate as Kiali does: minPrecision decimals, more for
// values below 1 so that one significant digit shows (at most 5).
func RateString(minPrecision int, v float64) string {
	p := minPrecision
	if need := calcPrecision(v, 5); need > p {
		p = need
	}
	return fmt.Sprintf("%.*f", p, v)
}

func calcPrecision(v float64, maxPrecision int) int {
	if v <= 0 {
		return 0
	}
	p := 0
	for p < maxPrecision && v < 1 {
		v *= 10
		p++
	}
	return p
}

// box adds Kiali's compound nodes: app boxes (always for app and
// versionedApp graphs), then namespace and cluster boxes when asked for.
func (o *Options) box(nodes []*NodeData, g topology.Granularity) []*NodeData {
	if slices.Contains(o.BoxBy, "app") || g == topology.App || g == topology.VersionedApp {
		nodes = boxBy(nodes, "app", func(n *NodeData) (string, bool) {
			return "box_" + n.Cluster + "_" + n.Namespace + "_" + n.App, n.App != "unknown" && n.App != ""
		}, false)
	}
	if slices.Contains(o.BoxBy, "namespace") {
		nodes = boxBy(nodes, "namespace", func(n *NodeData) (string, bool) {
			return "box_" + n.Cluster + "_" + n.Namespace, n.Parent == "" && n.Namespace != "unknown"
		}, true)
	}
	if slices.Contains(o.BoxBy, "cluster") {
		nodes = boxBy(nodes, "cluster", func(n *NodeData) (string, bool) {
			return "box_" + n.Cluster, n.Parent == "" && n.Cluster != "unknown"
		}, true)
	}
	return nodes
}

var boxRank = map[string]int{"cluster": 0, "namespace": 1, "app": 2}

func boxBy(nodes []*NodeData, kind string, key func(*NodeData) (string, bool), needSeveral bool) []*NodeData {
	members := map[string][]*NodeData{}
	var order []string
	for _, n := range nodes {
		if k, ok := key(n); ok {
			if _, seen := members[k]; !seen {
				order = append(order, k)
			}
			members[k] = append(members[k], n)
		}
	}
	if needSeveral && len(members) < 2 {
		return nodes
	}
	for _, k := range order {
		ms := members[k]
		if len(ms) < 2 {
			continue
		}
		b := &NodeData{ID: hash(k), NodeType: "box", Cluster: ms[0].Cluster, IsBox: kind, rank: boxRank[kind]}
		switch kind {
		case "namespace":
			b.Namespace = ms[0].Namespace
		case "app":
			b.Namespace, b.App = ms[0].Namespace, ms[0].App
		}
		for _, m := range ms {
			m.Parent = b.ID
			if kind == "app" {
				b.IsInaccessible = b.IsInaccessible || m.IsInaccessible
				b.IsOutside = b.IsOutside || m.IsOutside
			}
		}
		nodes = append(nodes, b)
	}
	return nodes
}

func compareNodes(a, b *NodeData) int {
	return cmp.Or(
		cmp.Compare(a.rank, b.rank),
		strings.Compare(a.Cluster, b.Cluster),
		strings.Compare(a.Namespace, b.Namespace),
		strings.Compare(a.App, b.App),
		strings.Compare(a.Version, b.Version),
		strings.Compare(a.Service, b.Service),
		strings.Compare(a.Workload, b.Workload),
		strings.Compare(a.ID, b.ID),
	)
}
