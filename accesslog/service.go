package accesslog

import (
	"bytes"
	"strings"
	"time"

	"github.com/meshlens/meshlens/accesslog/entry"
)

func unixTime(n int64) time.Time { return time.Unix(0, n) }

var specialClusters = [...]string{
	"PassthroughCluster", "BlackHoleCluster", "InboundPassthroughCluster",
	"InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6",
}

// peerLevel says what a cluster name tells of the callee beyond its
// service: nothing, its namespace and canonical service (a Kubernetes
// service), or its workload too (meshes whose identity is the service).
type peerLevel uint8

const (
	peerNone peerLevel = iota
	peerService
	peerWorkload
)

// service fills r.Service, first that knows (docs/adr/0003, Istio's
// istio_stats): the route names of Istio's catch-all routes, the upstream
// cluster name (Istio's clusters name the service, other flavours' clusters
// are parsed, a plain Envoy cluster is the best name its upstream has),
// the Host header where Istio's host-header fallback is on for the
// reporting side, then the local service on the server side, else unknown.
// It returns what the cluster name told of the callee.
func (s *Stream) service(e *entry.Entry, r *Record) peerLevel {
	switch {
	case bytes.Equal(e.RouteName, []byte("block_all")):
		s.specialService(e, r, "BlackHoleCluster")
		return peerNone
	case bytes.Equal(e.RouteName, []byte("allow_any")):
		s.specialService(e, r, "PassthroughCluster")
		return peerNone
	}
	if len(e.UpstreamCluster) > 0 {
		if peer, ok := s.clusterService(e, r); ok {
			return peer
		}
	}
	if s.hostFallback[r.Reporter] {
		if host := hostHeader(e.Authority); len(host) > 0 {
			r.Service, r.ServiceFrom = s.serviceFromAuthority(host), FromAuthority
			return peerNone
		}
	}
	if r.Reporter == ReporterDestination {
		r.Service, r.ServiceFrom = s.localSvc, FromNodeMetadata
		return peerNone
	}
	r.Service = Service{Host: unknown, Name: unknown, Namespace: unknown}
	r.ServiceFrom = FromNone
	return peerNone
}

// clusterService fills r.Service from the upstream cluster's name and
// reports whether the name named a service.
func (s *Stream) clusterService(e *entry.Entry, r *Record) (peerLevel, bool) {
	for _, sc := range specialClusters {
		if string(e.UpstreamCluster) == sc {
			s.specialService(e, r, sc)
			return peerNone, true
		}
	}
	// A proxy's entries repeat a few clusters: try the recent ones before
	// the map.
	for i := range s.clusterMemo {
		if m := &s.clusterMemo[i]; m.host == string(e.UpstreamCluster) && m.svc.Host != "" {
			r.Service, r.ServiceFrom = m.svc, FromClusterName
			return m.peer, true
		}
	}
	c, ok := s.svcs[string(e.UpstreamCluster)]
	if !ok {
		c = s.parseCluster(e.UpstreamCluster)
		s.svcs[c.cluster] = c
	}
	if c.svc.Host == "" {
		return peerNone, false // a cluster that names no service (inbound|9080||, local_app)
	}
	s.rememberCluster(c)
	r.Service, r.ServiceFrom = c.svc, FromClusterName
	return c.peer, true
}

// parseCluster parses an upstream cluster name the stream has not seen.
func (s *Stream) parseCluster(name []byte) clusterService {
	const f = FieldUpstreamCluster
	cluster := s.intern(name, f)
	if fqdn := clusterFQDN(name); len(fqdn) > 0 {
		return clusterService{cluster, s.serviceFromHost(fqdn, f), peerService}
	}
	if isIstioCluster(name) {
		return clusterService{cluster: cluster}
	}
	switch s.proxy.Kind {
	case ProxySidecar, ProxyRouter, ProxyWaypoint:
		// Istio names the service from the cluster's metadata, never from
		// its name: a cluster Istio did not name (an EnvoyFilter's) names
		// no service.
		return clusterService{cluster: cluster}
	case ProxyConsul:
		if cluster == "local_app" || strings.HasPrefix(cluster, "exposed_cluster_") {
			return clusterService{cluster: cluster}
		}
		if svc, ns, ok := consulClusterService(cluster); ok {
			return clusterService{cluster, Service{Host: s.consulHost(svc, ns, f), Name: s.intern([]byte(svc), f), Namespace: s.intern([]byte(ns), f)}, peerWorkload}
		}
	case ProxyAppMesh, ProxyAppMeshGateway:
		if strings.HasPrefix(cluster, "cds_ingress_") {
			return clusterService{cluster: cluster}
		}
		if vn, ok := appMeshEgress(cluster, s.appMeshMesh()); ok {
			name, ns := splitVirtualNode(vn)
			if ns == "" {
				ns = unknown
			}
			return clusterService{cluster, Service{Host: s.intern([]byte(vn), f), Name: s.intern([]byte(name), f), Namespace: s.intern([]byte(ns), f)}, peerWorkload}
		}
	}
	if kind, ns, n, ok := gatewayAPICluster(cluster); ok {
		// Envoy Gateway: <route kind>/<namespace>/<name>/rule/<n> names
		// the route (its backends are not in the name);
		// service/<namespace>/<name>/<port> (merged backends) the Service.
		if kind == "service" {
			return clusterService{cluster, s.serviceFromHost(s.k8sHost(n, ns), f), peerService}
		}
		host := s.intern([]byte(kind+"/"+ns+"/"+n), f)
		return clusterService{cluster, Service{Host: host, Name: s.intern([]byte(n), f), Namespace: s.intern([]byte(ns), f)}, peerNone}
	}
	// A plain Envoy cluster: its name is the best name the upstream has.
	return clusterService{cluster, Service{Host: cluster, Name: cluster, Namespace: unknown}, peerNone}
}

// localService is the service a server-side entry names when neither its
// cluster nor (fallback off) its Host header does. Istio names the inbound
// cluster's service (cluster metadata, which the access log does not
// carry), else the local canonical service; meshlens names the Service
// Istio's cluster metadata would in every mesh that follows Istio's naming
// (Service name = canonical service): <canonical>.<namespace>.svc.<domain>
// for an Istio sidecar (docs/metrics.md lists the difference), the service
// as the other flavours' clients name it.
func (s *Stream) localService() Service {
	local := &s.proxy.Workload
	name, ns := orUnknown(local.CanonicalService), orUnknown(local.Namespace)
	if name == unknown || ns == unknown {
		return Service{Host: name, Name: name, Namespace: ns}
	}
	switch s.proxy.Kind {
	case ProxySidecar:
		return s.serviceFromHost(s.k8sHost(name, ns), FieldNodeMetadata)
	case ProxyConsul:
		return Service{Host: s.consulHost(name, ns, FieldNodeMetadata), Name: name, Namespace: ns}
	case ProxyAppMesh:
		return Service{Host: s.intern([]byte(name+"_"+ns), FieldNodeMetadata), Name: name, Namespace: ns}
	}
	return Service{Host: name, Name: name, Namespace: ns}
}

// k8sHost returns <name>.<namespace>.svc.<cluster domain>.
func (s *Stream) k8sHost(name, ns string) []byte {
	b := s.scratch[:0]
	b = append(append(append(append(append(b, name...), '.'), ns...), ".svc."...), s.cfg.ClusterDomain...)
	s.scratch = b
	return b
}

// consulHost is a Consul service's DNS name, <svc>.service.consul, with
// .<ns>.ns when its namespace is not "default"; both sides of a hop can
// name it (the client from the cluster, the server from its node).
func (s *Stream) consulHost(svc, ns string, f LabelField) string {
	b := s.scratch[:0]
	b = append(append(b, svc...), ".service."...)
	if ns != "default" && ns != "" {
		b = append(append(b, ns...), ".ns."...)
	}
	b = append(b, "consul"...)
	s.scratch = b
	return s.intern(b, f)
}

// consulClusterService parses Consul's upstream cluster names:
// [<hash>~|passthrough~][<subset>.]<svc>.<ns>.[<partition>.]<dc>.internal[-v1].<trust domain>,
// <svc>.<ns>.<peer>.external.<trust domain> and <svc>.default.<dc>.query.<trust domain>.
func consulClusterService(c string) (svc, ns string, ok bool) {
	if i := strings.LastIndexByte(c, '~'); i >= 0 {
		c = c[i+1:]
	}
	if !strings.HasSuffix(c, ".consul") {
		return "", "", false
	}
	parts := strings.Split(c, ".")
	for i, p := range parts {
		switch p {
		case "internal", "external", "query":
			// <svc>.<ns>.<dc> before internal/external/query.
			if i >= 3 {
				return parts[i-3], parts[i-2], true
			}
			return "", "", false
		case "internal-v1":
			// <svc>.<ns>.<partition>.<dc> before internal-v1.
			if i >= 4 {
				return parts[i-4], parts[i-3], true
			}
			return "", "", false
		}
	}
	return "", "", false
}

// appMeshMesh is the mesh name of an App Mesh proxy's node id.
func (s *Stream) appMeshMesh() string {
	parts := strings.Split(appMeshNode(s.proxy.NodeID), "/")
	if len(parts) != 4 {
		return ""
	}
	return parts[1]
}

// appMeshEgress returns the virtual node of cds_egress_<mesh>_<vn>_<protocol>_<port>.
func appMeshEgress(c, mesh string) (string, bool) {
	prefix := "cds_egress_" + mesh + "_"
	if mesh == "" || !strings.HasPrefix(c, prefix) {
		return "", false
	}
	rest := c[len(prefix):]
	i := strings.LastIndexByte(rest, '_') // _<port>
	if i <= 0 {
		return "", false
	}
	j := strings.LastIndexByte(rest[:i], '_') // _<protocol>
	if j <= 0 {
		return "", false
	}
	switch rest[j+1 : i] {
	case "http", "http2", "grpc", "tcp":
		return rest[:j], true
	}
	return "", false
}

// splitVirtualNode splits an App Mesh controller's <name>_<namespace>.
func splitVirtualNode(vn string) (name, ns string) {
	if i := strings.LastIndexByte(vn, '_'); i > 0 && i < len(vn)-1 {
		return vn[:i], vn[i+1:]
	}
	return vn, ""
}

// gatewayAPICluster parses Envoy Gateway's cluster names:
// <httproute|grpcroute|tcproute|tlsroute|udproute>/<ns>/<name>/rule/<n>
// and service/<ns>/<name>/<port>.
func gatewayAPICluster(c string) (kind, ns, name string, ok bool) {
	parts := strings.Split(c, "/")
	if len(parts) < 4 || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	switch parts[0] {
	case "httproute", "grpcroute", "tcproute", "tlsroute", "udproute":
		if len(parts) == 5 && parts[3] == "rule" {
			return parts[0], parts[1], parts[2], true
		}
	case "service":
		if len(parts) == 4 || len(parts) == 5 {
			return parts[0], parts[1], parts[2], true
		}
	}
	return "", "", "", false
}

// clusterService is a parsed upstream cluster: its interned name (the map
// key, kept so that the recent clusters can hold it without interning it
// again), its service and what it tells of the callee.
type clusterService struct {
	cluster string
	svc     Service
	peer    peerLevel
}

// rememberCluster puts a parsed cluster in the recent clusters.
func (s *Stream) rememberCluster(c clusterService) {
	m := &s.clusterMemo[s.clusterNext%len(s.clusterMemo)]
	s.clusterNext++
	m.host, m.svc, m.peer = c.cluster, c.svc, c.peer
}

func (s *Stream) specialService(e *entry.Entry, r *Record, name string) {
	host := unknown
	if r.Reporter == ReporterDestination {
		host = s.localSvc.Host
	}
	if h := hostHeader(e.Authority); len(h) > 0 && s.hostFallback[r.Reporter] {
		host = s.intern(h, FieldAuthority)
	}
	r.Service = Service{Host: host, Name: name, Namespace: unknown}
	if r.Reporter == ReporterDestination {
		r.Service.Namespace = orUnknown(s.proxy.Workload.Namespace)
	}
	r.ServiceFrom = FromClusterName
}

// clusterFQDN returns the host of an Istio cluster name:
// outbound|<port>|<subset>|<fqdn>, inbound|<port>|<name>|<fqdn> (old
// releases), inbound-vip|<port>|<x>|<fqdn>, outbound_.<port>_.<subset>_.<fqdn>.
func clusterFQDN(c []byte) []byte {
	if bytes.HasPrefix(c, []byte("outbound|")) || bytes.HasPrefix(c, []byte("inbound|")) || bytes.HasPrefix(c, []byte("inbound-vip|")) {
		i := bytes.LastIndexByte(c, '|')
		if bytes.Count(c, []byte("|")) != 3 {
			return nil
		}
		return c[i+1:]
	}
	if bytes.HasPrefix(c, []byte("outbound_.")) {
		parts := bytes.SplitN(c, []byte("_."), 3)
		if len(parts) == 3 {
			return parts[2]
		}
	}
	return nil
}

func isIstioCluster(c []byte) bool {
	return bytes.HasPrefix(c, []byte("outbound")) || bytes.HasPrefix(c, []byte("inbound"))
}

// serviceFromHost splits <name>.<namespace>.svc.<domain> hosts; other hosts
// (ServiceEntries) keep the host as their name.
func (s *Stream) serviceFromHost(host []byte, f LabelField) Service {
	h := s.intern(host, f)
	if i := strings.Index(h, ".svc."); i > 0 {
		if j := strings.IndexByte(h[:i], '.'); j > 0 {
			return Service{Host: h, Name: h[:j], Namespace: h[j+1 : i]}
		}
	}
	return Service{Host: h, Name: h, Namespace: unknown}
}

// serviceFromAuthority is the service a Host header names, as Istio's
// stats filter takes it when no cluster metadata names one: the header as
// it is (hostHeader), service name and host alike, namespace unknown.
// Short names are not qualified: Istio does not guess a namespace.
func (s *Stream) serviceFromAuthority(host []byte) Service {
	// A proxy's entries repeat a few authorities: remember the last ones
	// rather than hash them again.
	for i := range s.authMemo {
		if m := &s.authMemo[i]; m.host == string(host) && m.svc.Host != "" {
			return m.svc
		}
	}
	h := s.intern(host, FieldAuthority)
	svc := Service{Host: h, Name: h, Namespace: unknown}
	m := &s.authMemo[s.authNext%len(s.authMemo)]
	s.authNext++
	m.host, m.svc = h, svc
	return svc
}

// hostHeader is the Host header value Istio's host-header fallback takes:
// the :authority as the request carried it.
func hostHeader(a []byte) []byte { return a }
