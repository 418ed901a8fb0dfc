package accesslog

import (
	"bytes"
	"time"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// Envoy access_log_type values (envoy.data.accesslog.v3.AccessLogType).
const (
	logTypeNotSet             = 0
	logTypeTCPUpstreamConn    = 1
	logTypeTCPPeriodic        = 2
	logTypeTCPConnectionEnd   = 3
	logTypeDownstreamStart    = 4
	logTypeDownstreamPeriodic = 5
	logTypeDownstreamEnd      = 6
	logTypeTCPConnectionStart = 14
)

var methodNames = [...]string{"", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

var httpVersions = [...]string{"", "1.0", "1.1", "2", "3"}

// normalize fills r from entry e of this stream. It allocates only when it
// meets a label value the stream has not seen before.
func (s *Stream) normalize(e *entry.Entry, r *Record, nowNano int64) {
	p := s.proxy
	r.NodeID = p.NodeID

	// Which side reported.
	cluster := e.UpstreamCluster
	r.Reporter = s.reporter(e)

	// Final entries end a request or connection.
	switch e.AccessLogType {
	case logTypeDownstreamEnd, logTypeTCPConnectionEnd:
		r.Final = true
	case logTypeNotSet:
		r.Final = !e.IntermediateLogEntry
	}

	// Protocol.
	switch {
	case e.TCP:
		r.Kind, r.Protocol = KindTCP, ProtocolTCP
	case !e.HasRequest && !e.HasResponse && e.ProtocolVersion == 0:
		// An HTTP logger attached to a tcp_proxy (istiod attaches every
		// provider everywhere): the entry has no request at all.
		r.Kind, r.Protocol = KindTCP, ProtocolTCP
	case hasPrefixFold(e.ContentType, "application/grpc"):
		r.Kind, r.Protocol = KindHTTP, ProtocolGRPC
	case e.ProtocolVersion == 3 && (len(e.GRPCStatusTrailer) > 0 || len(e.GRPCStatusHeader) > 0):
		r.Kind, r.Protocol = KindHTTP, ProtocolGRPC
	default:
		r.Kind, r.Protocol = KindHTTP, ProtocolHTTP
	}

	// Status.
	if e.HasResponseCode {
		r.ResponseCode = e.ResponseCode
	}
	r.GRPCStatus = -1
	if r.Protocol == ProtocolGRPC {
		r.GRPCStatus = grpcStatus(e)
	}
	r.Flags = ResponseFlags(e.ResponseFlags)

	// Timing and bytes.
	r.StartUnixNano = e.StartTime
	if !e.HasStartTime {
		r.StartUnixNano = nowNano
	}
	switch {
	case e.HasDuration:
		r.DurationNanos = e.Duration
	case e.HasTimeToLastDownstreamTxByte && r.Final:
		r.DurationNanos = e.TimeToLastDownstreamTxByte
	default:
		r.DurationNanos = -1
	}
	if e.HasWireBytes {
		r.RequestBytes, r.ResponseBytes = e.DownstreamWireBytesReceived, e.DownstreamWireBytesSent
	} else {
		r.RequestBytes = e.RequestHeadersBytes + e.RequestBodyBytes
		r.ResponseBytes = e.ResponseHeadersBytes + e.ResponseBodyBytes
	}
	if r.Kind == KindTCP {
		s.tcpCounters(e, r, nowNano)
	} else if e.HasGRPCStats {
		r.RequestMessages, r.ResponseMessages = e.GRPCRequestMessages, e.GRPCResponseMessages
		if len(e.StreamID) > 0 && s.conns != nil && (!r.Final || e.AccessLogType == logTypeDownstreamEnd) {
			r.RequestMessages, r.ResponseMessages, _ = s.conns.Track(s.connKey(e), e.GRPCRequestMessages, e.GRPCResponseMessages, r.Final, unixTime(nowNano))
		}
	}
	s.plausible(r)

	// Identities.
	local := p.Workload
	switch r.Reporter {
	case ReporterDestination:
		r.Destination, r.DestinationFrom = local, p.WorkloadFrom
		r.Destination.Principal = orUnknown(s.internSAN(e.LocalURISAN, FieldLocalPrincipal))
		r.SourceFrom = s.peerFromDownstream(e, &r.Source)
		if len(e.LocalURISAN) > 0 && len(e.PeerURISAN) > 0 {
			r.Security = SecurityMutualTLS
		} else {
			r.Security = SecurityNone
		}
	case ReporterWaypoint:
		r.SourceFrom = s.peerFromDownstream(e, &r.Source)
		r.DestinationFrom = s.peerFromUpstream(e, &r.Destination)
		if len(e.LocalURISAN) > 0 && len(e.PeerURISAN) > 0 {
			r.Security = SecurityMutualTLS
		} else {
			r.Security = SecurityNone
		}
	default:
		r.Source, r.SourceFrom = local, p.WorkloadFrom
		r.DestinationFrom = s.peerFromUpstream(e, &r.Destination)
		r.Source.Principal = unknown
		if p.ServiceAccount != "" && r.DestinationFrom == FromPeerMetadata {
			if td := trustDomain(r.Destination.Principal); td != "" {
				r.Source.Principal = s.spiffe(td, local.Namespace, p.ServiceAccount)
			}
		}
		r.Security = SecurityUnknown
	}
	peer := s.service(e, r)
	if r.Reporter == ReporterSource {
		switch {
		case r.DestinationFrom == FromPeerMetadata:
			if r.Service.Namespace == unknown {
				// Istio: the cluster's namespace, else the peer's.
				r.Service.Namespace = r.Destination.Namespace
			}
		case peer == peerWorkload || peer == peerService && r.Service.Namespace != unknown:
			// No peer metadata: the service the cluster names
			// (configuration, not the request) stands in for Istio's
			// endpoint metadata, which the access log does not carry. The
			// workload stays unknown, except in meshes whose identity is
			// the service (Consul, App Mesh).
			r.Destination.Namespace = r.Service.Namespace
			r.Destination.CanonicalService = r.Service.Name
			if peer == peerWorkload {
				r.Destination.Name = r.Service.Name
			}
			r.DestinationFrom = r.ServiceFrom
		}
	}

	parseTrace(e, &r.Trace)

	d := &r.Details
	d.RequestID = e.RequestID
	if int(e.Method) < len(methodNames) {
		d.Method = methodNames[e.Method]
	}
	d.Scheme, d.Authority, d.Path, d.UserAgent = e.Scheme, e.Authority, e.Path, e.UserAgent
	d.UpstreamCluster, d.RouteName, d.ResponseDetails = cluster, e.RouteName, e.ResponseCodeDetails
	d.Tracestate, d.StreamID = e.Tracestate, e.StreamID
	if r.Reporter == ReporterSource {
		d.PeerAddress, d.PeerPort = e.UpstreamRemote.Host, e.UpstreamRemote.Port
	} else {
		d.PeerAddress, d.PeerPort = e.DownstreamRemote.Host, e.DownstreamRemote.Port
	}
	d.LocalAddress, d.LocalPort = e.DownstreamLocal.Host, e.DownstreamLocal.Port
	if int(e.ProtocolVersion) < len(httpVersions) {
		d.HTTPVersion = httpVersions[e.ProtocolVersion]
	}
	d.Attempts = e.UpstreamRequestAttemptCount
}

// reporter decides which side of the call the proxy was on.
func (s *Stream) reporter(e *entry.Entry) Reporter {
	c := e.UpstreamCluster
	switch s.proxy.Kind {
	case ProxyRouter, ProxyEnvoyGateway, ProxyAppMeshGateway:
		return ReporterSource
	case ProxyWaypoint:
		return ReporterWaypoint
	case ProxyConsul:
		return sidecarSide(bytes.Equal(c, []byte("local_app")) || bytes.HasPrefix(c, []byte("exposed_cluster_")), e)
	case ProxyAppMesh:
		return sidecarSide(bytes.HasPrefix(c, []byte("cds_ingress_")), e)
	case ProxySidecar:
		switch {
		case bytes.HasPrefix(c, []byte("outbound")), bytes.Equal(c, []byte("PassthroughCluster")), bytes.Equal(c, []byte("BlackHoleCluster")):
			return ReporterSource
		case bytes.HasPrefix(c, []byte("inbound")), bytes.HasPrefix(c, []byte("InboundPassthroughCluster")):
			return ReporterDestination
		}
		// No upstream was chosen (local reply, NR): inbound when the request
		// arrived on one of the proxy's own addresses.
		if s.proxy.ownsIP(e.DownstreamLocal.Host) {
			return ReporterDestination
		}
		return ReporterSource
	}
	return ReporterSource
}

// sidecarSide is the side of a non-Istio sidecar's entry: inbound when its
// cluster is the local application's, outbound for any other cluster; with
// no cluster (a local reply), inbound when the entry carries a local
// certificate, as the inbound listener is the one that terminates mesh TLS.
func sidecarSide(localApp bool, e *entry.Entry) Reporter {
	switch {
	case localApp:
		return ReporterDestination
	case len(e.UpstreamCluster) > 0:
		return ReporterSource
	case len(e.LocalURISAN) > 0:
		return ReporterDestination
	}
	return ReporterSource
}

// peerFromUpstream fills the callee seen by a client-side proxy.
func (s *Stream) peerFromUpstream(e *entry.Entry, w *Workload) IdentitySource {
	if pp := e.UpstreamPeer; pp != nil {
		s.fillPeer(pp, w)
		return FromPeerMetadata
	}
	unknownWorkload(w)
	return FromNone
}

// peerFromDownstream fills the caller seen by a server-side proxy.
func (s *Stream) peerFromDownstream(e *entry.Entry, w *Workload) IdentitySource {
	if pp := e.DownstreamPeer; pp != nil {
		s.fillPeer(pp, w)
		if len(e.PeerURISAN) > 0 {
			w.Principal = s.internSAN(e.PeerURISAN, FieldPeerPrincipal)
		}
		return FromPeerMetadata
	}
	unknownWorkload(w)
	if len(e.PeerURISAN) == 0 {
		return FromNone
	}
	// Istio: the peer principal is the certificate's URI SAN whatever its
	// form; a SPIFFE id names the namespace, Consul's the service too.
	w.Principal = s.internSAN(e.PeerURISAN, FieldPeerPrincipal)
	if ns, ok := spiffeNamespace(e.PeerURISAN); ok {
		w.Namespace = s.intern(ns, FieldPeerPrincipal)
	}
	if svc, ok := consulSANService(e.PeerURISAN); ok && s.proxy.Kind == ProxyConsul {
		w.Name = s.intern(svc, FieldPeerPrincipal)
		w.CanonicalService = w.Name
	}
	return FromSAN
}

// consulSANService returns <svc> from Consul's service identity,
// spiffe://<td>/[ap/<ap>/]ns/<ns>/dc/<dc>/svc/<svc>.
func consulSANService(uri []byte) ([]byte, bool) {
	i := bytes.LastIndex(uri, []byte("/svc/"))
	if i < 0 || !bytes.Contains(uri[:i], []byte("/dc/")) {
		return nil, false
	}
	svc := uri[i+5:]
	return svc, len(svc) > 0 && bytes.IndexByte(svc, '/') < 0
}

func unknownWorkload(w *Workload) {
	*w = Workload{
		Name: unknown, Namespace: unknown, CanonicalService: unknown, CanonicalRevision: "latest",
		App: unknown, Version: unknown, Cluster: unknown, Principal: unknown,
	}
}

// fillPeer fills w from a peer object. A proxy sees the same few peers over
// and over: their labels are cached by the peer's encoded bytes, which
// replaces ten interning lookups with one.
func (s *Stream) fillPeer(pp *entry.Peer, w *Workload) {
	if m := int(pp.Memo) - 1; m >= 0 {
		if s.msgPeerOK[m] {
			*w = s.msgPeers[m]
			return
		}
		defer func() { s.msgPeers[m], s.msgPeerOK[m] = *w, true }()
	}
	if len(pp.Raw) > 0 {
		if c, ok := s.peers[string(pp.Raw)]; ok {
			*w = c
			return
		}
		defer s.cachePeer(pp.Raw, w)
	}
	const f = FieldPeerMetadata
	w.Name = orUnknown(s.intern(firstBytes(pp.Workload, pp.Name), f))
	w.Namespace = orUnknown(s.intern(pp.Namespace, f))
	w.CanonicalService = orUnknown(s.intern(firstBytes(pp.Service, pp.App, pp.Workload), f))
	w.CanonicalRevision = s.intern(firstBytes(pp.Revision, pp.Version), f)
	if w.CanonicalRevision == "" {
		w.CanonicalRevision = "latest"
	}
	w.App = orUnknown(s.intern(pp.App, f))
	w.Version = orUnknown(s.intern(pp.Version, f))
	w.Cluster = orUnknown(s.intern(pp.Cluster, f))
	w.Principal = orUnknown(s.intern(pp.Identity, f))
	if ns, ok := spiffeNamespace(pp.Identity); ok && len(pp.Namespace) == 0 {
		w.Namespace = s.intern(ns, f)
	}
}

// cachePeer remembers a peer's labels by its encoding, within the stream's
// bounds: at most MaxInterned peers, their encodings counted in
// MaxInternedBytes, none longer than 8 × MaxLabelLength (a peer's eight
// label fields at their longest). A peer that does not fit is not cached:
// its labels are interned again at each entry, which allocates nothing.
func (s *Stream) cachePeer(raw []byte, w *Workload) {
	if len(s.peers) >= s.cfg.MaxInterned || len(raw) > 8*s.cfg.MaxLabelLength || s.internBytes+len(raw) > s.cfg.MaxInternedBytes {
		return
	}
	s.peers[string(raw)] = *w
	s.internBytes += len(raw)
}

func firstBytes(b ...[]byte) []byte {
	for _, v := range b {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

// spiffeNamespace returns <ns> from spiffe://<td>/ns/<ns>/sa/<sa>.
func spiffeNamespace(uri []byte) ([]byte, bool) {
	const prefix = "spiffe://"
	if !bytes.HasPrefix(uri, []byte(prefix)) {
		return nil, false
	}
	rest := uri[len(prefix):]
	i := bytes.Index(rest, []byte("/ns/"))
	if i < 0 {
		return nil, false
	}
	rest = rest[i+4:]
	if j := bytes.IndexByte(rest, '/'); j >= 0 {
		rest = rest[:j]
	}
	return rest, len(rest) > 0
}

// trustDomain returns <td> from a spiffe:// URI.
func trustDomain(uri string) string {
	const prefix = "spiffe://"
	if len(uri) <= len(prefix) || uri[:len(prefix)] != prefix {
		return ""
	}
	rest := uri[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i]
		}
	}
	return rest
}

func (s *Stream) spiffe(td, ns, sa string) string {
	// The local principal is the same for every record of the stream with
	// the same trust domain: remember the last one.
	if s.principal != "" && s.principalTD == td {
		return s.principal
	}
	s.principalTD = td
	b := s.scratch[:0]
	b = append(b, "spiffe://"...)
	b = append(b, td...)
	b = append(b, "/ns/"...)
	b = append(b, ns...)
	b = append(b, "/sa/"...)
	b = append(b, sa...)
	s.scratch = b
	s.principal = s.intern(b, FieldLocalPrincipal)
	return s.principal
}

// grpcStatus follows Envoy: trailer, then header, then mapped from HTTP.
func grpcStatus(e *entry.Entry) int32 {
	for _, v := range [2][]byte{e.GRPCStatusTrailer, e.GRPCStatusHeader} {
		if n, ok := parseSmallUint(v); ok {
			return int32(n)
		}
	}
	if !e.HasResponseCode || e.ResponseCode == 0 {
		return -1
	}
	switch e.ResponseCode {
	case 400:
		return 13
	case 401:
		return 16
	case 403:
		return 7
	case 404:
		return 12
	case 429, 502, 503, 504:
		return 14
	}
	return 2
}

func parseSmallUint(b []byte) (uint32, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var n uint32
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint32(c-'0')
	}
	return n, true
}

func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// tcpCounters turns cumulative TCP byte counters into deltas and decides
// whether the entry opens and/or closes a connection.
func (s *Stream) tcpCounters(e *entry.Entry, r *Record, nowNano int64) {
	sent, recv := e.TCPSentBytes, e.TCPReceivedBytes
	if e.HasWireBytes {
		sent, recv = e.DownstreamWireBytesSent, e.DownstreamWireBytesReceived
	}
	periodic := e.AccessLogType == logTypeTCPPeriodic || e.AccessLogType == logTypeTCPUpstreamConn ||
		e.AccessLogType == logTypeTCPConnectionStart || e.AccessLogType == logTypeDownstreamPeriodic ||
		e.AccessLogType == logTypeDownstreamStart
	// A connection is tracked by its stream_id, else by its addresses (the
	// final entry of a connection whose periodic entries were counted must
	// count only what they did not, and end the tracking).
	keyed := len(e.StreamID) > 0 || len(e.DownstreamRemote.Host) > 0 && e.DownstreamRemote.Port != 0
	switch {
	case s.conns != nil && keyed && (periodic || r.Final):
		var first bool
		r.TCPSentBytes, r.TCPReceivedBytes, first = s.conns.Track(s.connKey(e), sent, recv, r.Final, unixTime(nowNano))
		r.TCPOpened = first
	case periodic || !r.Final:
		// Without a tracker periodic entries cannot be turned into deltas:
		// count only what the final entry says.
	default:
		r.TCPSentBytes, r.TCPReceivedBytes = sent, recv
		r.TCPOpened = true
	}
	r.TCPClosed = r.Final
}

func (s *Stream) connKey(e *entry.Entry) ConnKey {
	h := s.nodeHash
	if len(e.StreamID) > 0 {
		return ConnKey(hashBytes(h^0x01, e.StreamID))
	}
	h = hashBytes(h^0x02, e.DownstreamRemote.Host)
	h = hashBytes(h^uint64(e.DownstreamRemote.Port), e.DownstreamLocal.Host)
	return ConnKey(h ^ uint64(e.DownstreamLocal.Port)<<32)
}

// Plausibility bounds: what no Envoy reports for one request or connection.
// A value beyond them is clamped to the bound and counted, so that one
// broken or hostile entry cannot put an edge's average latency at 1e11 ms
// or a byte counter at 1.8e19 (docs/metrics.md states the rules).
const (
	// MaxDuration is the longest duration taken as it is: 30 days (a
	// long-lived stream or connection may last days, not months).
	MaxDuration = 30 * 24 * time.Hour
	// MaxBytes is the most bytes one entry may count in one direction: 1 PiB.
	MaxBytes = 1 << 50
	// MaxMessages is the most gRPC messages one entry may count in one
	// direction: 2^40.
	MaxMessages = 1 << 40
)

// plausible clamps r's numbers to the plausibility bounds, counting each
// clamped field in s.Clamped.
func (s *Stream) plausible(r *Record) {
	if r.DurationNanos > int64(MaxDuration) {
		r.DurationNanos = int64(MaxDuration)
		s.Clamped[ClampDuration]++
	} else if r.DurationNanos < -1 {
		r.DurationNanos = -1 // as if not logged
		s.Clamped[ClampDuration]++
	}
	if r.RequestBytes > MaxBytes || r.ResponseBytes > MaxBytes || r.TCPSentBytes > MaxBytes || r.TCPReceivedBytes > MaxBytes {
		r.RequestBytes, r.ResponseBytes = min(r.RequestBytes, MaxBytes), min(r.ResponseBytes, MaxBytes)
		r.TCPSentBytes, r.TCPReceivedBytes = min(r.TCPSentBytes, MaxBytes), min(r.TCPReceivedBytes, MaxBytes)
		s.Clamped[ClampBytes]++
	}
	if r.RequestMessages > MaxMessages || r.ResponseMessages > MaxMessages {
		r.RequestMessages, r.ResponseMessages = min(r.RequestMessages, MaxMessages), min(r.ResponseMessages, MaxMessages)
		s.Clamped[ClampMessages]++
	}
}

// MethodNumber is the config.core.v3.RequestMethod number of an HTTP
// method name (entry.Entry.Method), 0 when it is not one of Envoy's.
func MethodNumber(name []byte) uint32 {
	for i := 1; i < len(methodNames); i++ {
		if string(name) == methodNames[i] {
			return uint32(i) //nolint:gosec // < 10
		}
	}
	return 0
}
