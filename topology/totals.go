package topology

import (
	"fmt"
	"math"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology/internal/window"
)

// Totals are what one reporter side of one edge reported over one window,
// summed: what a store of the Istio standard metrics gives back (the
// counters' increase over the window). They are the input of
// SnapshotFromTotals.
type Totals struct {
	// Requests are the finished HTTP/gRPC requests (istio_requests_total).
	Requests float64
	// Responses break the requests down by response code, gRPC status and
	// response flags. For TCP they are the closed connections by response
	// flags (the live graph counts TCP report entries instead).
	Responses []ResponseTotal
	// MTLS is the part of the requests (TCP: of the responses) that went over
	// mutual TLS.
	MTLS float64
	// DurationBounds are the finite upper bounds, in milliseconds and
	// ascending, of the request duration histogram; DurationCumulative its
	// cumulative counts per bound followed by the +Inf count (Prometheus's
	// `le` buckets), so len(DurationCumulative) == len(DurationBounds)+1.
	DurationBounds     []float64
	DurationCumulative []float64
	// DurationSumMillis is the sum of the request durations.
	DurationSumMillis float64
	// BytesIn are the bytes from client to server (HTTP request bytes, TCP
	// received bytes), BytesOut those from server to client.
	BytesIn, BytesOut float64
	// MessagesIn and MessagesOut are gRPC request and response messages.
	MessagesIn, MessagesOut float64
	// Opened and Closed are TCP connections.
	Opened, Closed float64
}

// ResponseTotal is the count of one response.
type ResponseTotal struct {
	Code       uint32 // HTTP status; 0 when there was no response
	GRPCStatus int32  // gRPC status; -1 when none
	Flags      accesslog.ResponseFlags
	Count      float64
}

// EdgeTotals is the traffic of one stored edge (source workload,
// destination service, destination workload, protocol) as its two reporter
// sides reported it. Several EdgeTotals with the same key add up.
type EdgeTotals struct {
	Source, Destination accesslog.Workload
	Service             accesslog.Service
	Protocol            accesslog.Protocol
	// Client (reporter=source) and Server (reporter=destination or
	// waypoint) hold one Totals per window of the snapshot, in the order of
	// SnapshotOptions.Windows; nil when the side did not report.
	Client, Server []Totals
}

// SnapshotFromTotals computes a snapshot from traffic already summed per
// edge, reporter and window: the global graph of several meshlens replicas,
// read back from the Istio metrics they export. It applies the rules of
// Graph.Snapshot — both reporters merged with the count-once rule, nodes
// and granularities — so that the same traffic gives the same
// graph. o.Windows are the windows the totals cover (required); each rate
// divides by the whole window, as Prometheus's rate() does. Latency
// quantiles are Prometheus's histogram_quantile over the buckets given
// (summed over the stored edges an output edge stands for), so they
// approximate those of the live graph, whose buckets are finer. The
// snapshot's Stats count the stored edges, nodes and services; Records is
// zero.
func SnapshotFromTotals(edges []EdgeTotals, now time.Time, o SnapshotOptions) (*Snapshot, error) {
	if err := checkGranularity(o.Granularity); err != nil {
		return nil, err
	}
	if len(o.Windows) == 0 {
		return nil, fmt.Errorf("%w: totals need their windows", ErrWindow)
	}
	nw := len(o.Windows)
	spans := make([]span, nw)
	for w, d := range o.Windows {
		if d <= 0 {
			return nil, fmt.Errorf("%w: %s", ErrWindow, d)
		}
		spans[w] = span{d: d, covered: d.Seconds()}
	}
	for k := range edges {
		e := &edges[k]
		if (e.Client != nil && len(e.Client) != nw) || (e.Server != nil && len(e.Server) != nw) {
			return nil, fmt.Errorf("edge %d: %d client and %d server totals for %d windows", k, len(e.Client), len(e.Server), nw)
		}
	}

	g := &Graph{
		cfg: Config{
			MaxEdges: math.MaxInt, MaxNodes: math.MaxInt,
			Windows: o.Windows, SlotsPerWindow: 1,
		},
		nodes: newTable[wlKey](),
		svcs:  newTable[svcKey](),
		index: make(map[edgeKey]int32, len(edges)),
		head:  none,
		tail:  none,
	}
	var slab aggSlab
	ies := make([]internal, 0, len(edges))
	for k := range edges {
		e := &edges[k]
		i, found := g.edgeFor(keyOf(&e.Source), keyOf(&e.Destination), svcKey(e.Service), storedProtocol(e.Protocol))
		if !found { // cannot happen: the graph is unbounded
			continue
		}
		key := g.edges[i].key
		if int(i) == len(ies) {
			ies = append(ies, internal{key: key, seq: g.edges[i].seq, c: slab.take(nw), s: slab.take(nw)})
		}
		ie := &ies[i]
		g.setPrincipal(key.src, e.Source.Principal)
		g.setPrincipal(key.dst, e.Destination.Principal)
		for w := range e.Client {
			e.Client[w].addTo(&ie.c[w], key.proto, e.Service.Host)
		}
		for w := range e.Server {
			e.Server[w].addTo(&ie.s[w], key.proto, e.Service.Host)
		}
	}
	keys := make([]edgeKey, len(ies))
	for k := range ies {
		keys[k] = ies[k].key
	}
	if !o.IncludeIdle {
		active := ies[:0]
		for _, ie := range ies {
			if anyActive(ie.c) || anyActive(ie.s) {
				active = append(active, ie)
			}
		}
		ies = active
	}
	es := edgeSet{nodes: g.nodes.items, svcs: g.svcs.items, keys: keys, ies: ies, stats: g.Stats()}
	return build(now, o, spans, &es), nil
}

// storedProtocol is the protocol an edge is stored under: TCP, gRPC, else
// HTTP (as Observe stores records).
func storedProtocol(p accesslog.Protocol) accesslog.Protocol {
	if p == accesslog.ProtocolTCP || p == accesslog.ProtocolGRPC {
		return p
	}
	return accesslog.ProtocolHTTP
}

// addTo adds t to a: the Agg a view's slots would sum to.
func (t *Totals) addTo(a *window.Agg, proto accesslog.Protocol, host string) {
	a.Requests += t.Requests
	a.MTLS += t.MTLS
	a.Opened += t.Opened
	a.Closed += t.Closed
	a.MsgsIn += t.MessagesIn
	a.MsgsOut += t.MessagesOut
	a.BytesIn += t.BytesIn
	a.BytesOut += t.BytesOut
	a.DurSumMicros += t.DurationSumMillis * 1000
	a.AddCumulative(t.DurationBounds, t.DurationCumulative)
	kind := accesslog.KindHTTP
	if proto == accesslog.ProtocolTCP {
		kind = accesslog.KindTCP
	}
	for _, r := range t.Responses {
		if !(r.Count > 0) {
			continue
		}
		rec := accesslog.Record{Kind: kind, Protocol: proto, ResponseCode: r.Code, GRPCStatus: r.GRPCStatus, Flags: r.Flags}
		a.AddKind(window.KindOf(&rec), host, r.Count)
	}
}
