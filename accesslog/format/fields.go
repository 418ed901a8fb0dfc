package format

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/entry"
)

// field is what an operator's value sets in an entry.
type field uint8

const (
	fieldNone field = iota
	fieldStartTime
	fieldMethod
	fieldPath
	fieldProtocol
	fieldResponseCode
	fieldResponseFlags
	fieldResponseCodeDetails
	fieldTransportFailure
	fieldBytesReceived
	fieldBytesSent
	fieldDuration
	fieldForwardedFor
	fieldUserAgent
	fieldRequestID
	fieldAuthority
	fieldContentType
	fieldTraceparent
	fieldTracestate
	fieldB3
	fieldB3TraceID
	fieldB3SpanID
	fieldB3ParentSpanID
	fieldB3Sampled
	fieldUpstreamHost
	fieldUpstreamCluster
	fieldUpstreamLocal
	fieldDownstreamLocal
	fieldDownstreamRemote
	fieldDownstreamDirectRemote
	fieldSNI
	fieldRouteName
	fieldPeerURISAN
	fieldLocalURISAN
	fieldGRPCStatus
	fieldGRPCStatusNumber
	fieldAccessLogType
	fieldAttemptCount
	fieldStreamID
	fieldDownstreamWireReceived
	fieldDownstreamWireSent
	fieldUpstreamWireReceived
	fieldUpstreamWireSent
	fieldTLSVersion
)

// requestHeaders are the request headers meshlens reads, by their name in
// %REQ(...)% (Envoy matches header names without case).
var requestHeaders = map[string]field{
	":METHOD": fieldMethod, ":PATH": fieldPath, "X-ENVOY-ORIGINAL-PATH?:PATH": fieldPath,
	":AUTHORITY": fieldAuthority, "HOST": fieldAuthority, "X-FORWARDED-FOR": fieldForwardedFor,
	"USER-AGENT": fieldUserAgent, "X-REQUEST-ID": fieldRequestID, "CONTENT-TYPE": fieldContentType,
	"TRACEPARENT": fieldTraceparent, "TRACESTATE": fieldTracestate, "B3": fieldB3,
	"X-B3-TRACEID": fieldB3TraceID, "X-B3-SPANID": fieldB3SpanID, "X-B3-PARENTSPANID": fieldB3ParentSpanID,
	"X-B3-SAMPLED": fieldB3Sampled,
}

// operators are the operators without argument meshlens reads.
var operators = map[string]field{
	"START_TIME": fieldStartTime, "PROTOCOL": fieldProtocol, "RESPONSE_CODE": fieldResponseCode,
	"RESPONSE_FLAGS": fieldResponseFlags, "RESPONSE_CODE_DETAILS": fieldResponseCodeDetails,
	"UPSTREAM_TRANSPORT_FAILURE_REASON": fieldTransportFailure, "BYTES_RECEIVED": fieldBytesReceived,
	"BYTES_SENT": fieldBytesSent, "DURATION": fieldDuration, "UPSTREAM_HOST": fieldUpstreamHost,
	"UPSTREAM_REMOTE_ADDRESS": fieldUpstreamHost, "UPSTREAM_CLUSTER": fieldUpstreamCluster,
	"UPSTREAM_LOCAL_ADDRESS": fieldUpstreamLocal, "DOWNSTREAM_LOCAL_ADDRESS": fieldDownstreamLocal,
	"DOWNSTREAM_REMOTE_ADDRESS": fieldDownstreamRemote, "DOWNSTREAM_DIRECT_REMOTE_ADDRESS": fieldDownstreamDirectRemote,
	"REQUESTED_SERVER_NAME": fieldSNI, "ROUTE_NAME": fieldRouteName, "DOWNSTREAM_PEER_URI_SAN": fieldPeerURISAN,
	"DOWNSTREAM_LOCAL_URI_SAN": fieldLocalURISAN, "GRPC_STATUS": fieldGRPCStatus,
	"GRPC_STATUS_NUMBER": fieldGRPCStatusNumber, "ACCESS_LOG_TYPE": fieldAccessLogType,
	"UPSTREAM_REQUEST_ATTEMPT_COUNT": fieldAttemptCount, "STREAM_ID": fieldStreamID,
	"DOWNSTREAM_WIRE_BYTES_RECEIVED": fieldDownstreamWireReceived, "DOWNSTREAM_WIRE_BYTES_SENT": fieldDownstreamWireSent,
	"UPSTREAM_WIRE_BYTES_RECEIVED": fieldUpstreamWireReceived, "UPSTREAM_WIRE_BYTES_SENT": fieldUpstreamWireSent,
	"DOWNSTREAM_TLS_VERSION": fieldTLSVersion,
}

func fieldOf(op *operator) field {
	if op.name == "REQ" {
		return requestHeaders[strings.ToUpper(op.arg)]
	}
	if op.arg != "" {
		return fieldNone // START_TIME(fmt) and the like: not the default rendering
	}
	return operators[op.name]
}

// dash is how Envoy writes an empty value in a text line.
func dash(v []byte) bool { return len(v) == 0 || len(v) == 1 && v[0] == '-' }

// set stores v (not empty, not "-") in e's field f; v stays aliased.
func set(e *entry.Entry, f field, v []byte) bool {
	switch f {
	case fieldNone:
	case fieldStartTime:
		t, ok := parseStartTime(v)
		if !ok {
			return false
		}
		e.HasStartTime, e.StartTime = true, t
	case fieldMethod:
		e.HasRequest = true
		e.Method = accesslog.MethodNumber(v)
	case fieldPath:
		e.HasRequest, e.Path = true, v
	case fieldProtocol:
		e.ProtocolVersion = protocolVersion(v)
	case fieldResponseCode:
		n, ok := parseUint(v)
		if !ok || n > 999 {
			return false
		}
		if n > 0 {
			e.HasResponse, e.HasResponseCode, e.ResponseCode = true, true, uint32(n)
		}
	case fieldResponseFlags:
		fl, ok := accesslog.ParseResponseFlags(v)
		if !ok {
			return false
		}
		e.ResponseFlags = uint32(fl)
	case fieldResponseCodeDetails:
		e.ResponseCodeDetails = v
	case fieldTransportFailure:
		e.UpstreamTransportFailureReason = v
	case fieldBytesReceived, fieldBytesSent:
		n, ok := parseUint(v)
		if !ok {
			return false
		}
		// HTTP body bytes, or a TCP connection's bytes: which one the line
		// is says the normaliser (no request: a TCP connection).
		if f == fieldBytesReceived {
			e.RequestBodyBytes, e.TCPReceivedBytes = n, n
		} else {
			e.ResponseBodyBytes, e.TCPSentBytes = n, n
		}
	case fieldDuration:
		n, ok := parseUint(v)
		if !ok {
			return false
		}
		// The normaliser clamps an implausible duration and counts it
		// (as for ALS); here it only must not overflow.
		n = min(n, uint64(math.MaxInt64/int64(time.Millisecond)))
		e.HasDuration, e.Duration = true, int64(n)*int64(time.Millisecond) //nolint:gosec // bounded above
	case fieldForwardedFor:
		e.ForwardedFor = v
	case fieldUserAgent:
		e.UserAgent = v
	case fieldRequestID:
		e.RequestID = v
	case fieldAuthority:
		e.HasRequest, e.Authority = true, v
	case fieldContentType:
		e.ContentType = v
	case fieldTraceparent:
		e.Traceparent = v
	case fieldTracestate:
		e.Tracestate = v
	case fieldB3:
		e.B3 = v
	case fieldB3TraceID:
		e.B3TraceID = v
	case fieldB3SpanID:
		e.B3SpanID = v
	case fieldB3ParentSpanID:
		e.B3ParentSpanID = v
	case fieldB3Sampled:
		e.B3Sampled = v
	case fieldUpstreamHost:
		e.UpstreamRemote = address(v)
	case fieldUpstreamCluster:
		e.UpstreamCluster = v
	case fieldUpstreamLocal:
		e.UpstreamLocal = address(v)
	case fieldDownstreamLocal:
		e.DownstreamLocal = address(v)
	case fieldDownstreamRemote:
		e.DownstreamRemote = address(v)
	case fieldDownstreamDirectRemote:
		e.DownstreamDirectRemote = address(v)
	case fieldSNI:
		e.SNI = v
	case fieldRouteName:
		e.RouteName = v
	case fieldPeerURISAN:
		e.HasTLS, e.PeerURISAN = true, firstSAN(v)
	case fieldLocalURISAN:
		e.HasTLS, e.LocalURISAN = true, firstSAN(v)
	case fieldGRPCStatus, fieldGRPCStatusNumber:
		n, ok := grpcStatusNumber(v)
		if !ok {
			return false
		}
		e.GRPCStatusTrailer = grpcCodes[n]
	case fieldAccessLogType:
		t, ok := accessLogTypes[string(v)]
		if !ok {
			return false
		}
		e.AccessLogType = t
	case fieldAttemptCount:
		n, ok := parseUint(v)
		if !ok || n > 1<<31 {
			return false
		}
		e.UpstreamRequestAttemptCount = uint32(n)
	case fieldStreamID:
		e.StreamID = v
	case fieldDownstreamWireReceived, fieldDownstreamWireSent, fieldUpstreamWireReceived, fieldUpstreamWireSent:
		n, ok := parseUint(v)
		if !ok {
			return false
		}
		e.HasWireBytes = e.HasWireBytes || n > 0
		switch f {
		case fieldDownstreamWireReceived:
			e.DownstreamWireBytesReceived = n
		case fieldDownstreamWireSent:
			e.DownstreamWireBytesSent = n
		case fieldUpstreamWireReceived:
			e.UpstreamWireBytesReceived = n
		default:
			e.UpstreamWireBytesSent = n
		}
	case fieldTLSVersion:
		e.HasTLS = true
		e.TLSVersion = tlsVersions[string(v)]
	}
	return true
}

// parseUint reads a decimal number of at most 19 digits.
func parseUint(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseStartTime reads %START_TIME%'s default rendering,
// 2020-11-25T21:26:18.409Z (fractions of 0 to 9 digits), as Unix ns.
func parseStartTime(v []byte) (int64, bool) {
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[len(v)-1] != 'Z' {
		return 0, false
	}
	num := func(b []byte) int {
		n, ok := parseUint(b)
		if !ok {
			return -1
		}
		return int(n) //nolint:gosec // at most 4 digits
	}
	y, mo, d, h, mi, s := num(v[0:4]), num(v[5:7]), num(v[8:10]), num(v[11:13]), num(v[14:16]), num(v[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return 0, false
	}
	ns := 0
	if frac := v[19 : len(v)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) > 10 {
			return 0, false
		}
		n := num(frac[1:])
		if n < 0 {
			return 0, false
		}
		ns = n
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC).UnixNano(), true
}

// protocolVersion maps %PROTOCOL% to HTTPAccessLogEntry.protocol_version.
func protocolVersion(v []byte) uint32 {
	switch string(v) {
	case "HTTP/1.0":
		return 1
	case "HTTP/1.1":
		return 2
	case "HTTP/2":
		return 3
	case "HTTP/3":
		return 4
	}
	return 0
}

// address reads host:port, [v6]:port, or a name (a pipe, an internal
// listener) as an address. Envoy before 1.8 wrote %UPSTREAM_HOST% as a
// URL (tcp://10.0.2.1:80, as its documentation's example line still
// shows): the scheme is dropped.
func address(v []byte) entry.Address {
	v = bytes.TrimPrefix(v, tcpScheme)
	if i := bytes.LastIndexByte(v, ':'); i > 0 && i < len(v)-1 {
		if port, ok := parseUint(v[i+1:]); ok && port <= 65535 {
			host := v[:i]
			if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
				host = host[1 : len(host)-1]
			}
			return entry.Address{Kind: entry.AddressSocket, Host: host, Port: uint32(port)}
		}
	}
	return entry.Address{Kind: entry.AddressSocket, Host: v}
}

var tcpScheme = []byte("tcp://")

// firstSAN is the first of a comma-separated list of URI SANs.
func firstSAN(v []byte) []byte {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		return v[:i]
	}
	return v
}

// grpcNames are gRPC status names as %GRPC_STATUS% writes them (Envoy's
// camel case), by code.
var grpcNames = [...]string{
	"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
	"PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
	"Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
}

// grpcCodes are the codes as a grpc-status trailer carries them.
var grpcCodes = func() (c [len(grpcNames)][]byte) {
	for i := range c {
		c[i] = strconv.AppendInt(nil, int64(i), 10)
	}
	return c
}()

// grpcStatusNumber reads %GRPC_STATUS% (a name) or %GRPC_STATUS_NUMBER%.
func grpcStatusNumber(v []byte) (int, bool) {
	if n, ok := parseUint(v); ok {
		return int(n), n < uint64(len(grpcNames)) //nolint:gosec // compared below 17
	}
	for i, name := range grpcNames {
		if string(v) == name {
			return i, true
		}
	}
	return 0, false
}

// accessLogTypes are %ACCESS_LOG_TYPE%'s names and their numbers
// (envoy.data.accesslog.v3.AccessLogType).
var accessLogTypes = map[string]uint32{
	"NotSet": 0, "TcpUpstreamConnected": 1, "TcpPeriodic": 2, "TcpConnectionEnd": 3, "DownstreamStart": 4,
	"DownstreamPeriodic": 5, "DownstreamEnd": 6, "UpstreamPoolReady": 7, "UpstreamPeriodic": 8,
	"UpstreamEnd": 9, "DownstreamTunnelSuccessfullyEstablished": 10, "UdpTunnelUpstreamConnected": 11,
	"UdpPeriodic": 12, "UdpSessionEnd": 13, "TcpConnectionStart": 14,
}

// tlsVersions are %DOWNSTREAM_TLS_VERSION%'s values and the ALS
// TLSProperties.TLSVersion numbers.
var tlsVersions = map[string]uint32{"TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}
