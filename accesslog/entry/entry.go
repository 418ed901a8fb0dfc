package entry

// AddressKind says which member of config.core.v3.Address was set.
type AddressKind uint8

// Address kinds.
const (
	AddressNone AddressKind = iota
	AddressSocket
	AddressPipe
	AddressInternal
)

// Address is an endpoint address (in ALS: envoy.config.core.v3.Address).
type Address struct {
	Kind AddressKind
	// Host is socket_address.address, pipe.path, or
	// envoy_internal_address.server_listener_name.
	Host []byte
	// Port is socket_address.port_value (0 for named ports and non-sockets).
	Port uint32
}

// Peer is an Istio peer's workload metadata (in ALS: the filter state
// upstream_peer / downstream_peer, an Any holding a google.protobuf.Struct;
// in other formats, the same keys logged as attributes).
type Peer struct {
	Present bool
	// Raw is the encoded google.protobuf.Struct the fields below come from;
	// the same peer encodes to the same bytes, so callers may cache by it.
	Raw       []byte
	Workload  []byte
	Name      []byte
	Namespace []byte
	Cluster   []byte
	Service   []byte // canonical service
	Revision  []byte // canonical revision
	App       []byte
	Version   []byte
	Identity  []byte // SPIFFE id
	Type      []byte
	// Memo, when not 0, numbers this peer's encoding within its batch
	// (1..MaxPeerMemo): entries of one batch with the same Memo carry
	// byte-identical peers, so the normaliser resolves such a peer once per
	// batch. A producer that does not memoise leaves it 0.
	Memo uint8
}

// MaxPeerMemo is how many distinct peer encodings one batch may memoise
// (Peer.Memo). A proxy's batch names each workload it talks to, in either
// direction, so a busy sidecar's message carries a few dozen distinct peers.
const MaxPeerMemo = 32

// Entry is one access-log entry: an HTTP request or a TCP connection (in
// ALS: one HTTPAccessLogEntry or TCPAccessLogEntry). Durations are
// nanoseconds; times are Unix nanoseconds. Has* flags say whether an
// optional field was present in the source.
type Entry struct {
	TCP bool // from tcp_logs (TCPAccessLogEntry)

	// HasCommon is true when common_properties (field 1) was present.
	HasCommon bool

	// AccessLogCommon (field numbers in brackets).
	DownstreamRemote       Address // 2
	DownstreamLocal        Address // 3
	DownstreamDirectRemote Address // 20
	UpstreamRemote         Address // 13
	UpstreamLocal          Address // 14

	HasTLS      bool   // 4 present
	TLSVersion  uint32 // 4.1
	LocalURISAN []byte // 4.local_certificate_properties.subject_alt_name[0].uri (first URI SAN)
	PeerURISAN  []byte // 4.peer_certificate_properties.subject_alt_name[0].uri (first URI SAN)
	SNI         []byte // 4.tls_sni_hostname

	HasStartTime bool
	StartTime    int64 // 5, Unix ns

	HasTimeToLastRxByte           bool
	TimeToLastRxByte              int64 // 6
	HasTimeToLastDownstreamTxByte bool
	TimeToLastDownstreamTxByte    int64 // 12

	UpstreamCluster []byte // 15
	// ResponseFlags has bit n set when ResponseFlags field n (1..28) is true;
	// bit 13 is set when unauthorized_details.reason == EXTERNAL_SERVICE.
	ResponseFlags uint32 // 16

	UpstreamTransportFailureReason []byte // 18
	RouteName                      []byte // 19

	// Filter state (21), the keys meshlens knows: nil when absent or not a
	// decodable Struct. The peers are owned by the producer (entries with
	// the same Memo share one), valid until it reuses them.
	UpstreamPeer   *Peer
	DownstreamPeer *Peer
	// gRPC message counts from envoy.filters.http.grpc_stats (FilterObject).
	HasGRPCStats            bool
	GRPCRequestMessages     uint64
	GRPCResponseMessages    uint64
	FilterStateUnknownKinds uint32 // filter-state values present but not decodable (e.g. FlatBuffers peers)

	HasDuration bool
	Duration    int64 // 23

	UpstreamRequestAttemptCount uint32 // 24
	StreamID                    []byte // 26
	IntermediateLogEntry        bool   // 27

	HasWireBytes                bool   // any of 29..32 non-zero (proto3 scalars: zero = absent)
	DownstreamWireBytesSent     uint64 // 29
	DownstreamWireBytesReceived uint64 // 30
	UpstreamWireBytesSent       uint64 // 31
	UpstreamWireBytesReceived   uint64 // 32
	AccessLogType               uint32 // 33

	// HTTPAccessLogEntry.
	ProtocolVersion uint32 // 2 (0 unspecified, 1 HTTP10, 2 HTTP11, 3 HTTP2, 4 HTTP3)

	HasRequest          bool
	Method              uint32 // request 1 (config.core.v3.RequestMethod)
	Scheme              []byte // 2
	Authority           []byte // 3
	Path                []byte // 5
	UserAgent           []byte // 6
	ForwardedFor        []byte // 8
	RequestID           []byte // 9
	RequestHeadersBytes uint64 // 11
	RequestBodyBytes    uint64 // 12
	// Request headers (13) meshlens reads.
	ContentType    []byte
	Traceparent    []byte
	Tracestate     []byte
	B3             []byte
	B3TraceID      []byte
	B3SpanID       []byte
	B3ParentSpanID []byte
	B3Sampled      []byte

	HasResponse          bool
	HasResponseCode      bool
	ResponseCode         uint32 // response 1 (UInt32Value)
	ResponseHeadersBytes uint64 // 2
	ResponseBodyBytes    uint64 // 3
	GRPCStatusHeader     []byte // 4["grpc-status"]
	GRPCStatusTrailer    []byte // 5["grpc-status"]
	ResponseCodeDetails  []byte // 6

	// TCPAccessLogEntry.connection_properties.
	TCPReceivedBytes uint64
	TCPSentBytes     uint64
}
