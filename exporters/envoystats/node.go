package envoystats

// Label names added to every exported series, in this order, to say which
// Envoy reported it. They never clash with Envoy's tag labels, which are
// "envoy_*" (plus "cipher_suite"); a tag label that does (possible only with
// emit_tags_as_labels and custom tags) is renamed "exported_<name>".
const (
	LabelNodeID      = "node_id"      // node.id
	LabelNodeCluster = "node_cluster" // node.cluster
	LabelNamespace   = "namespace"    // Istio NAMESPACE metadata
	LabelWorkload    = "workload"     // Istio WORKLOAD_NAME metadata
	LabelPod         = "pod"          // Istio NAME (pod name) metadata
)

var nodeLabelNames = []string{LabelNodeID, LabelNodeCluster, LabelNamespace, LabelWorkload, LabelPod}

// reservedLabels may not be used by tag labels: the node labels, and the
// labels the exposition format adds to summaries and histograms.
var reservedLabels = append(append([]string(nil), nodeLabelNames...), "le", "quantile")

// NodeIdentity says which Envoy sent a stream. The caller fills it from the
// stream's first message (the only one with an identifier) and passes it with
// every message of that stream. ID is the key of a node's state and must be
// unique per Envoy; the other fields only become labels ("" when unknown).
type NodeIdentity struct {
	ID        string
	Cluster   string
	Namespace string
	Workload  string
	Pod       string
}
