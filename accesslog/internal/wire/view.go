package wire

// The types in this file are views into one received protobuf message. Every
// []byte field aliases the buffer passed to the decoder: it is valid only until
// that buffer is reused (in the receiver: until the next message of the same
// stream is read). Callers that keep a value must copy it (or intern it).

// AddressKind says which member of config.core.v3.Address was set.
type AddressKind uint8

// Address kinds.
const (
	AddressNone AddressKind = iota
	AddressSocket
	AddressPipe
	AddressInternal
)

// Address is a view of envoy.config.core.v3.Address.
type Address struct {
	Kind AddressKind
	// Host is socket_address.address, pipe.path, or
	// envoy_internal_address.server_listener_name.
	Host []byte
	// Port is socket_address.port_value (0 for named ports and non-sockets).
	Port uint32
}

// Node is a view of envoy.config.core.v3.Node (the fields meshlens uses).
type Node struct {
	ID      []byte
	Cluster []byte
	// Metadata is the raw encoded google.protobuf.Struct (field 3), to be
	// decoded once per stream (for example with proto.Unmarshal). The
	// decoder does not look inside it. If the field occurs more than once,
	// the occurrences are concatenated (which is protobuf's merge) in a
	// buffer owned by the Message, valid until the Message is reused.
	Metadata []byte
	// BuildVersion is the v2-only field 5 (reserved in v3); non-empty marks a
	// v2 client.
	BuildVersion []byte
}

// Identifier is a view of envoy.service.accesslog.v3 / metrics.v3 Identifier.
type Identifier struct {
	Present bool
	Node    Node
	LogName []byte
}

// Peer is a view of an Istio peer object (filter state upstream_peer /
// downstream_peer: an Any holding a google.protobuf.Struct).
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
	// Memo, when not 0, numbers this peer's encoding within its message
	// (1..MaxPeerMemo): entries of one message with the same Memo carry
	// byte-identical peers, so a caller may resolve a peer once per
	// message. The decoder parses each such encoding once.
	Memo uint8
}

// MaxPeerMemo is how many distinct peer encodings one message memoises. A
// proxy's batch names each workload it talks to, in either direction, so a
// busy sidecar's message carries a few dozen distinct peers.
const MaxPeerMemo = 32

// peerSlots is the size of the open-addressing table that finds a memoised
// peer by a fingerprint of its encoding (a power of two, twice MaxPeerMemo).
const peerSlots = 2 * MaxPeerMemo

// Header names meshlens extracts from request_headers / response_headers /
// response_trailers (compared ASCII case-insensitively).
const (
	HeaderContentType     = "content-type"
	HeaderTraceparent     = "traceparent"
	HeaderTracestate      = "tracestate"
	HeaderB3              = "b3"
	HeaderB3TraceID       = "x-b3-traceid"
	HeaderB3SpanID        = "x-b3-spanid"
	HeaderB3ParentSpanID  = "x-b3-parentspanid"
	HeaderB3Sampled       = "x-b3-sampled"
	HeaderGRPCStatus      = "grpc-status"
	FilterStateUpstream   = "upstream_peer"
	FilterStateDownstream = "downstream_peer"
	FilterStateGRPCStats  = "envoy.filters.http.grpc_stats"
)

// Entry is a view of one HTTPAccessLogEntry or TCPAccessLogEntry. Durations
// are nanoseconds; times are Unix nanoseconds. Has* flags say whether an
// optional field was present on the wire.
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
	// decodable Struct. The peers are owned by the Message (entries with
	// the same Memo share one), valid until it is reused.
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

// Message is a view of one StreamAccessLogsMessage.
type Message struct {
	Identifier Identifier
	// Entries holds the decoded entries; the slice is reused between calls.
	Entries []Entry
	// HTTP is true for http_logs, false for tcp_logs (meaningless when
	// Entries is empty).
	HTTP bool

	// scratch holds node.metadata when it occurs more than once in a
	// message (its occurrences are merged by concatenation); Envoy never
	// does that, so it normally stays empty. Reused between calls.
	scratch []byte

	// peers are the distinct peer encodings parsed so far in this
	// message (Peer.Memo - 1 indexes them).
	peers  [MaxPeerMemo]Peer
	npeers uint8
	// peerIdx finds a memoised peer by its fingerprint: a slot holds the
	// Memo of a peer (0: empty), peerFP the fingerprint of each memo.
	peerIdx [peerSlots]uint8
	peerFP  [MaxPeerMemo]uint64
	// extra holds the peers beyond the memo (each entry its own), reused
	// between calls; nextra are in use.
	extra  []*Peer
	nextra int
}
