package accesslog

import (
	"bytes"
	"strconv"
	"strings"
)

// Kind says which Envoy entry type a record came from.
type Kind uint8

// Entry kinds.
const (
	KindHTTP Kind = iota + 1 // HTTPAccessLogEntry
	KindTCP                  // TCPAccessLogEntry
)

// Reporter is the Istio `reporter` label: which side of a call the reporting
// proxy was on.
type Reporter uint8

// Reporters, named as Istio's label values.
const (
	ReporterSource      Reporter = iota + 1 // client side: sidecar outbound, gateways
	ReporterDestination                     // server side: sidecar inbound
	ReporterWaypoint                        // ambient waypoint
)

var reporterNames = [...]string{"unknown", "source", "destination", "waypoint"}

// String returns the Istio label value.
func (r Reporter) String() string {
	if int(r) < len(reporterNames) {
		return reporterNames[r]
	}
	return reporterNames[0]
}

// Protocol is the Istio `request_protocol` label.
type Protocol uint8

// Request protocols.
const (
	ProtocolHTTP Protocol = iota + 1
	ProtocolGRPC
	ProtocolTCP
)

var protocolNames = [...]string{"unknown", "http", "grpc", "tcp"}

// String returns the Istio label value.
func (p Protocol) String() string {
	if int(p) < len(protocolNames) {
		return protocolNames[p]
	}
	return protocolNames[0]
}

// SecurityPolicy is the Istio `connection_security_policy` label.
type SecurityPolicy uint8

// Security policies. Client-side reporters always say Unknown, as Istio does.
const (
	SecurityUnknown SecurityPolicy = iota
	SecurityNone
	SecurityMutualTLS
)

var securityNames = [...]string{"unknown", "none", "mutual_tls"}

// String returns the Istio label value.
func (s SecurityPolicy) String() string {
	if int(s) < len(securityNames) {
		return securityNames[s]
	}
	return securityNames[0]
}

// IdentitySource says where the identity of one side of a record came from.
type IdentitySource uint8

// Identity sources, from most to least trustworthy.
const (
	FromNone         IdentitySource = iota // nothing known: labels are "unknown"
	FromNodeMetadata                       // the reporting proxy's own node metadata (local side)
	FromNodeID                             // only the node id / node cluster (non-Istio proxies, old Istio)
	FromPeerMetadata                       // filter state upstream_peer / downstream_peer
	FromSAN                                // the peer certificate's SPIFFE URI SAN
	FromClusterName                        // parsed from the upstream cluster name
	FromAuthority                          // the request's :authority
	numIdentitySources
)

var identitySourceNames = [...]string{"none", "node_metadata", "node_id", "peer_metadata", "san", "cluster_name", "authority"}

// String returns the label value used in meshlens's self metrics.
func (s IdentitySource) String() string {
	if int(s) < len(identitySourceNames) {
		return identitySourceNames[s]
	}
	return "invalid"
}

// IdentitySources lists every source, for exporting counters with all values.
func IdentitySources() []IdentitySource {
	out := make([]IdentitySource, numIdentitySources)
	for i := range out {
		out[i] = IdentitySource(i)
	}
	return out
}

// Workload is one side of a call, with Istio's label values. Empty strings
// are kept as Istio keeps them for the local side; unknown peers say
// "unknown" (canonical revision "latest"), as Istio does.
type Workload struct {
	Name              string // source_workload / destination_workload
	Namespace         string // *_workload_namespace
	CanonicalService  string // *_canonical_service
	CanonicalRevision string // *_canonical_revision
	App               string // *_app
	Version           string // *_version
	Cluster           string // *_cluster
	Principal         string // *_principal (SPIFFE id)
}

// Service is the destination service of a call.
type Service struct {
	Host      string // destination_service (FQDN or host)
	Name      string // destination_service_name
	Namespace string // destination_service_namespace
}

// ResponseFlags holds Envoy response flags as bits: bit n is set when field n
// of envoy.data.accesslog.v3.ResponseFlags is set (n = 1..28).
type ResponseFlags uint32

// flagOrder lists ALS ResponseFlags field numbers in Envoy's core flag enum
// order (istio-metrics.md §8), with their short codes.
var flagOrder = [...]struct {
	field uint8
	code  string
}{
	{1, "LH"},
	{2, "UH"},
	{3, "UT"},
	{4, "LR"},
	{5, "UR"},
	{6, "UF"},
	{7, "UC"},
	{8, "UO"},
	{9, "NR"},
	{10, "DI"},
	{11, "FI"},
	{12, "RL"},
	{13, "UAEX"},
	{14, "RLSE"},
	{15, "DC"},
	{16, "URX"},
	{17, "SI"},
	{18, "IH"},
	{19, "DPE"},
	{20, "UMSDR"},
	{21, "RFCF"},
	{22, "NFCF"},
	{23, "DT"},
	{24, "UPE"},
	{25, "NC"},
	{26, "OM"},
	{27, "DF"},
	{28, "DR"},
}

// Flag bits for the flags meshlens reasons about.
const (
	FlagUpstreamConnectionFailure  ResponseFlags = 1 << 6
	FlagNoRouteFound               ResponseFlags = 1 << 9
	FlagUpstreamRetryLimitExceeded ResponseFlags = 1 << 16
)

// ProxyFailureFlags are the flags that mean the proxy, not the application,
// produced the failure (no upstream reached, timeouts, resets, overload).
const ProxyFailureFlags ResponseFlags = 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<9 |
	1<<15 | 1<<16 | 1<<17 | 1<<20 | 1<<23 | 1<<24 | 1<<25 | 1<<26 | 1<<27

var singleFlag [29]string

func init() {
	for _, f := range &flagOrder {
		singleFlag[f.field] = f.code
	}
}

// String returns the Istio `response_flags` label: short codes joined by ","
// in Envoy's enum order, or "-" when none is set. It allocates only when more
// than one flag is set.
func (f ResponseFlags) String() string {
	f &= (1<<29 - 1) &^ 1
	if f == 0 {
		return "-"
	}
	if f&(f-1) == 0 { // one bit
		for i := 1; i < len(singleFlag); i++ {
			if f == 1<<i {
				return singleFlag[i]
			}
		}
	}
	var b strings.Builder
	for _, fl := range &flagOrder {
		if f&(1<<fl.field) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(fl.code)
		}
	}
	return b.String()
}

// TraceFormat says which propagation format a record's trace context came from.
type TraceFormat uint8

// Trace context formats.
const (
	TraceNone      TraceFormat = iota
	TraceW3C                   // traceparent
	TraceB3Single              // b3
	TraceB3Multi               // x-b3-*
	TraceRequestID             // synthetic: derived from x-request-id by the consumer
)

// TraceContext is the trace context recovered from logged request headers.
// The all-zero TraceID means none.
type TraceContext struct {
	Format       TraceFormat
	TraceID      [16]byte
	SpanID       [8]byte // the span id in the logged headers (see ADR 0004)
	ParentSpanID [8]byte // x-b3-parentspanid / b3 parent, when logged
	Sampled      bool
	HasSampled   bool
}

// Valid reports whether a trace id was recovered.
func (t *TraceContext) Valid() bool { return t.TraceID != [16]byte{} }

// Record is meshlens's canonical request record: one per Envoy access-log
// entry, holding every Istio standard label and everything the metrics,
// the topology graph and span reconstruction need.
//
// Strings are interned and may be kept. The []byte fields in Details alias
// the received message and are valid only during the call that hands the
// record out (see Sink); copy them to keep them.
type Record struct {
	Kind     Kind
	Reporter Reporter
	Protocol Protocol

	Source      Workload
	Destination Workload
	Service     Service

	// Where each side's identity came from. The reporting proxy's own side is
	// FromNodeMetadata or FromNodeID; the peer side is the first source that
	// knew it.
	SourceFrom      IdentitySource
	DestinationFrom IdentitySource
	ServiceFrom     IdentitySource

	ResponseCode uint32 // 0 when there was no response
	// GRPCStatus is the gRPC status, or -1 when none applies ("" label).
	GRPCStatus int32
	Flags      ResponseFlags
	Security   SecurityPolicy

	// Final is true when the entry ends a request or connection (it counts in
	// istio_requests_total / istio_tcp_connections_closed_total); periodic and
	// start entries are not final.
	Final bool

	StartUnixNano int64
	DurationNanos int64 // -1 when the request did not complete (no duration logged)

	RequestBytes  uint64 // downstream wire bytes received (HTTP)
	ResponseBytes uint64 // downstream wire bytes sent (HTTP)

	// Deltas since the previous entry of the same stream (gRPC messages) or
	// connection (TCP bytes).
	RequestMessages  uint64
	ResponseMessages uint64
	TCPSentBytes     uint64 // server → client
	TCPReceivedBytes uint64 // client → server
	TCPOpened        bool
	TCPClosed        bool

	Trace TraceContext

	// NodeID is the reporting proxy's node id.
	NodeID string

	Details Details
}

// Details are per-request values that only span reconstruction needs. They alias the received message: valid only while the record is
// being consumed.
type Details struct {
	RequestID       []byte
	Method          string // constant strings, no allocation
	Scheme          []byte
	Authority       []byte
	Path            []byte
	UserAgent       []byte
	UpstreamCluster []byte
	RouteName       []byte
	ResponseDetails []byte
	Tracestate      []byte
	StreamID        []byte
	PeerAddress     []byte // downstream remote address (server) or upstream remote address (client)
	PeerPort        uint32
	LocalAddress    []byte // downstream local address
	LocalPort       uint32
	HTTPVersion     string // "1.0", "1.1", "2", "3", or ""
	Attempts        uint32
}

var responseCodes [600]string

func init() {
	for i := range responseCodes {
		responseCodes[i] = strconv.Itoa(i)
	}
}

// ResponseCodeLabel returns the Istio `response_code` label value ("0" when
// there was no response) without allocating for codes below 600.
func (r *Record) ResponseCodeLabel() string {
	if r.ResponseCode < uint32(len(responseCodes)) {
		return responseCodes[r.ResponseCode]
	}
	return strconv.FormatUint(uint64(r.ResponseCode), 10)
}

// GRPCStatusLabel returns the Istio `grpc_response_status` label value.
func (r *Record) GRPCStatusLabel() string {
	if r.GRPCStatus < 0 {
		return ""
	}
	if r.GRPCStatus < int32(len(responseCodes)) {
		return responseCodes[r.GRPCStatus]
	}
	return strconv.FormatInt(int64(r.GRPCStatus), 10)
}

// IsError reports whether the request failed: a 5xx response, no response at
// all, or a non-OK gRPC status.
func (r *Record) IsError() bool {
	if r.Kind == KindTCP {
		return r.Flags&ProxyFailureFlags != 0
	}
	if r.ResponseCode >= 500 || r.ResponseCode == 0 {
		return true
	}
	return r.Protocol == ProtocolGRPC && r.GRPCStatus > 0
}

// IsProxyFailure reports whether the failure was generated by the proxy
// (response flags such as UF, UH, URX, UT, NR) rather than the application.
func (r *Record) IsProxyFailure() bool { return r.Flags&ProxyFailureFlags != 0 }

// ParseResponseFlags reads Envoy's %RESPONSE_FLAGS% as an access-log line
// writes it: short codes joined by "," ("UF,URX"), or "-" for none. A code
// meshlens does not know (one a newer Envoy added, such as DO) is skipped:
// the flags it knows still count. It returns false for a list that is not
// one (an empty code: "UF,", ",UF").
func ParseResponseFlags(s []byte) (ResponseFlags, bool) {
	if len(s) == 0 || len(s) == 1 && s[0] == '-' {
		return 0, true
	}
	var f ResponseFlags
	for more := true; more; {
		code := s
		if i := bytes.IndexByte(s, ','); i >= 0 {
			code, s = s[:i], s[i+1:]
		} else {
			more = false
		}
		if len(code) == 0 {
			return 0, false
		}
		for _, fl := range &flagOrder {
			if string(code) == fl.code {
				f |= 1 << fl.field
				break
			}
		}
	}
	return f, true
}
