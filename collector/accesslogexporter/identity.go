package accesslogexporter

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog"
)

// Resource attributes read for the reporting proxy.
const (
	// Envoy's OpenTelemetry access logger puts its node there.
	attrNodeName    = "node_name"
	attrClusterName = "cluster_name"
	// Kubernetes attributes (the k8sattributes processor, or a file
	// receiver's path parsing of /var/log/pods/<ns>_<pod>_<uid>/...).
	attrPod         = "k8s.pod.name"
	attrNamespace   = "k8s.namespace.name"
	attrPodIP       = "k8s.pod.ip"
	attrCluster     = "k8s.cluster.name"
	attrDeployment  = "k8s.deployment.name"
	attrStatefulSet = "k8s.statefulset.name"
	attrDaemonSet   = "k8s.daemonset.name"
	attrApp         = "k8s.pod.labels.app"
	attrAppName     = "k8s.pod.labels.app.kubernetes.io/name"
	attrVersion     = "k8s.pod.labels.version"
	attrSA          = "k8s.pod.service_account.name"
)

// maxKeyBytes bounds the key a proxy is tracked by, whatever a sender puts
// in its resource.
const maxKeyBytes = 1024

// reporter says who reported the records of res: the key its stream is
// tracked by and, for a new stream, the proxy. Envoy's node (node_name,
// cluster_name, as its OpenTelemetry access logger sends them) names the
// proxy; Kubernetes attributes (k8sattributes, a file receiver's path
// parsing) give its workload metadata, as Istio's node metadata would, and
// without a node name its Istio-style sidecar node id. ok is false when the
// resource names no proxy.
func reporter(res pcommon.Resource) (key string, newProxy func() *accesslog.Proxy, ok bool) {
	attrs := res.Attributes()
	str := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	node, cluster := str(attrNodeName), str(attrClusterName)
	pod, ns := str(attrPod), str(attrNamespace)
	hasPod := pod != "" && ns != ""
	if node == "" && !hasPod {
		return "", nil, false
	}
	if !hasPod {
		return cut("node:" + node + "\x00" + cluster), func() *accesslog.Proxy { return accesslog.NewProxy(node, cluster, nil) }, true
	}
	return cut("pod:" + ns + "/" + pod + "\x00" + node + "\x00" + cluster), func() *accesslog.Proxy {
		workload := firstOf(str(attrDeployment), str(attrStatefulSet), str(attrDaemonSet))
		app := firstOf(str(attrApp), str(attrAppName))
		version := str(attrVersion)
		labels := map[string]any{}
		if app != "" {
			labels["app"] = app
			labels["service.istio.io/canonical-name"] = app
		}
		if version != "" {
			labels["version"] = version
			labels["service.istio.io/canonical-revision"] = version
		}
		md := map[string]any{"NAMESPACE": ns, "NAME": pod, "CLUSTER_ID": firstOf(str(attrCluster), "Kubernetes"), "LABELS": labels}
		if workload != "" {
			md["WORKLOAD_NAME"] = workload
		}
		if sa := str(attrSA); sa != "" {
			md["SERVICE_ACCOUNT"] = sa
		}
		s, err := structpb.NewStruct(md)
		if err != nil { // only strings and maps of strings: cannot fail
			s = nil
		}
		if node == "" {
			// An Istio sidecar's node id, which says the proxy kind, pod
			// and namespace as Istio's own would.
			node = "sidecar~" + firstOf(str(attrPodIP), "0.0.0.0") + "~" + pod + "." + ns + "~" + ns + ".svc.cluster.local"
		}
		return accesslog.NewProxy(node, firstOf(cluster, app+"."+ns), s)
	}, true
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// cut bounds a key: a longer one keeps its start and a hash of the whole,
// so that two long keys with the same start stay two proxies.
func cut(key string) string {
	if len(key) <= maxKeyBytes {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return strings.Clone(key[:maxKeyBytes-2*len(sum)]) + hex.EncodeToString(sum[:])
}
