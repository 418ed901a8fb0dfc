package accesslog

// LabelField names where a label value came from: the `label` label of
// meshlens_label_values_truncated_total. The set is fixed and small, so that
// the counter's own cardinality is bounded whatever the senders send.
type LabelField uint8

// Label fields.
const (
	// FieldNodeID: the reporting proxy's node id.
	FieldNodeID LabelField = iota
	// FieldNodeCluster: its node cluster.
	FieldNodeCluster
	// FieldNodeMetadata: its node metadata (workload, namespace, canonical
	// service and revision, app, version, cluster id, service account,
	// pod) and the names meshlens builds from them (the local service).
	FieldNodeMetadata
	// FieldUpstreamCluster: an entry's upstream cluster and the service
	// names parsed from it.
	FieldUpstreamCluster
	// FieldAuthority: an entry's :authority (Host header).
	FieldAuthority
	// FieldPeerMetadata: the peer metadata an entry carries (filter state).
	FieldPeerMetadata
	// FieldPeerPrincipal: the peer certificate's URI SAN and the names
	// parsed from it.
	FieldPeerPrincipal
	// FieldLocalPrincipal: the local certificate's URI SAN, or the SPIFFE
	// id meshlens synthesises for the local side.
	FieldLocalPrincipal
	// NumLabelFields is the number of label fields.
	NumLabelFields
)

var labelFieldNames = [...]string{
	"node_id", "node_cluster", "node_metadata", "upstream_cluster", "authority",
	"peer_metadata", "peer_principal", "local_principal",
}

// String returns the label value.
func (f LabelField) String() string {
	if int(f) < len(labelFieldNames) {
		return labelFieldNames[f]
	}
	return "invalid"
}

// Truncations counts the label values cut to MaxLabelLength, by field.
type Truncations [NumLabelFields]int

// Total is the number of values cut, all fields together.
func (t *Truncations) Total() int {
	n := 0
	for _, v := range t {
		n += v
	}
	return n
}

// Add adds u's counts to t.
func (t *Truncations) Add(u Truncations) {
	for i, v := range u {
		t[i] += v
	}
}

// ResetReason says which bound of a stream's intern table was reached when
// the table was cleared: the `reason` label of
// meshlens_receiver_intern_table_resets_total.
type ResetReason uint8

// Reset reasons.
const (
	// ResetStrings: max_interned_strings values were held.
	ResetStrings ResetReason = iota
	// ResetBytes: the values held would have exceeded max_interned_bytes.
	ResetBytes
	// NumResetReasons is the number of reset reasons.
	NumResetReasons
)

var resetNames = [...]string{"max_interned_strings", "max_interned_bytes"}

// String returns the label value.
func (r ResetReason) String() string {
	if int(r) < len(resetNames) {
		return resetNames[r]
	}
	return "invalid"
}
