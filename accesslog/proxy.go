package accesslog

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog/internal/wire"
)

// ProxyKind is the kind of the reporting Envoy, from the Istio node id prefix.
type ProxyKind uint8

// Proxy kinds: the Envoy flavours meshlens knows (docs/getting-started-envoy.md
// says how each is recognised, and how its entries are read).
const (
	ProxyOther          ProxyKind = iota // plain Envoy: a client of its upstreams
	ProxySidecar                         // Istio sidecar~
	ProxyRouter                          // Istio router~ (any Istio gateway)
	ProxyWaypoint                        // Istio waypoint~
	ProxyEnvoyGateway                    // Envoy Gateway: node cluster <namespace>/<gateway>
	ProxyConsul                          // Consul service mesh sidecar
	ProxyAppMesh                         // AWS App Mesh virtual node
	ProxyAppMeshGateway                  // AWS App Mesh virtual gateway
)

var proxyKindNames = [...]string{"other", "sidecar", "router", "waypoint", "envoy_gateway", "consul", "appmesh", "appmesh_gateway"}

// sidecar reports whether proxies of the kind sit beside one workload and
// report both its inbound and its outbound calls.
func (k ProxyKind) sidecar() bool {
	return k == ProxySidecar || k == ProxyConsul || k == ProxyAppMesh
}

// String returns the kind's name.
func (k ProxyKind) String() string {
	if int(k) < len(proxyKindNames) {
		return proxyKindNames[k]
	}
	return "invalid"
}

// Proxy is the identity of a reporting Envoy, derived once per stream from
// the stream's Identifier (which only the first message carries).
type Proxy struct {
	NodeID      string
	NodeCluster string
	LogName     string
	Kind        ProxyKind
	IP          string
	Pod         string
	// Workload holds the local side's labels. Principal is left empty: the
	// local principal depends on each entry's TLS data.
	Workload       Workload
	WorkloadFrom   IdentitySource
	ServiceAccount string
	InstanceIPs    []string
	// V2 is true when the node carried the v2-only build_version field.
	V2 bool
}

// parseIdentifier builds the Proxy of a stream from a decoded Identifier.
func parseIdentifier(id *wire.Identifier) (*Proxy, error) {
	var md structpb.Struct
	if len(id.Node.Metadata) > 0 {
		if err := proto.Unmarshal(id.Node.Metadata, &md); err != nil {
			return nil, fmt.Errorf("decode node metadata: %w", err)
		}
	}
	// Every label value must be valid UTF-8 in the exposition; the node id
	// and cluster come straight from the wire (metadata strings are checked
	// by proto.Unmarshal).
	p := NewProxy(validUTF8(id.Node.ID), validUTF8(id.Node.Cluster), &md)
	p.LogName = validUTF8(id.LogName)
	p.V2 = len(id.Node.BuildVersion) > 0
	return p, nil
}

// NewProxy derives a proxy's identity from its node id, node cluster and node
// metadata (nil allowed). Missing labels stay empty, as Istio leaves them; a
// node without Istio metadata falls back to its node id and node cluster.
func NewProxy(nodeID, nodeCluster string, metadata *structpb.Struct) *Proxy {
	p := &Proxy{NodeID: nodeID, NodeCluster: nodeCluster}
	p.fill(metadata)
	return p
}

func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func structString(s *structpb.Struct, key string) string {
	if s == nil {
		return ""
	}
	v, ok := s.GetFields()[key]
	if !ok {
		return ""
	}
	return v.GetStringValue()
}

func (p *Proxy) fill(md *structpb.Struct) {
	// Istio node id: <type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain>
	var idNamespace string
	if parts := strings.Split(p.NodeID, "~"); len(parts) == 4 {
		switch parts[0] {
		case "sidecar":
			p.Kind = ProxySidecar
		case "router":
			p.Kind = ProxyRouter
		case "waypoint":
			p.Kind = ProxyWaypoint
		}
		if p.Kind != ProxyOther {
			p.IP = parts[1]
			pod := parts[2]
			if i := strings.LastIndexByte(pod, '.'); i >= 0 {
				idNamespace = pod[i+1:]
				pod = pod[:i]
			}
			p.Pod = pod
		}
	}
	if p.Kind == ProxyOther && p.fillOther(md) {
		return
	}
	labels := md.GetFields()["LABELS"].GetStructValue()
	w := &p.Workload
	w.Name = structString(md, "WORKLOAD_NAME")
	w.Namespace = firstNonEmpty(structString(md, "NAMESPACE"), structString(md, "CONFIG_NAMESPACE"), idNamespace)
	w.App = firstNonEmpty(structString(labels, "app"), structString(md, "app"))
	w.Version = firstNonEmpty(structString(labels, "version"), structString(md, "version"))
	w.CanonicalService = structString(labels, "service.istio.io/canonical-name")
	w.CanonicalRevision = structString(labels, "service.istio.io/canonical-revision")
	w.Cluster = structString(md, "CLUSTER_ID")
	p.ServiceAccount = structString(md, "SERVICE_ACCOUNT")
	if p.Pod == "" {
		p.Pod = firstNonEmpty(structString(md, "NAME"), structString(md, "POD_NAME"))
	}
	ips := firstNonEmpty(structString(md, "INSTANCE_IPS"), structString(md, "ISTIO_META_INSTANCE_IPS"))
	if ips != "" {
		p.InstanceIPs = strings.Split(ips, ",")
	}
	p.WorkloadFrom = FromNodeMetadata
	if w.Name == "" {
		// Old Istio and non-Istio proxies: derive the workload from the pod
		// name (strip the ReplicaSet and pod hashes), else the node cluster.
		p.WorkloadFrom = FromNodeID
		switch {
		case p.Pod != "" && p.Kind != ProxyOther:
			w.Name = workloadFromPod(p.Pod)
		case p.NodeCluster != "":
			w.Name = strings.TrimSuffix(p.NodeCluster, "."+w.Namespace)
		default:
			w.Name = p.NodeID
		}
	}
	if w.CanonicalService == "" {
		w.CanonicalService = firstNonEmpty(w.App, w.Name)
	}
	if w.CanonicalRevision == "" {
		w.CanonicalRevision = firstNonEmpty(w.Version, "latest")
	}
}

// fillOther recognises the non-Istio flavours from their node id, node
// cluster and metadata, and fills the local workload from them. It reports
// whether it recognised one.
func (p *Proxy) fillOther(md *structpb.Struct) bool {
	w := &p.Workload
	switch {
	case appMeshNode(p.NodeID) != "":
		// App Mesh: mesh/<mesh>/virtualNode/<vn> (or an ARN ending so);
		// the Kubernetes controller names virtual nodes <name>_<namespace>.
		kind, vn := appMeshNodeKind(p.NodeID)
		p.Kind = kind
		w.Name, w.Namespace = vn, ""
		if i := strings.LastIndexByte(vn, '_'); i > 0 && i < len(vn)-1 {
			w.Name, w.Namespace = vn[:i], vn[i+1:]
		}
	case consulNode(p.NodeID, md):
		// Consul: the node cluster is the service, the metadata its
		// Consul namespace (and admin partition).
		p.Kind = ProxyConsul
		w.Name = firstNonEmpty(p.NodeCluster, strings.TrimSuffix(strings.TrimSuffix(p.NodeID, "-sidecar-proxy"), "-proxy"))
		w.Namespace = firstNonEmpty(structString(md, "namespace"), "default")
	case envoyGatewayCluster(p.NodeCluster):
		// Envoy Gateway: the node cluster is <namespace>/<gateway>, the
		// node id the pod.
		p.Kind = ProxyEnvoyGateway
		i := strings.IndexByte(p.NodeCluster, '/')
		w.Namespace, w.Name = p.NodeCluster[:i], p.NodeCluster[i+1:]
		p.Pod = p.NodeID
	default:
		return false
	}
	w.CanonicalService = w.Name
	w.CanonicalRevision = "latest"
	p.WorkloadFrom = FromNodeID
	return true
}

// appMeshNode returns the resource part of an App Mesh node id,
// "mesh/<mesh>/virtualNode/<vn>" or "mesh/<mesh>/virtualGateway/<vg>",
// possibly prefixed by an ARN, or "".
func appMeshNode(id string) string {
	i := strings.Index(id, "mesh/")
	if i < 0 || (i > 0 && !strings.HasPrefix(id, "arn:aws:appmesh:")) {
		return ""
	}
	parts := strings.Split(id[i:], "/")
	if len(parts) != 4 || parts[1] == "" || parts[3] == "" || (parts[2] != "virtualNode" && parts[2] != "virtualGateway") {
		return ""
	}
	return id[i:]
}

func appMeshNodeKind(id string) (ProxyKind, string) {
	parts := strings.Split(appMeshNode(id), "/")
	if parts[2] == "virtualGateway" {
		return ProxyAppMeshGateway, parts[3]
	}
	return ProxyAppMesh, parts[3]
}

// consulNode recognises a Consul sidecar: consul-dataplane and the agent
// put namespace and partition (lower case) in the node metadata; older
// agents name the node after the proxy's service id.
func consulNode(id string, md *structpb.Struct) bool {
	f := md.GetFields()
	_, ns := f["namespace"]
	_, ap := f["partition"]
	return ns && ap || strings.HasSuffix(id, "-sidecar-proxy")
}

// envoyGatewayCluster recognises Envoy Gateway's node cluster,
// "<namespace>/<gateway>".
func envoyGatewayCluster(c string) bool {
	i := strings.IndexByte(c, '/')
	return i > 0 && i < len(c)-1 && strings.IndexByte(c[i+1:], '/') < 0
}

// workloadFromPod strips Kubernetes' generated suffixes from a pod name:
// "<deployment>-<replicaset hash>-<5 chars>" becomes "<deployment>".
func workloadFromPod(pod string) string {
	parts := strings.Split(pod, "-")
	if len(parts) >= 3 && len(parts[len(parts)-1]) == 5 && isPodHash(parts[len(parts)-2]) {
		return strings.Join(parts[:len(parts)-2], "-")
	}
	if len(parts) >= 2 && len(parts[len(parts)-1]) == 5 {
		return strings.Join(parts[:len(parts)-1], "-") // StatefulSet/DaemonSet style
	}
	return pod
}

func isPodHash(s string) bool {
	if len(s) < 5 || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') {
			return false
		}
	}
	return true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// ownsIP reports whether ip is one of the proxy's instance IPs.
func (p *Proxy) ownsIP(ip []byte) bool {
	if len(ip) == 0 {
		return false
	}
	if bytes.Equal(ip, []byte(p.IP)) {
		return true
	}
	for _, s := range p.InstanceIPs {
		if string(ip) == s {
			return true
		}
	}
	return false
}

// CutLabels cuts the proxy's label values (node id and cluster, its
// workload's labels, service account and pod: all from a node a sender
// controls) to limit bytes at a UTF-8 boundary and returns how many it cut,
// by field. Stream.SetProxy does it with the normaliser's MaxLabelLength; a
// path that uses a Proxy without a Stream (the Metrics Service) calls it
// itself.
func (p *Proxy) CutLabels(limit int) Truncations {
	var n Truncations
	cut := func(f *string, field LabelField) {
		if len(*f) > limit {
			*f = string(cutUTF8([]byte(*f), limit))
			n[field]++
		}
	}
	cut(&p.NodeID, FieldNodeID)
	cut(&p.NodeCluster, FieldNodeCluster)
	w := &p.Workload
	for _, f := range []*string{
		&w.Name, &w.Namespace, &w.CanonicalService, &w.CanonicalRevision, &w.App, &w.Version, &w.Cluster,
		&p.ServiceAccount, &p.Pod,
	} {
		cut(f, FieldNodeMetadata)
	}
	return n
}
