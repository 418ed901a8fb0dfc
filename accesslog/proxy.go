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

// Proxy kinds.
const (
	ProxyOther    ProxyKind = iota // not an Istio node id: plain Envoy, Envoy Gateway
	ProxySidecar                   // sidecar~
	ProxyRouter                    // router~ (any Istio gateway)
	ProxyWaypoint                  // waypoint~
)

var proxyKindNames = [...]string{"other", "sidecar", "router", "waypoint"}

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
// controls) to limit bytes at a UTF-8 boundary and returns how many it cut.
// Stream.SetProxy does it with the normaliser's MaxLabelLength; a path that
// uses a Proxy without a Stream (the Metrics Service) calls it itself.
func (p *Proxy) CutLabels(limit int) int {
	n := 0
	w := &p.Workload
	for _, f := range []*string{
		&w.Name, &w.Namespace, &w.CanonicalService, &w.CanonicalRevision, &w.App, &w.Version, &w.Cluster,
		&p.ServiceAccount, &p.Pod, &p.NodeCluster, &p.NodeID,
	} {
		if len(*f) > limit {
			*f = string(cutUTF8([]byte(*f), limit))
			n++
		}
	}
	return n
}
