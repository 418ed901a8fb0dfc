package loadgen

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Log names Istio's default ALS providers use.
const (
	HTTPLogName = "http_envoy_accesslog"
	TCPLogName  = "tcp_envoy_accesslog"
)

// Well-known upstream cluster and route names (envoy-als.md §6).
const (
	passthroughCluster = "PassthroughCluster"
	routeAllowAny      = "allow_any"
	routeDefault       = "default"
	structTypeURL      = "type.googleapis.com/google.protobuf.Struct"
	grpcStatsKey       = "envoy.filters.http.grpc_stats"
	upstreamPeerKey    = "upstream_peer"
	downstreamPeerKey  = "downstream_peer"
	envoyMajor         = 1
	envoyMinor         = 36
	envoyPatch         = 2
)

var deterministic = proto.MarshalOptions{Deterministic: true}

// proxy is one Envoy: a pod's sidecar or a gateway pod.
type proxy struct {
	idx    int
	wl     *cworkload
	pod    Pod
	nodeID string
	node   *corev3.Node
	// identHTTP/identTCP are the encoded StreamAccessLogsMessage.Identifier
	// for each logger; identMetrics the StreamMetricsMessage.Identifier.
	identHTTP, identTCP, identMetrics []byte
	// peer is the Istio peer object (upstream_peer on the caller's entries,
	// downstream_peer on the callee's entries) describing this pod.
	peer *anypb.Any
	// addrs holds the pod's addresses on the ports it serves (filled by
	// compile, read-only afterwards so generators can share it).
	addrs map[uint32]*corev3.Address
}

type cworkload struct {
	Workload
	ref      string
	canonSvc string
	canonRev string
	spiffe   string
	proxies  []*proxy
}

type cservice struct {
	Service
	ref        string
	host       string
	targetPort uint32
	// cluster is the client-side upstream_cluster.
	cluster string
	// inboundCluster is the server-side upstream_cluster.
	inboundCluster string
	sni            string
	workloads      []*cworkload
	cumWeights     []float64
	vipAddr        *corev3.Address
	proto          Protocol // of the first edge calling it
}

type cedge struct {
	Edge
	idx       int
	from      *cworkload
	to        *cservice
	mu, sigma float64
	method    corev3.RequestMethod
	methodStr string
	authority string
	paths     []string
	userAgent string
	route     string
}

type compiled struct {
	mesh      Mesh
	proxies   []*proxy
	workloads []*cworkload
	services  []*cservice
	edges     []*cedge
	cum       []float64
}

func compile(m Mesh) (*compiled, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("invalid mesh: %w", err)
	}
	m = m.withDefaults()
	c := &compiled{mesh: m}
	svcByRef := make(map[string]*cservice, len(m.Services))
	for _, s := range m.Services {
		cs := &cservice{Service: s, ref: s.Ref(), host: s.Host(m.Domain), targetPort: s.TargetPort}
		if cs.targetPort == 0 {
			cs.targetPort = s.Port
		}
		switch s.External {
		case ExternalPassthrough:
			cs.cluster = passthroughCluster
		default:
			cs.cluster = fmt.Sprintf("outbound|%d||%s", s.Port, cs.host)
		}
		cs.inboundCluster = fmt.Sprintf("inbound|%d||", cs.targetPort)
		cs.sni = fmt.Sprintf("outbound_.%d_._.%s", s.Port, cs.host)
		cs.vipAddr = sockAddr(s.VIP, s.Port)
		c.services = append(c.services, cs)
		svcByRef[cs.ref] = cs
	}
	for _, e := range m.Edges {
		if cs := svcByRef[e.To]; cs.proto == "" {
			cs.proto = e.Protocol
		}
	}
	wlByRef := make(map[string]*cworkload, len(m.Workloads))
	for _, w := range m.Workloads {
		cw := &cworkload{Workload: w, ref: w.Ref(), canonSvc: w.CanonicalService, canonRev: w.CanonicalRevision}
		if cw.canonSvc == "" {
			cw.canonSvc = w.App
			if cw.canonSvc == "" {
				cw.canonSvc = w.Name
			}
		}
		if cw.canonRev == "" {
			cw.canonRev = w.Version
			if cw.canonRev == "" {
				cw.canonRev = "latest"
			}
		}
		if cw.UserAgent == "" {
			cw.UserAgent = "Go-http-client/1.1"
		}
		sa := w.ServiceAccount
		if sa == "" {
			sa = "default"
		}
		cw.spiffe = "spiffe://" + m.TrustDomain + "/ns/" + w.Namespace + "/sa/" + sa
		c.workloads = append(c.workloads, cw)
		wlByRef[cw.ref] = cw
		if w.Service != "" {
			cs := svcByRef[ServiceRef(w.Namespace, w.Service)]
			cs.workloads = append(cs.workloads, cw)
			wt := w.Weight
			if wt == 0 {
				wt = 1
			}
			prev := 0.0
			if n := len(cs.cumWeights); n > 0 {
				prev = cs.cumWeights[n-1]
			}
			cs.cumWeights = append(cs.cumWeights, prev+wt)
		}
	}
	for _, cw := range c.workloads {
		for _, pod := range cw.Pods {
			p, err := newProxy(&c.mesh, cw, pod, svcByRef)
			if err != nil {
				return nil, err
			}
			p.idx = len(c.proxies)
			if cw.Gateway {
				p.addrs[gatewayListenPort] = sockAddr(pod.IP, gatewayListenPort)
			}
			if cw.Service != "" {
				port := svcByRef[ServiceRef(cw.Namespace, cw.Service)].targetPort
				p.addrs[port] = sockAddr(pod.IP, port)
			}
			cw.proxies = append(cw.proxies, p)
			c.proxies = append(c.proxies, p)
		}
	}
	total := 0.0
	for i, e := range m.Edges {
		ce := &cedge{Edge: e, idx: i, from: wlByRef[e.From], to: svcByRef[e.To]}
		ce.mu = math.Log(float64(e.Latency.Median))
		ce.sigma = (math.Log(float64(e.Latency.P99)) - ce.mu) / 2.326347874
		ce.methodStr = e.Method
		if ce.methodStr == "" {
			ce.methodStr = "GET"
			if e.Protocol == ProtocolGRPC {
				ce.methodStr = "POST"
			}
		}
		v, ok := corev3.RequestMethod_value[strings.ToUpper(ce.methodStr)]
		if !ok {
			v = int32(corev3.RequestMethod_METHOD_UNSPECIFIED)
		}
		ce.method = corev3.RequestMethod(v)
		ce.authority = e.Authority
		if ce.authority == "" {
			if ce.to.External != InMesh {
				ce.authority = ce.to.Name
			} else {
				ce.authority = ce.to.Name + ":" + strconv.FormatUint(uint64(ce.to.Port), 10)
			}
		}
		ce.paths = e.Paths
		if len(ce.paths) == 0 {
			ce.paths = []string{"/"}
		}
		ce.userAgent = ce.from.UserAgent
		switch {
		case ce.to.External == ExternalPassthrough:
			ce.route = routeAllowAny
		case ce.from.Gateway:
			ce.route = "" // VirtualService routes without a name
		default:
			ce.route = routeDefault
		}
		w := e.Weight
		if w == 0 {
			w = 1
		}
		total += w
		c.edges = append(c.edges, ce)
		c.cum = append(c.cum, total)
	}
	return c, nil
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func newProxy(m *Mesh, cw *cworkload, pod Pod, services map[string]*cservice) (*proxy, error) {
	p := &proxy{wl: cw, pod: pod, addrs: map[uint32]*corev3.Address{}}
	typ := "sidecar"
	if cw.Gateway {
		typ = "router"
	}
	p.nodeID = typ + "~" + pod.IP + "~" + pod.Name + "." + cw.Namespace + "~" + cw.Namespace + ".svc." + m.Domain
	clusterName := cw.App
	if clusterName == "" {
		clusterName = cw.Name
	}

	labels := map[string]*structpb.Value{
		"service.istio.io/canonical-name":     structpb.NewStringValue(cw.canonSvc),
		"service.istio.io/canonical-revision": structpb.NewStringValue(cw.canonRev),
		"pod-template-hash":                   structpb.NewStringValue(replicaSetHash(pod.Name, cw.Name)),
	}
	if cw.App != "" {
		labels["app"] = structpb.NewStringValue(cw.App)
	}
	if cw.Version != "" {
		labels["version"] = structpb.NewStringValue(cw.Version)
	}
	if cw.Gateway {
		labels["istio"] = structpb.NewStringValue("ingressgateway")
	} else {
		labels["security.istio.io/tlsMode"] = structpb.NewStringValue("istio")
	}
	sa := cw.ServiceAccount
	if sa == "" {
		sa = "default"
	}
	md := map[string]*structpb.Value{
		"NAME":            structpb.NewStringValue(pod.Name),
		"NAMESPACE":       structpb.NewStringValue(cw.Namespace),
		"WORKLOAD_NAME":   structpb.NewStringValue(cw.Name),
		"LABELS":          structpb.NewStructValue(&structpb.Struct{Fields: labels}),
		"SERVICE_ACCOUNT": structpb.NewStringValue(sa),
		"CLUSTER_ID":      structpb.NewStringValue(m.ClusterID),
		"MESH_ID":         structpb.NewStringValue(m.MeshID),
		"INSTANCE_IPS":    structpb.NewStringValue(pod.IP),
		"ISTIO_VERSION":   structpb.NewStringValue(m.IstioVersion),
		"OWNER":           structpb.NewStringValue("kubernetes://apis/apps/v1/namespaces/" + cw.Namespace + "/deployments/" + cw.Name),
		"NODE_NAME":       structpb.NewStringValue("worker-" + nodeSuffix(pod.IP)),
		"PROXY_CONFIG": structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			"discoveryAddress":         structpb.NewStringValue("istiod.istio-system.svc:15012"),
			"statNameLength":           structpb.NewNumberValue(189),
			"serviceCluster":           structpb.NewStringValue("istio-proxy"),
			"concurrency":              structpb.NewNumberValue(2),
			"terminationDrainDuration": structpb.NewStringValue("5s"),
		}}),
	}
	if cw.Gateway {
		md["ROUTER_MODE"] = structpb.NewStringValue("sni-dnat")
	} else {
		md["INTERCEPTION_MODE"] = structpb.NewStringValue("REDIRECT")
		md["APP_CONTAINERS"] = structpb.NewStringValue(cw.canonSvc)
		if cw.Service != "" {
			cs := services[ServiceRef(cw.Namespace, cw.Service)]
			md["POD_PORTS"] = structpb.NewStringValue(fmt.Sprintf(`[{"name":%q,"containerPort":%d,"protocol":"TCP"}]`, portName(cs), cs.targetPort))
		}
	}
	p.node = &corev3.Node{
		Id:            p.nodeID,
		Cluster:       clusterName + "." + cw.Namespace,
		Metadata:      &structpb.Struct{Fields: md},
		Locality:      &corev3.Locality{Region: "us-east1", Zone: "us-east1-" + string(rune('b'+nodeSuffixNum(pod.IP)%3))},
		UserAgentName: "envoy",
		UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: &corev3.BuildVersion{
			Version: &typev3.SemanticVersion{MajorNumber: envoyMajor, MinorNumber: envoyMinor, Patch: envoyPatch},
			Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
				"revision.sha":    structpb.NewStringValue("4f2a6c3e1d8b9a0f7e6d5c4b3a2918f7e6d5c4b3"),
				"revision.status": structpb.NewStringValue("Clean"),
				"build.type":      structpb.NewStringValue("RELEASE"),
				"ssl.version":     structpb.NewStringValue("BoringSSL"),
			}},
		}},
	}
	var err error
	p.identHTTP, err = deterministic.Marshal(&alsv3.StreamAccessLogsMessage_Identifier{Node: p.node, LogName: HTTPLogName})
	if err != nil {
		return nil, fmt.Errorf("encode identifier: %w", err)
	}
	p.identTCP, err = deterministic.Marshal(&alsv3.StreamAccessLogsMessage_Identifier{Node: p.node, LogName: TCPLogName})
	if err != nil {
		return nil, fmt.Errorf("encode identifier: %w", err)
	}
	p.identMetrics, err = deterministic.Marshal(&metricsv3.StreamMetricsMessage_Identifier{Node: p.node})
	if err != nil {
		return nil, fmt.Errorf("encode identifier: %w", err)
	}

	peer := map[string]*structpb.Value{
		"type":      structpb.NewStringValue("deployment"),
		"workload":  structpb.NewStringValue(cw.Name),
		"name":      structpb.NewStringValue(pod.Name),
		"namespace": structpb.NewStringValue(cw.Namespace),
		"cluster":   structpb.NewStringValue(m.ClusterID),
		"service":   structpb.NewStringValue(cw.canonSvc),
		"revision":  structpb.NewStringValue(cw.canonRev),
		"identity":  structpb.NewStringValue(cw.spiffe),
	}
	if cw.App != "" {
		peer["app"] = structpb.NewStringValue(cw.App)
	}
	if cw.Version != "" {
		peer["version"] = structpb.NewStringValue(cw.Version)
	}
	b, err := deterministic.Marshal(&structpb.Struct{Fields: peer})
	if err != nil {
		return nil, fmt.Errorf("encode peer: %w", err)
	}
	p.peer = &anypb.Any{TypeUrl: structTypeURL, Value: b}
	return p, nil
}

// podAddr returns the pod's address on the given port.
func (p *proxy) podAddr(port uint32) *corev3.Address {
	if a, ok := p.addrs[port]; ok {
		return a
	}
	return sockAddr(p.pod.IP, port)
}

// portName names a container port after the protocol callers use on it, as
// Istio's port naming convention does ("http", "grpc", "tcp").
func portName(s *cservice) string {
	if s.proto == "" {
		return string(ProtocolHTTP)
	}
	return string(s.proto)
}

// replicaSetHash extracts the ReplicaSet hash from a pod name
// "<workload>-<hash>-<suffix>", or hashes the pod name if it has no such form.
func replicaSetHash(pod, workload string) string {
	rest, ok := strings.CutPrefix(pod, workload+"-")
	if ok {
		if i := strings.IndexByte(rest, '-'); i > 0 {
			return rest[:i]
		}
	}
	return strconv.FormatUint(fnv64(pod)%1e10, 10)
}

func nodeSuffixNum(ip string) int {
	parts := strings.Split(ip, ".")
	if len(parts) != 4 {
		return 0
	}
	n, _ := strconv.Atoi(parts[2])
	return n
}

func nodeSuffix(ip string) string { return strconv.Itoa(nodeSuffixNum(ip)) }
