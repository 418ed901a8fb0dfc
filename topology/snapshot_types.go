package topology

import "time"

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
	// elapsed part of the current one), at most the time since the graph
	// began counting (Graph.SetStart): the denominator of every rate.
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
	BytesInRate       float64    `json:"bytesInRate,omitempty"`
	BytesOutRate      float64    `json:"bytesOutRate,omitempty"`
	MessagesInRate    float64    `json:"messagesInRate,omitempty"`  // gRPC request messages per second
	MessagesOutRate   float64    `json:"messagesOutRate,omitempty"` // gRPC response messages per second
	ConnectionsOpened float64    `json:"connectionsOpened,omitempty"`
	ConnectionsClosed float64    `json:"connectionsClosed,omitempty"`
	MTLSPercent       *float64   `json:"mtlsPercent,omitempty"`
	Responses         []Response `json:"responses,omitempty"`
	// ClientOnlyFailures are the errors of response kinds only the client
	// side reported (window.CountOnce): connection failures, client
	// timeouts.
	ClientOnlyFailures float64 `json:"clientOnlyFailures,omitempty"`
	Client             *Side   `json:"client,omitempty"`
	Server             *Side   `json:"server,omitempty"`
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
