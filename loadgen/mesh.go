package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Protocol is the application protocol of a call edge, as Istio's
// request_protocol label spells it.
type Protocol string

// Protocols of a call edge.
const (
	ProtocolHTTP Protocol = "http"
	ProtocolGRPC Protocol = "grpc"
	ProtocolTCP  Protocol = "tcp"
)

// ExternalMode says whether a Service is inside the mesh and, if not, how the
// caller's sidecar routes to it.
type ExternalMode int

// External modes of a Service.
const (
	// InMesh is a Kubernetes service with sidecar-injected workloads: calls
	// produce a client entry and a server entry.
	InMesh ExternalMode = iota
	// ExternalPassthrough is a host unknown to the mesh reached through
	// outboundTrafficPolicy ALLOW_ANY: upstream_cluster PassthroughCluster and,
	// for HTTP, route_name allow_any. Client entry only.
	ExternalPassthrough
	// ExternalServiceEntry is a host declared by a ServiceEntry:
	// upstream_cluster outbound|<port>||<host>. Client entry only.
	ExternalServiceEntry
)

// TraceStyle says which trace-context headers a call edge carries (and so
// which ones the generated entries log in request_headers).
type TraceStyle int

// Trace styles.
const (
	TraceW3C      TraceStyle = iota // traceparent only (the zero value)
	TraceB3                         // x-b3-traceid/-spanid/-parentspanid/-sampled only
	TraceW3CAndB3                   // both header families, same ids
	TraceNone                       // no trace context at all
)

// Mesh describes a service mesh to simulate: its services, the workloads
// (with pods) that serve and call them, and the call edges between them.
// Workloads are referenced as "<namespace>/<name>"; services as
// "<namespace>/<name>" when in the mesh and by bare host name when external.
// The zero values of the mesh-wide fields take Istio's defaults.
type Mesh struct {
	// Domain is the cluster DNS domain (default "cluster.local").
	Domain string
	// TrustDomain is the SPIFFE trust domain (default "cluster.local").
	TrustDomain string
	// MeshID is node metadata MESH_ID (default "cluster.local").
	MeshID string
	// ClusterID is node metadata CLUSTER_ID (default "Kubernetes").
	ClusterID string
	// IstioVersion is node metadata ISTIO_VERSION (default "1.28.1").
	IstioVersion string

	Namespaces []string
	Services   []Service
	Workloads  []Workload
	Edges      []Edge
}

// Service is a Kubernetes service (or, when External is set, a host outside
// the mesh).
type Service struct {
	// Name is the short service name; for external services the host name
	// (e.g. "api.external.com").
	Name string
	// Namespace is empty for external services.
	Namespace string
	// Port is the service port callers use.
	Port uint32
	// TargetPort is the container port (0 = Port).
	TargetPort uint32
	// VIP is the ClusterIP; for external services the address the caller
	// connected to (what DNS returned).
	VIP      string
	External ExternalMode
}

// Workload is a set of pods with the same labels (one Deployment).
type Workload struct {
	// Name is the workload name (the Deployment), e.g. "reviews-v2".
	Name      string
	Namespace string
	App       string
	Version   string
	// ServiceAccount is the Kubernetes service account (SPIFFE identity).
	ServiceAccount string
	// CanonicalService defaults to App, CanonicalRevision to Version (or
	// "latest" when Version is empty).
	CanonicalService  string
	CanonicalRevision string
	// Service is the name of the Service (same namespace) whose endpoints are
	// this workload's pods; empty for pure clients (e.g. a gateway).
	Service string
	// Gateway marks an Istio gateway (node type "router"): it only reports
	// client-side entries.
	Gateway bool
	// Weight is this workload's share of its service's traffic (0 = 1).
	Weight float64
	// UserAgent is the User-Agent its application sends (default
	// "Go-http-client/1.1").
	UserAgent string
	Pods      []Pod
}

// Pod is one replica of a workload.
type Pod struct {
	Name string
	IP   string
}

// Latency is a log-normal distribution given by its median and 99th
// percentile. For HTTP and gRPC edges it is the client-side request duration;
// for TCP edges the connection lifetime.
type Latency struct {
	Median time.Duration
	P99    time.Duration
}

// ErrorMix gives the share (0..1) of requests on an edge that end in each
// kind of failure; the rest succeed. The shares must sum to at most 1.
type ErrorMix struct {
	// HTTP5xx: the server application answers 500 or 503.
	HTTP5xx float64
	// HTTP4xx: the server application answers 404, 400 or 429.
	HTTP4xx float64
	// GRPCError: gRPC only; HTTP 200 with a non-OK grpc-status trailer.
	GRPCError float64
	// ConnectionFailure: the client sidecar cannot connect (flags UF,URX);
	// there is no server entry.
	ConnectionFailure float64
}

// Edge is a call from a workload to a service.
type Edge struct {
	// From is the calling workload, "<namespace>/<name>".
	From string
	// To is the called service, "<namespace>/<name>" or an external host.
	To       string
	Protocol Protocol
	// Weight is the edge's share of all generated requests (relative to the
	// other edges' weights; 0 = 1).
	Weight  float64
	MTLS    bool
	Errors  ErrorMix
	Latency Latency
	Trace   TraceStyle
	// Method defaults to GET (POST for gRPC).
	Method string
	// Paths to pick from uniformly (default "/"; gRPC: "/<Service>/<Method>").
	Paths []string
	// Authority defaults to "<service>:<port>" ("<host>" for external).
	Authority string
	// RequestBytes and ResponseBytes are typical body sizes (per connection
	// for TCP); each request draws uniformly from 50%..150% of them.
	RequestBytes  int
	ResponseBytes int
	// Messages is the typical number of gRPC messages per direction for
	// streaming calls (0 or 1 = unary).
	Messages int
}

// WorkloadRef returns the reference string of a workload ("<ns>/<name>").
func WorkloadRef(namespace, name string) string { return namespace + "/" + name }

// ServiceRef returns the reference string of a service: "<ns>/<name>", or the
// bare name for external services (empty namespace).
func ServiceRef(namespace, name string) string {
	if namespace == "" {
		return name
	}
	return namespace + "/" + name
}

// Ref returns the reference string of the workload.
func (w Workload) Ref() string { return WorkloadRef(w.Namespace, w.Name) }

// Ref returns the reference string of the service.
func (s Service) Ref() string { return ServiceRef(s.Namespace, s.Name) }

// Host returns the host name of the service: its FQDN
// ("<name>.<ns>.svc.<domain>") in the mesh, Name for external services.
func (s Service) Host(domain string) string {
	if s.External != InMesh {
		return s.Name
	}
	if domain == "" {
		domain = defaultDomain
	}
	return s.Name + "." + s.Namespace + ".svc." + domain
}

const (
	defaultDomain       = "cluster.local"
	defaultClusterID    = "Kubernetes"
	defaultIstioVersion = "1.28.1"
)

func (m *Mesh) withDefaults() Mesh {
	c := *m
	if c.Domain == "" {
		c.Domain = defaultDomain
	}
	if c.TrustDomain == "" {
		c.TrustDomain = defaultDomain
	}
	if c.MeshID == "" {
		c.MeshID = defaultDomain
	}
	if c.ClusterID == "" {
		c.ClusterID = defaultClusterID
	}
	if c.IstioVersion == "" {
		c.IstioVersion = defaultIstioVersion
	}
	return c
}

// Validate reports every inconsistency in the mesh: unknown references,
// workloads without pods, error shares above 1, bad latencies.
func (m Mesh) Validate() error {
	var errs []error
	services := make(map[string]Service, len(m.Services))
	for i, s := range m.Services {
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("services[%d]: empty name", i))
		case s.External == InMesh && s.Namespace == "":
			errs = append(errs, fmt.Errorf("service %q: in-mesh service needs a namespace", s.Name))
		case s.External != InMesh && s.Namespace != "":
			errs = append(errs, fmt.Errorf("service %q: external service must have an empty namespace", s.Name))
		}
		if s.Port == 0 || s.Port > 65535 || s.TargetPort > 65535 {
			errs = append(errs, fmt.Errorf("service %q: bad port %d/%d", s.Ref(), s.Port, s.TargetPort))
		}
		if s.VIP == "" {
			errs = append(errs, fmt.Errorf("service %q: empty VIP", s.Ref()))
		}
		if _, dup := services[s.Ref()]; dup {
			errs = append(errs, fmt.Errorf("service %q: duplicate", s.Ref()))
		}
		services[s.Ref()] = s
	}
	workloads := make(map[string]bool, len(m.Workloads))
	names := make(map[string]bool, len(m.Workloads))
	served := make(map[string]int)
	for i, w := range m.Workloads {
		if w.Name == "" || w.Namespace == "" {
			errs = append(errs, fmt.Errorf("workloads[%d]: empty name or namespace", i))
		}
		if workloads[w.Ref()] {
			errs = append(errs, fmt.Errorf("workload %q: duplicate", w.Ref()))
		}
		if names[w.Name] {
			errs = append(errs, fmt.Errorf("workload %q: name not unique across namespaces (the ledger keys on names)", w.Ref()))
		}
		workloads[w.Ref()], names[w.Name] = true, true
		if len(w.Pods) == 0 {
			errs = append(errs, fmt.Errorf("workload %q: no pods", w.Ref()))
		}
		for _, p := range w.Pods {
			if p.Name == "" || p.IP == "" {
				errs = append(errs, fmt.Errorf("workload %q: pod with empty name or IP", w.Ref()))
			}
		}
		if w.Weight < 0 || math.IsNaN(w.Weight) {
			errs = append(errs, fmt.Errorf("workload %q: negative weight", w.Ref()))
		}
		if w.Service != "" {
			ref := ServiceRef(w.Namespace, w.Service)
			if s, ok := services[ref]; !ok || s.External != InMesh {
				errs = append(errs, fmt.Errorf("workload %q: unknown service %q", w.Ref(), ref))
			}
			if w.Gateway {
				errs = append(errs, fmt.Errorf("workload %q: a gateway cannot back a service in this model", w.Ref()))
			}
			served[ref]++
		}
	}
	if len(m.Edges) == 0 {
		errs = append(errs, errors.New("no edges"))
	}
	for i, e := range m.Edges {
		name := fmt.Sprintf("edges[%d] %s -> %s", i, e.From, e.To)
		if !workloads[e.From] {
			errs = append(errs, fmt.Errorf("%s: unknown workload %q", name, e.From))
		}
		s, ok := services[e.To]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: unknown service %q", name, e.To))
		case s.External == InMesh && served[e.To] == 0:
			errs = append(errs, fmt.Errorf("%s: service %q has no workloads", name, e.To))
		}
		switch e.Protocol {
		case ProtocolHTTP, ProtocolGRPC, ProtocolTCP:
		default:
			errs = append(errs, fmt.Errorf("%s: unknown protocol %q", name, e.Protocol))
		}
		x := e.Errors
		for _, v := range []float64{x.HTTP5xx, x.HTTP4xx, x.GRPCError, x.ConnectionFailure, e.Weight} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("%s: negative or non-finite share or weight", name))
				break
			}
		}
		if x.HTTP5xx+x.HTTP4xx+x.GRPCError+x.ConnectionFailure > 1 {
			errs = append(errs, fmt.Errorf("%s: error shares sum above 1", name))
		}
		if e.Protocol != ProtocolGRPC && x.GRPCError > 0 {
			errs = append(errs, fmt.Errorf("%s: GRPCError on a %s edge", name, e.Protocol))
		}
		if e.Protocol == ProtocolTCP && (x.HTTP5xx > 0 || x.HTTP4xx > 0) {
			errs = append(errs, fmt.Errorf("%s: HTTP errors on a tcp edge", name))
		}
		if e.Latency.Median <= 0 || e.Latency.P99 < e.Latency.Median {
			errs = append(errs, fmt.Errorf("%s: latency needs 0 < median <= p99", name))
		}
		if e.RequestBytes < 0 || e.ResponseBytes < 0 || e.Messages < 0 {
			errs = append(errs, fmt.Errorf("%s: negative sizes", name))
		}
	}
	return errors.Join(errs...)
}

// Bookinfo returns Istio's Bookinfo sample as a mesh: istio-ingressgateway →
// productpage-v1 → details-v1 and reviews-v1/v2/v3; reviews-v2/v3 → ratings-v1
// (HTTP, as in the real sample reviews-v1 does not call ratings); plus a gRPC
// service (productpage-v1 → recommendations-v1), a TCP service
// (ratings-v1 → mongodb-v1), a TLS ServiceEntry (details-v1 →
// www.googleapis.com:443, TCP) and a passthrough HTTP call to a host outside
// the mesh (productpage-v1 → api.external.com:80). Every value is fixed, so
// the result is the same on every call.
func Bookinfo() Mesh {
	const ns = "default"
	wl := func(app, version, sa, svc string, ip string, ua string) Workload {
		name := app + "-" + version
		return Workload{
			Name: name, Namespace: ns, App: app, Version: version,
			ServiceAccount: sa, Service: svc, UserAgent: ua,
			Pods: []Pod{{Name: podName(name, 0), IP: ip}},
		}
	}
	const (
		pyUA   = "python-requests/2.32.3"
		javaUA = "Apache-CXF/3.1.18"
	)
	m := Mesh{
		Namespaces: []string{"istio-system", ns},
		Services: []Service{
			{Name: "productpage", Namespace: ns, Port: 9080, VIP: "10.96.12.41"},
			{Name: "details", Namespace: ns, Port: 9080, VIP: "10.96.140.7"},
			{Name: "reviews", Namespace: ns, Port: 9080, VIP: "10.96.88.213"},
			{Name: "ratings", Namespace: ns, Port: 9080, VIP: "10.96.201.19"},
			{Name: "recommendations", Namespace: ns, Port: 8080, TargetPort: 50051, VIP: "10.96.77.150"},
			{Name: "mongodb", Namespace: ns, Port: 27017, VIP: "10.96.33.90"},
			{Name: "www.googleapis.com", Port: 443, VIP: "142.250.74.74", External: ExternalServiceEntry},
			{Name: "api.external.com", Port: 80, VIP: "203.0.113.10", External: ExternalPassthrough},
		},
		Workloads: []Workload{
			{
				Name: "istio-ingressgateway", Namespace: "istio-system", App: "istio-ingressgateway",
				ServiceAccount: "istio-ingressgateway-service-account", Gateway: true,
				Pods: []Pod{{Name: podName("istio-ingressgateway", 0), IP: "10.244.0.12"}},
			},
			wl("productpage", "v1", "bookinfo-productpage", "productpage", "10.244.1.17", pyUA),
			wl("details", "v1", "bookinfo-details", "details", "10.244.2.9", "Ruby"),
			wl("reviews", "v1", "bookinfo-reviews", "reviews", "10.244.1.21", javaUA),
			wl("reviews", "v2", "bookinfo-reviews", "reviews", "10.244.2.14", javaUA),
			wl("reviews", "v3", "bookinfo-reviews", "reviews", "10.244.3.8", javaUA),
			wl("ratings", "v1", "bookinfo-ratings", "ratings", "10.244.3.11", "node-fetch/1.0"),
			wl("recommendations", "v1", "bookinfo-recommendations", "recommendations", "10.244.2.30", "grpc-go/1.75.0"),
			wl("mongodb", "v1", "default", "mongodb", "10.244.1.40", ""),
		},
	}
	// productpage runs two replicas.
	m.Workloads[1].Pods = append(m.Workloads[1].Pods, Pod{Name: podName("productpage-v1", 1), IP: "10.244.3.22"})

	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	m.Edges = []Edge{
		{
			From: "istio-system/istio-ingressgateway", To: "default/productpage", Protocol: ProtocolHTTP,
			Weight: 10, MTLS: true, Trace: TraceW3CAndB3, Authority: "bookinfo.example.com",
			Paths:  []string{"/productpage", "/productpage", "/productpage", "/static/tailwind/tailwind.css", "/login", "/api/v1/products"},
			Errors: ErrorMix{HTTP4xx: 0.02, HTTP5xx: 0.005}, Latency: Latency{Median: ms(28), P99: ms(180)},
			RequestBytes: 0, ResponseBytes: 5200,
		},
		{
			From: "default/productpage-v1", To: "default/details", Protocol: ProtocolHTTP,
			Weight: 10, MTLS: false, Paths: []string{"/details/0", "/details/1"},
			Errors: ErrorMix{HTTP5xx: 0.01}, Latency: Latency{Median: ms(2.1), P99: ms(14)},
			ResponseBytes: 178,
		},
		{
			From: "default/productpage-v1", To: "default/reviews", Protocol: ProtocolHTTP,
			Weight: 10, MTLS: true, Paths: []string{"/reviews/0", "/reviews/1"},
			Errors: ErrorMix{HTTP5xx: 0.01, ConnectionFailure: 0.005}, Latency: Latency{Median: ms(11), P99: ms(85)},
			ResponseBytes: 358,
		},
		{
			From: "default/reviews-v2", To: "default/ratings", Protocol: ProtocolHTTP,
			Weight: 3.3, MTLS: true, Trace: TraceB3, Paths: []string{"/ratings/0"},
			Errors: ErrorMix{HTTP5xx: 0.005}, Latency: Latency{Median: ms(1.6), P99: ms(9)},
			ResponseBytes: 48,
		},
		{
			From: "default/reviews-v3", To: "default/ratings", Protocol: ProtocolHTTP,
			Weight: 3.3, MTLS: true, Trace: TraceB3, Paths: []string{"/ratings/0"},
			Errors: ErrorMix{HTTP5xx: 0.03, HTTP4xx: 0.01}, Latency: Latency{Median: ms(1.8), P99: ms(25)},
			ResponseBytes: 48,
		},
		{
			From: "default/productpage-v1", To: "default/recommendations", Protocol: ProtocolGRPC,
			Weight: 5, MTLS: true, Paths: []string{"/bookinfo.Recommendations/ListRecommendations", "/bookinfo.Recommendations/WatchRecommendations"},
			Errors: ErrorMix{GRPCError: 0.03, ConnectionFailure: 0.002}, Latency: Latency{Median: ms(3.5), P99: ms(30)},
			RequestBytes: 64, ResponseBytes: 420, Messages: 3,
		},
		{
			From: "default/ratings-v1", To: "default/mongodb", Protocol: ProtocolTCP,
			Weight: 0.5, MTLS: true, Latency: Latency{Median: ms(700), P99: ms(9000)},
			RequestBytes: 2400, ResponseBytes: 18000,
		},
		{
			From: "default/details-v1", To: "www.googleapis.com", Protocol: ProtocolTCP,
			Weight: 0.5, Latency: Latency{Median: ms(180), P99: ms(1500)},
			RequestBytes: 1100, ResponseBytes: 6800,
		},
		{
			From: "default/productpage-v1", To: "api.external.com", Protocol: ProtocolHTTP,
			Weight: 1, Paths: []string{"/v2/quotes", "/v2/health"},
			Errors: ErrorMix{HTTP5xx: 0.01}, Latency: Latency{Median: ms(85), P99: ms(420)},
			ResponseBytes: 950,
		},
	}
	return m
}

// podName returns a deterministic, realistic pod name for replica i of a
// Deployment: "<workload>-<10-char replicaset hash>-<5-char suffix>".
func podName(workload string, i int) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	h := fnv64(workload)
	var b strings.Builder
	b.Grow(len(workload) + 17)
	b.WriteString(workload)
	b.WriteByte('-')
	for range 10 {
		b.WriteByte(alphabet[h%uint64(len(alphabet))])
		h /= uint64(len(alphabet))
		if h == 0 {
			h = fnv64(workload + "#")
		}
	}
	b.WriteByte('-')
	s := fnv64(fmt.Sprintf("%s/%d", workload, i))
	for range 5 {
		b.WriteByte(alphabet[s%uint64(len(alphabet))])
		s /= uint64(len(alphabet))
	}
	return b.String()
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
