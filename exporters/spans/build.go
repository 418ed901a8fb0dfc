package spans

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
)

// ScopeName is the instrumentation scope of every span meshlens builds.
const ScopeName = "github.com/meshlens/meshlens/exporters/spans"

// MaxNameLen bounds span names (and the span_name label of span metrics).
const MaxNameLen = 256

// Attribute keys. OpenTelemetry semantic conventions where one exists; the
// Envoy tracer's own tag names for what only Envoy has (so that a rebuilt
// span reads like one Envoy would have reported); istio.* and meshlens.*
// for the mesh.
const (
	AttrMethod            = "http.request.method"
	AttrURLPath           = "url.path"   // without query (never kept) and fragment, cut at MaxNameLen
	AttrHTTPRoute         = "http.route" // the route name Envoy logged, unless one of Istio's generic ones
	AttrURLScheme         = "url.scheme"
	AttrStatusCode        = "http.response.status_code"
	AttrRequestSize       = "http.request.size"  // wire bytes, headers included
	AttrResponseSize      = "http.response.size" // wire bytes, headers included
	AttrResendCount       = "http.request.resend_count"
	AttrServerAddress     = "server.address"
	AttrServerPort        = "server.port"
	AttrPeerAddress       = "network.peer.address"
	AttrPeerPort          = "network.peer.port"
	AttrProtocolName      = "network.protocol.name"
	AttrProtocolVersion   = "network.protocol.version"
	AttrUserAgent         = "user_agent.original"
	AttrRPCSystem         = "rpc.system"
	AttrRPCService        = "rpc.service"
	AttrRPCMethod         = "rpc.method"
	AttrGRPCStatus        = "rpc.grpc.status_code"
	AttrGRPCRequestMsgs   = "meshlens.grpc.request_messages"
	AttrGRPCResponseMsgs  = "meshlens.grpc.response_messages"
	AttrRequestID         = "guid:x-request-id"
	AttrNodeID            = "node_id"
	AttrUpstreamCluster   = "upstream_cluster"
	AttrResponseFlags     = "response_flags"
	AttrRouteName         = "envoy.route_name"
	AttrResponseDetails   = "envoy.response_code_details"
	AttrReporter          = "istio.reporter"
	AttrCanonicalService  = "istio.canonical_service"
	AttrCanonicalRevision = "istio.canonical_revision"
	AttrNamespace         = "istio.namespace"
	AttrSourceWorkload    = "istio.source_workload"
	AttrSourceNamespace   = "istio.source_workload_namespace"
	AttrSourcePrincipal   = "istio.source_principal"
	AttrDestWorkload      = "istio.destination_workload"
	AttrDestNamespace     = "istio.destination_workload_namespace"
	AttrDestPrincipal     = "istio.destination_principal"
	AttrDestService       = "istio.destination_service"
	AttrSecurityPolicy    = "istio.connection_security_policy"
	AttrSourceFrom        = "meshlens.identity.source"
	AttrDestinationFrom   = "meshlens.identity.destination"
	AttrServiceFrom       = "meshlens.identity.service"
	AttrTraceFormat       = "meshlens.trace.format"
	AttrSynthetic         = "meshlens.trace.synthetic"
	AttrLoggedSpanID      = "meshlens.trace.logged_span_id"
	AttrLoggedParentID    = "meshlens.trace.logged_parent_span_id"
	AttrSampledBy         = "meshlens.sampled_by"
	AttrDurationUnknown   = "meshlens.duration_unknown"
)

var traceFormats = [...]string{"none", "w3c", "b3", "b3multi", "request_id"}

// Builder turns sampled records into spans, grouped in one ptrace.Traces by
// the reporting service (one ResourceSpans each). It copies everything it
// takes from a record's Details, which are borrowed. Not safe for
// concurrent use.
type Builder struct {
	td        ptrace.Traces
	resources []resourceSpans
	n         int
	scratch   []byte
}

type resourceKey struct{ name, namespace, version string }

type resourceSpans struct {
	key   resourceKey
	spans ptrace.SpanSlice
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{td: ptrace.NewTraces()} }

// Len returns the number of spans built since the last Take.
func (b *Builder) Len() int { return b.n }

// Take returns the spans built so far and starts a new batch.
func (b *Builder) Take() ptrace.Traces {
	td := b.td
	b.td = ptrace.NewTraces()
	b.resources = b.resources[:0]
	b.n = 0
	return td
}

// Append adds the span of record r, which belongs to trace t and was kept
// for reason d (see Sampler.Decide).
func (b *Builder) Append(r *accesslog.Record, t Trace, d Decision) {
	server := r.Reporter != accesslog.ReporterSource
	w := &r.Source
	if server {
		w = &r.Destination
	}
	span := b.spans(w).AppendEmpty()
	b.n++

	id, parent := SpanIDs(r, &t.ID)
	span.SetTraceID(pcommon.TraceID(t.ID))
	span.SetSpanID(pcommon.SpanID(id))
	span.SetParentSpanID(pcommon.SpanID(parent))
	if r.Trace.Format == accesslog.TraceW3C && len(r.Details.Tracestate) > 0 {
		span.TraceState().FromRaw(text(r.Details.Tracestate))
	}
	b.scratch = AppendName(b.scratch[:0], r)
	span.SetName(string(b.scratch))
	if server {
		span.SetKind(ptrace.SpanKindServer)
	} else {
		span.SetKind(ptrace.SpanKindClient)
	}
	start := r.StartUnixNano
	end := start
	if r.DurationNanos > 0 {
		end += r.DurationNanos
	}
	span.SetStartTimestamp(pcommon.Timestamp(start))
	span.SetEndTimestamp(pcommon.Timestamp(end))
	if r.IsError() {
		span.Status().SetCode(ptrace.StatusCodeError)
		span.Status().SetMessage(statusMessage(r))
	}
	b.attributes(span.Attributes(), r, t, d, w)
}

// spans returns the span slice of the resource of workload w.
func (b *Builder) spans(w *accesslog.Workload) ptrace.SpanSlice {
	key := resourceKey{ServiceName(w), w.Namespace, w.CanonicalRevision}
	for i := range b.resources {
		if b.resources[i].key == key {
			return b.resources[i].spans
		}
	}
	rs := b.td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", key.name)
	if key.namespace != "" {
		attrs.PutStr("service.namespace", key.namespace)
	}
	if key.version != "" {
		attrs.PutStr("service.version", key.version)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(ScopeName)
	b.resources = append(b.resources, resourceSpans{key: key, spans: ss.Spans()})
	return ss.Spans()
}

func (b *Builder) attributes(a pcommon.Map, r *accesslog.Record, t Trace, d Decision, local *accesslog.Workload) {
	dt := &r.Details
	a.EnsureCapacity(40)
	if dt.Method != "" {
		a.PutStr(AttrMethod, dt.Method)
	}
	path := pathOnly(dt.Path)
	if len(path) > 0 {
		b.scratch = validCut(append(b.scratch[:0], path...), 0)
		a.PutStr(AttrURLPath, string(b.scratch))
	}
	if len(dt.Scheme) > 0 {
		a.PutStr(AttrURLScheme, text(dt.Scheme))
	}
	if r.ResponseCode > 0 {
		a.PutInt(AttrStatusCode, int64(r.ResponseCode))
	}
	a.PutInt(AttrRequestSize, int64(min(r.RequestBytes, 1<<62)))
	a.PutInt(AttrResponseSize, int64(min(r.ResponseBytes, 1<<62)))
	if dt.Attempts > 1 {
		a.PutInt(AttrResendCount, int64(dt.Attempts-1))
	}
	host, port := splitHostPort(dt.Authority)
	if len(host) == 0 {
		host = []byte(r.Service.Host)
	}
	if len(host) > 0 && string(host) != "unknown" {
		a.PutStr(AttrServerAddress, text(host))
	}
	if port > 0 {
		a.PutInt(AttrServerPort, int64(port))
	}
	if len(dt.PeerAddress) > 0 {
		a.PutStr(AttrPeerAddress, text(dt.PeerAddress))
		if dt.PeerPort > 0 {
			a.PutInt(AttrPeerPort, int64(dt.PeerPort))
		}
	}
	a.PutStr(AttrProtocolName, "http")
	if dt.HTTPVersion != "" {
		a.PutStr(AttrProtocolVersion, dt.HTTPVersion)
	}
	if len(dt.UserAgent) > 0 {
		a.PutStr(AttrUserAgent, text(dt.UserAgent))
	}
	if r.Protocol == accesslog.ProtocolGRPC {
		a.PutStr(AttrRPCSystem, "grpc")
		if svc, method, ok := grpcMethod(path); ok {
			a.PutStr(AttrRPCService, text(svc))
			a.PutStr(AttrRPCMethod, text(method))
		}
		if r.GRPCStatus >= 0 {
			a.PutInt(AttrGRPCStatus, int64(r.GRPCStatus))
		}
		if r.RequestMessages > 0 {
			a.PutInt(AttrGRPCRequestMsgs, int64(min(r.RequestMessages, 1<<62)))
		}
		if r.ResponseMessages > 0 {
			a.PutInt(AttrGRPCResponseMsgs, int64(min(r.ResponseMessages, 1<<62)))
		}
	}

	if len(dt.RequestID) > 0 {
		a.PutStr(AttrRequestID, text(dt.RequestID))
	}
	if r.NodeID != "" {
		a.PutStr(AttrNodeID, r.NodeID)
	}
	if len(dt.UpstreamCluster) > 0 {
		a.PutStr(AttrUpstreamCluster, text(dt.UpstreamCluster))
	}
	a.PutStr(AttrResponseFlags, r.Flags.String())
	if len(dt.RouteName) > 0 {
		a.PutStr(AttrRouteName, text(dt.RouteName))
		if !genericRoute(dt.RouteName) {
			a.PutStr(AttrHTTPRoute, text(dt.RouteName))
		}
	}
	if len(dt.ResponseDetails) > 0 {
		a.PutStr(AttrResponseDetails, text(dt.ResponseDetails))
	}

	a.PutStr(AttrReporter, r.Reporter.String())
	a.PutStr(AttrCanonicalService, local.CanonicalService)
	a.PutStr(AttrCanonicalRevision, local.CanonicalRevision)
	a.PutStr(AttrNamespace, local.Namespace)
	a.PutStr(AttrSourceWorkload, r.Source.Name)
	a.PutStr(AttrSourceNamespace, r.Source.Namespace)
	a.PutStr(AttrSourcePrincipal, r.Source.Principal)
	a.PutStr(AttrDestWorkload, r.Destination.Name)
	a.PutStr(AttrDestNamespace, r.Destination.Namespace)
	a.PutStr(AttrDestPrincipal, r.Destination.Principal)
	a.PutStr(AttrDestService, r.Service.Host)
	a.PutStr(AttrSecurityPolicy, r.Security.String())
	a.PutStr(AttrSourceFrom, r.SourceFrom.String())
	a.PutStr(AttrDestinationFrom, r.DestinationFrom.String())
	a.PutStr(AttrServiceFrom, r.ServiceFrom.String())

	if t.Synthetic {
		a.PutStr(AttrTraceFormat, traceFormats[accesslog.TraceRequestID])
		a.PutBool(AttrSynthetic, true)
	} else {
		if int(r.Trace.Format) < len(traceFormats) {
			a.PutStr(AttrTraceFormat, traceFormats[r.Trace.Format])
		}
		if r.Trace.SpanID != [8]byte{} {
			a.PutStr(AttrLoggedSpanID, hex.EncodeToString(r.Trace.SpanID[:]))
		}
		if r.Trace.ParentSpanID != [8]byte{} {
			a.PutStr(AttrLoggedParentID, hex.EncodeToString(r.Trace.ParentSpanID[:]))
		}
	}
	a.PutStr(AttrSampledBy, d.String())
	if r.DurationNanos < 0 {
		a.PutBool(AttrDurationUnknown, true)
	}
}

// ServiceName is the service.name of a workload's spans: its canonical
// service, else its workload name, else "unknown".
func ServiceName(w *accesslog.Workload) string {
	switch {
	case w.CanonicalService != "" && w.CanonicalService != "unknown":
		return w.CanonicalService
	case w.Name != "" && w.Name != "unknown":
		return w.Name
	}
	return "unknown"
}

// AppendName appends the span name of r to dst and returns it:
// "<destination service host>:<port>/*", the operation Istio gives the
// proxy spans of a catch-all route (its route decorator,
// "<host>:<port><match path>"; meshlens knows no route match, so the path
// is always "/*"), e.g. "reviews.default.svc.cluster.local:9080/*".
//
// Every part comes from a bounded source, never from the request: the host
// is r.Service.Host (the destination_service label, "unknown" when empty);
// the port is, by the first that has one, the upstream cluster's when it is
// an Istio cluster ("outbound|9080||reviews…", "inbound|9080||"), the
// :authority's, then, on the server side (destination and waypoint
// reporters), the local port the request arrived on; without a port there
// is no ":<port>". So the span names of a service do not grow with its
// paths, ids or query strings: the path is in url.path, the route name in
// http.route.
//
// Names are cut at MaxNameLen bytes on a UTF-8 boundary and made valid
// UTF-8. It allocates only when dst is too small.
func AppendName(dst []byte, r *accesslog.Record) []byte {
	start := len(dst)
	dst = append(dst, nameHost(r)...)
	if port := namePort(r); port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendUint(dst, uint64(port), 10)
	}
	dst = append(dst, "/*"...)
	return validCut(dst, start)
}

// validCut makes dst[start:] valid UTF-8 and cuts it to MaxNameLen bytes on
// a rune boundary.
func validCut(dst []byte, start int) []byte {
	// Replace invalid UTF-8 first (a replacement rune is 3 bytes, so it
	// may lengthen the text), then cut at a rune boundary.
	if !utf8.Valid(dst[start:]) {
		fixed := bytes.ToValidUTF8(dst[start:], []byte("\uFFFD"))
		dst = append(dst[:start], fixed...)
	}
	if name := dst[start:]; len(name) > MaxNameLen {
		cut := MaxNameLen
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		dst = dst[:start+cut]
	}
	return dst
}

// nameHost returns the host of a span name: the destination service host,
// or "unknown" when there is none.
func nameHost(r *accesslog.Record) string {
	if h := r.Service.Host; h != "" && h != "unknown" {
		return h
	}
	return "unknown"
}

// namePort returns the port of a span name, or 0 for none: the Istio
// upstream cluster's, else the :authority's, else, on the server side, the
// local port.
func namePort(r *accesslog.Record) uint32 {
	if p := clusterPort(r.Details.UpstreamCluster); p > 0 {
		return p
	}
	if _, p := splitHostPort(r.Details.Authority); p > 0 {
		return p
	}
	if r.Reporter != accesslog.ReporterSource && r.Details.LocalPort <= 65535 {
		return r.Details.LocalPort
	}
	return 0
}

// clusterPort returns the service port of an Istio cluster name, or 0:
// outbound|<port>|<subset>|<host>, inbound|<port>|…, inbound-vip|<port>|…
// and outbound_.<port>_.<subset>_.<host>.
func clusterPort(c []byte) uint32 {
	var rest []byte
	sep := byte('|')
	switch {
	case len(c) > 9 && string(c[:9]) == "outbound|":
		rest = c[9:]
	case len(c) > 8 && string(c[:8]) == "inbound|":
		rest = c[8:]
	case len(c) > 12 && string(c[:12]) == "inbound-vip|":
		rest = c[12:]
	case len(c) > 10 && string(c[:10]) == "outbound_.":
		rest, sep = c[10:], '_'
	default:
		return 0
	}
	i := bytes.IndexByte(rest, sep)
	if i < 0 {
		return 0
	}
	if p, ok := parsePort(rest[:i]); ok {
		return p
	}
	return 0
}

// genericRoute reports whether Envoy's route name is one Istio gives routes
// it did not take from a VirtualService or HTTPRoute: it names no route.
func genericRoute(name []byte) bool {
	switch string(name) {
	case "", "default", "allow_any", "block_all":
		return true
	}
	return false
}

// stringBytes returns the bytes of s without copying them; they must not
// be written to.
func stringBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// pathOnly cuts the query and fragment off a request path. It reads 8
// bytes at a time (bytes.IndexAny tests byte by byte).
func pathOnly(p []byte) []byte {
	i := 0
	for ; len(p)-i >= 8; i += 8 {
		if k := queryIndex(binary.LittleEndian.Uint64(p[i:])); k < 8 {
			return p[:i+k]
		}
	}
	if r := len(p) - i; r > 0 {
		var w uint64 // the last r bytes, zero-padded (zero is neither '?' nor '#')
		if len(p) >= 8 {
			w = binary.LittleEndian.Uint64(p[len(p)-8:]) >> (64 - 8*r)
		} else {
			for j := len(p) - 1; j >= i; j-- {
				w = w<<8 | uint64(p[j])
			}
		}
		if k := queryIndex(w); k < r {
			return p[:i+k]
		}
	}
	return p
}

// queryIndex returns the index of the first '?' or '#' among the 8 bytes
// of w (little-endian), or 8: the zero-byte test on w^'?' and w^'#', whose
// lowest hit is exact.
func queryIndex(w uint64) int {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	x, y := w^('?'*lsb), w^('#'*lsb)
	return bits.TrailingZeros64(((x-lsb)&^x|(y-lsb)&^y)&msb) / 8
}

// grpcMethod splits "/package.Service/Method".
func grpcMethod(path []byte) (svc, method []byte, ok bool) {
	if len(path) < 4 || path[0] != '/' {
		return nil, nil, false
	}
	i := bytes.LastIndexByte(path, '/')
	if i <= 1 || i == len(path)-1 {
		return nil, nil, false
	}
	return path[1:i], path[i+1:], true
}

// splitHostPort splits an :authority ("host", "host:port", "[v6]:port").
// A port that is not a number in 1..65535 is left in the host.
func splitHostPort(a []byte) (host []byte, port uint32) {
	if len(a) > 0 && a[0] == '[' {
		end := bytes.IndexByte(a, ']')
		if end < 0 {
			return a, 0
		}
		host, rest := a[1:end], a[end+1:]
		if len(rest) > 1 && rest[0] == ':' {
			if p, ok := parsePort(rest[1:]); ok {
				return host, p
			}
		}
		return host, 0
	}
	i := bytes.LastIndexByte(a, ':')
	if i < 0 || bytes.IndexByte(a[:i], ':') >= 0 { // none, or a bare IPv6 address
		return a, 0
	}
	if p, ok := parsePort(a[i+1:]); ok {
		return a[:i], p
	}
	return a, 0
}

func parsePort(b []byte) (uint32, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	var p uint32
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		p = p*10 + uint32(c-'0')
	}
	return p, p > 0 && p <= 65535
}

// statusMessage explains a failed request in the span status.
func statusMessage(r *accesslog.Record) string {
	if d := r.Details.ResponseDetails; len(d) > 0 && string(d) != "via_upstream" {
		return text(d)
	}
	if r.Flags&accesslog.ProxyFailureFlags != 0 {
		return "response flags " + r.Flags.String()
	}
	switch {
	case r.Protocol == accesslog.ProtocolGRPC && r.GRPCStatus > 0:
		return "gRPC status " + strconv.Itoa(int(r.GRPCStatus))
	case r.ResponseCode == 0:
		return "no response"
	}
	return "HTTP " + strconv.Itoa(int(r.ResponseCode))
}

// text copies borrowed bytes into a string that is valid UTF-8 (OTLP
// rejects invalid strings, and one bad span would fail its whole batch).
func text(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return string(bytes.ToValidUTF8(b, []byte("\uFFFD")))
}
