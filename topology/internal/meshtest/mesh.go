package meshtest

import (
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// Cluster is the cluster of the synthetic mesh.
const Cluster = "east"

// Workload returns an in-mesh workload.
func Workload(ns, name, app, version string) accesslog.Workload {
	return accesslog.Workload{
		Name: name, Namespace: ns, CanonicalService: app, CanonicalRevision: version,
		App: app, Version: version, Cluster: Cluster,
		Principal: "spiffe://cluster.local/ns/" + ns + "/sa/" + app,
	}
}

// Unknown is a caller or callee without identity, as Istio labels it.
var Unknown = accesslog.Workload{
	Name: "unknown", Namespace: "unknown", CanonicalService: "unknown", CanonicalRevision: "latest",
	App: "unknown", Version: "unknown", Cluster: "unknown", Principal: "unknown",
}

// Service returns a Kubernetes service.
func Service(ns, name string) accesslog.Service {
	return accesslog.Service{Host: name + "." + ns + ".svc.cluster.local", Name: name, Namespace: ns}
}

// Side says which proxies report a call.
type Side uint8

// Sides.
const (
	ClientSide Side = 1 << iota
	ServerSide
	BothSides = ClientSide | ServerSide
)

// Call is Count identical requests (TCP: connections) from one workload to
// another.
type Call struct {
	From, To  accesslog.Workload
	Service   accesslog.Service
	Protocol  accesslog.Protocol
	Code      uint32 // HTTP status, 0 for none
	GRPC      int32  // gRPC status, -1 for none
	Flags     accesslog.ResponseFlags
	Duration  time.Duration
	ReqBytes  uint64 // HTTP request bytes; TCP bytes received by the server
	RespBytes uint64 // HTTP response bytes; TCP bytes sent by the server
	Sides     Side
	MTLS      bool
	Count     int
	// ServerDuration is the server's view of the duration (default: 90%
	// of Duration).
	ServerDuration time.Duration
}

// Records returns the records of the call: per request the client's then
// the server's, as the sides report it.
func (c Call) Records() []accesslog.Record {
	var out []accesslog.Record
	for range c.Count {
		if c.Sides&ClientSide != 0 {
			out = append(out, c.record(accesslog.ReporterSource))
		}
		if c.Sides&ServerSide != 0 {
			out = append(out, c.record(accesslog.ReporterDestination))
		}
	}
	return out
}

func (c Call) record(rep accesslog.Reporter) accesslog.Record {
	r := accesslog.Record{
		Kind: accesslog.KindHTTP, Reporter: rep, Protocol: c.Protocol,
		Source: c.From, Destination: c.To, Service: c.Service,
		ResponseCode: c.Code, GRPCStatus: c.GRPC, Flags: c.Flags, Final: true,
		DurationNanos: int64(c.Duration), RequestBytes: c.ReqBytes, ResponseBytes: c.RespBytes,
		SourceFrom: accesslog.FromPeerMetadata, DestinationFrom: accesslog.FromPeerMetadata,
		ServiceFrom: accesslog.FromClusterName,
	}
	if c.Protocol == accesslog.ProtocolTCP {
		r.Kind = accesslog.KindTCP
		r.ResponseCode, r.GRPCStatus, r.DurationNanos = 0, -1, -1
		r.RequestBytes, r.ResponseBytes = 0, 0
		r.TCPReceivedBytes, r.TCPSentBytes = c.ReqBytes, c.RespBytes
		r.TCPOpened, r.TCPClosed = true, true
	}
	if rep == accesslog.ReporterSource {
		r.SourceFrom = accesslog.FromNodeMetadata
		if c.To.Name == "unknown" {
			r.DestinationFrom = accesslog.FromClusterName
		}
		r.Security = accesslog.SecurityUnknown
		if !c.MTLS {
			r.Source.Principal, r.Destination.Principal = "unknown", "unknown"
		}
	} else {
		r.DestinationFrom = accesslog.FromNodeMetadata
		if c.From.Name == "unknown" {
			r.SourceFrom = accesslog.FromNone
		}
		r.Security = accesslog.SecurityNone
		if c.MTLS {
			r.Security = accesslog.SecurityMutualTLS
		} else {
			r.Source.Principal, r.Destination.Principal = "unknown", "unknown"
		}
		if r.DurationNanos > 0 {
			r.DurationNanos = int64(c.ServerDuration)
			if c.ServerDuration == 0 {
				r.DurationNanos = int64(c.Duration) * 9 / 10
			}
		}
	}
	return r
}

// Mesh returns the calls of the synthetic mesh, modelled on the graph of
// Kiali's own API tests.
func Mesh() []Call {
	var (
		gw          = Workload("istio-system", "istio-ingressgateway", "istio-ingressgateway", "latest")
		productpage = Workload("bookinfo", "productpage-v1", "productpage", "v1")
		details     = Workload("bookinfo", "details-v1", "details", "v1")
		reviews1    = Workload("bookinfo", "reviews-v1", "reviews", "v1")
		reviews2    = Workload("bookinfo", "reviews-v2", "reviews", "v2")
		reviews3    = Workload("bookinfo", "reviews-v3", "reviews", "v3")
		ratings     = Workload("bookinfo", "ratings-v1", "ratings", "v1")
		tcp         = Workload("bookinfo", "tcp-v1", "tcp", "v1")
		deposit     = Workload("bankapp", "deposit-v1", "deposit", "v1")
		ms          = time.Millisecond
		http        = accesslog.ProtocolHTTP
	)
	uf := accesslog.FlagUpstreamConnectionFailure
	return []Call{
		{From: gw, To: productpage, Service: Service("bookinfo", "productpage"), Protocol: http, Code: 200, GRPC: -1, Duration: 40 * ms, ReqBytes: 600, RespBytes: 5000, Sides: BothSides, MTLS: true, Count: 100},
		{From: Unknown, To: productpage, Service: Service("bookinfo", "productpage"), Protocol: http, Code: 200, GRPC: -1, Duration: 35 * ms, ReqBytes: 500, RespBytes: 5000, Sides: ServerSide, Count: 50},
		{From: productpage, To: details, Service: Service("bookinfo", "details"), Protocol: http, Code: 200, GRPC: -1, Duration: 5 * ms, ReqBytes: 300, RespBytes: 400, Sides: BothSides, MTLS: true, Count: 20},
		{From: productpage, To: details, Service: Service("bookinfo", "details"), Protocol: http, Code: 301, GRPC: -1, Duration: 2 * ms, ReqBytes: 300, RespBytes: 100, Sides: BothSides, MTLS: true, Count: 20},
		{From: productpage, To: details, Service: Service("bookinfo", "details"), Protocol: http, Code: 404, GRPC: -1, Duration: 2 * ms, ReqBytes: 300, RespBytes: 100, Sides: BothSides, MTLS: true, Count: 20},
		{From: productpage, To: details, Service: Service("bookinfo", "details"), Protocol: http, Code: 500, GRPC: -1, Duration: 8 * ms, ReqBytes: 300, RespBytes: 100, Sides: BothSides, MTLS: true, Count: 20},
		// Connection failures: the client saw a 503 UF, details never saw
		// the request.
		{From: productpage, To: details, Service: Service("bookinfo", "details"), Protocol: http, Code: 503, GRPC: -1, Flags: uf, Duration: 1 * ms, ReqBytes: 300, RespBytes: 90, Sides: ClientSide, MTLS: true, Count: 5},
		{From: productpage, To: reviews1, Service: Service("bookinfo", "reviews"), Protocol: http, Code: 200, GRPC: -1, Duration: 20 * ms, ReqBytes: 300, RespBytes: 800, Sides: BothSides, MTLS: true, Count: 20},
		{From: productpage, To: reviews2, Service: Service("bookinfo", "reviews"), Protocol: http, Code: 200, GRPC: -1, Duration: 60 * ms, ReqBytes: 300, RespBytes: 900, Sides: BothSides, MTLS: true, Count: 40},
		{From: productpage, To: reviews3, Service: Service("bookinfo", "reviews"), Protocol: http, Code: 200, GRPC: -1, Duration: 80 * ms, ReqBytes: 300, RespBytes: 900, Sides: BothSides, MTLS: true, Count: 40},
		{From: reviews2, To: ratings, Service: Service("bookinfo", "ratings"), Protocol: http, Code: 200, GRPC: -1, Duration: 3 * ms, ReqBytes: 200, RespBytes: 150, Sides: BothSides, MTLS: true, Count: 20},
		{From: reviews2, To: ratings, Service: Service("bookinfo", "ratings"), Protocol: http, Code: 500, GRPC: -1, Duration: 3 * ms, ReqBytes: 200, RespBytes: 50, Sides: BothSides, MTLS: true, Count: 10},
		{From: reviews3, To: ratings, Service: Service("bookinfo", "ratings"), Protocol: http, Code: 200, GRPC: -1, Duration: 3 * ms, ReqBytes: 200, RespBytes: 150, Sides: BothSides, MTLS: true, Count: 20},
		{From: reviews3, To: deposit, Service: Service("bankapp", "deposit"), Protocol: accesslog.ProtocolGRPC, Code: 200, GRPC: 0, Duration: 12 * ms, ReqBytes: 100, RespBytes: 120, Sides: BothSides, MTLS: true, Count: 50},
		{From: reviews3, To: deposit, Service: Service("bankapp", "deposit"), Protocol: accesslog.ProtocolGRPC, Code: 200, GRPC: 14, Duration: 30 * ms, ReqBytes: 100, RespBytes: 20, Sides: BothSides, MTLS: true, Count: 5},
		// No route: the sidecar answered 404 NR itself.
		{From: reviews3, To: Unknown, Service: accesslog.Service{Host: "unknown", Name: "unknown", Namespace: "unknown"}, Protocol: http, Code: 404, GRPC: -1, Flags: accesslog.FlagNoRouteFound, Duration: 0, ReqBytes: 100, RespBytes: 0, Sides: ClientSide, Count: 4},
		{From: productpage, To: tcp, Service: Service("bookinfo", "tcp"), Protocol: accesslog.ProtocolTCP, ReqBytes: 3100, RespBytes: 6200, Sides: BothSides, MTLS: true, Count: 10},
		{From: gw, To: tcp, Service: Service("bookinfo", "tcp"), Protocol: accesslog.ProtocolTCP, ReqBytes: 1000, RespBytes: 30000, Sides: BothSides, Count: 1},
		{From: productpage, To: Unknown, Service: accesslog.Service{Host: "httpbin.org", Name: "httpbin.org", Namespace: "bookinfo"}, Protocol: http, Code: 200, GRPC: -1, Duration: 150 * ms, ReqBytes: 200, RespBytes: 9000, Sides: ClientSide, Count: 3},
	}
}

// Records returns the mesh's records, one batch per call, and the time of
// each batch: calls are spread over the 50 seconds before now.
func Records(now time.Time) (batches [][]accesslog.Record, times []time.Time) {
	calls := Mesh()
	for i := range calls {
		batches = append(batches, calls[i].Records())
		times = append(times, now.Add(-50*time.Second+time.Duration(i)*2*time.Second))
	}
	return batches, times
}
