package wire

import "github.com/meshlens/meshlens/accesslog/entry"

// The types in this file are views into one received protobuf message. Every
// []byte field aliases the buffer passed to the decoder: it is valid only until
// that buffer is reused (in the receiver: until the next message of the same
// stream is read). Callers that keep a value must copy it (or intern it).
//
// The entries are the core's source-neutral views (accesslog/entry): the
// decoder is one producer of them. The aliases keep the decoder's names.

// Entry, Peer, Address and AddressKind are the core's entry views.
type (
	Entry       = entry.Entry
	Peer        = entry.Peer
	Address     = entry.Address
	AddressKind = entry.AddressKind
)

// Address kinds.
const (
	AddressNone     = entry.AddressNone
	AddressSocket   = entry.AddressSocket
	AddressPipe     = entry.AddressPipe
	AddressInternal = entry.AddressInternal
)

// MaxPeerMemo is how many distinct peer encodings one message memoises
// (entry.Peer.Memo).
const MaxPeerMemo = entry.MaxPeerMemo

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
