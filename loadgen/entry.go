package loadgen

import (
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type logKind uint8

const (
	kindHTTP logKind = iota
	kindTCP
)

// Response details and bodies Envoy produces for a refused upstream
// connection after Istio's default retries (2 retries, so 3 attempts).
const (
	ufDetails          = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"
	ufTransportFailure = "delayed_connect_error:_111"
	ufBody             = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111"
	ufAttempts         = 3
	grpcUA             = "grpc-go/1.75.0"
	browserUA          = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36"
	inboundSourceIP    = "127.0.0.6"
	gatewayListenPort  = 8080
	grpcUnavailable    = "14"
)

// sink receives what the generator produces. at is Unix nanoseconds of the
// moment Envoy would write (flush) the entry / the stat changes.
type sink interface {
	entry(p *proxy, kind logKind, worker int, at int64, b []byte)
	event(ev statEvent)
}

type evKind uint8

const (
	evReqStart evKind = iota
	evReqEnd
	evConnOpen
	evConnClose
)

// statEvent is a change of Envoy stats a proxy would see (Metrics Service).
type statEvent struct {
	at       int64
	seq      uint64
	p        *proxy
	kind     evKind
	server   bool
	edge     *cedge
	code     uint32
	connFail bool
	sent     uint64
	received uint64
}

type outcome uint8

const (
	outcomeOK outcome = iota
	outcome5xx
	outcome4xx
	outcomeGRPCError
	outcomeConnFail
)

var grpcErrorStatuses = [...]string{"2", "3", "4", "5", "13", "14"}

// generator turns simulated calls into entries. It owns its random source;
// every value it produces derives from (seed, chunk) and the call start
// times. A generator is used by one goroutine.
type generator struct {
	c          *compiled
	cfg        GenConfig
	rng        *rand.Rand
	led        *Ledger
	sink       sink
	wantEvents bool
	arena      []byte
	scratch    [3][]byte
	tlsCache   map[[2]int]*accesslogv3.TLSProperties
	idBuf      [16]byte
}

func newGenerator(c *compiled, cfg GenConfig, chunk uint64, s sink, led *Ledger, wantEvents bool) *generator {
	return &generator{
		c:          c,
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15^chunk)),
		led:        led,
		sink:       s,
		wantEvents: wantEvents,
		tlsCache:   map[[2]int]*accesslogv3.TLSProperties{},
	}
}

const arenaChunk = 4 << 20

// emit hands an encoded entry to the sink.
func (g *generator) emit(p *proxy, kind logKind, worker int, at time.Time, b []byte) {
	g.sink.entry(p, kind, worker, at.UnixNano(), b)
	g.led.Entries++
	if kind == kindHTTP {
		g.led.HTTPEntries++
	} else {
		g.led.TCPEntries++
	}
}

func (g *generator) event(ev statEvent) {
	if g.wantEvents {
		g.sink.event(ev)
	}
}

func (g *generator) worker() int {
	if g.cfg.StreamsPerProxy <= 1 {
		return 0
	}
	return g.rng.IntN(g.cfg.StreamsPerProxy)
}

func (g *generator) uuid() string {
	r := g.rng
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			g.idBuf[i+j] = byte(v >> (8 * j))
		}
	}
	g.idBuf[6] = g.idBuf[6]&0x0f | 0x40
	g.idBuf[8] = g.idBuf[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], g.idBuf[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], g.idBuf[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], g.idBuf[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], g.idBuf[8:10])
	s[23] = '-'
	hex.Encode(s[24:], g.idBuf[10:16])
	return string(s[:])
}

func (g *generator) hexID(nbytes int) string {
	var b [16]byte
	for {
		for i := 0; i < nbytes; i += 8 {
			v := g.rng.Uint64()
			for j := 0; j < 8 && i+j < nbytes; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		for _, x := range b[:nbytes] {
			if x != 0 {
				return hex.EncodeToString(b[:nbytes])
			}
		}
	}
}

func (g *generator) ephemeral() uint32 { return uint32(32768 + g.rng.IntN(28231)) }

func (g *generator) micros(lo, hi int) time.Duration {
	return time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Microsecond
}

// jitter returns n scaled uniformly into [n/2, 3n/2].
func (g *generator) jitter(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return uint64(n/2 + g.rng.IntN(n+1))
}

func (g *generator) latency(e *cedge) time.Duration {
	d := math.Exp(e.mu + e.sigma*g.rng.NormFloat64())
	lo, hi := float64(50*time.Microsecond), 20*float64(e.Latency.P99)
	d = min(max(d, lo), hi)
	return time.Duration(d)
}

func pickCum(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// call simulates one request (or TCP connection) starting at start.
func (g *generator) call(start time.Time) {
	r := g.rng
	e := g.c.edges[pickCum(r, g.c.cum)]
	cp := e.from.proxies[r.IntN(len(e.from.proxies))]
	var sp *proxy
	if e.to.External == InMesh {
		sw := e.to.workloads[pickCum(r, e.to.cumWeights)]
		sp = sw.proxies[r.IntN(len(sw.proxies))]
	}
	g.led.SimulatedRequests++
	x := e.Errors
	oc := outcomeOK
	switch u := r.Float64(); {
	case u < x.ConnectionFailure:
		oc = outcomeConnFail
	case u < x.ConnectionFailure+x.HTTP5xx:
		oc = outcome5xx
	case u < x.ConnectionFailure+x.HTTP5xx+x.HTTP4xx:
		oc = outcome4xx
	case u < x.ConnectionFailure+x.HTTP5xx+x.HTTP4xx+x.GRPCError:
		oc = outcomeGRPCError
	}
	if e.Protocol == ProtocolTCP {
		g.tcpCall(e, cp, sp, start, oc == outcomeConnFail)
		return
	}
	g.httpCall(e, cp, sp, start, oc)
}

// timings fills the time_to_* offsets of an entry of duration d whose proxy
// spent front before sending upstream and back after the last upstream byte.
func timings(c *accesslogv3.AccessLogCommon, d, front, back time.Duration, upstream bool) {
	c.TimeToLastRxByte = durationpb.New(front / 5)
	if upstream {
		lastUpRx := d - back
		firstUpRx := front + (lastUpRx-front)*9/10
		c.TimeToFirstUpstreamTxByte = durationpb.New(front * 9 / 10)
		c.TimeToLastUpstreamTxByte = durationpb.New(front)
		c.TimeToFirstUpstreamRxByte = durationpb.New(firstUpRx)
		c.TimeToLastUpstreamRxByte = durationpb.New(lastUpRx)
		c.TimeToFirstDownstreamTxByte = durationpb.New(firstUpRx + back/4)
	} else {
		c.TimeToFirstDownstreamTxByte = durationpb.New(d - back)
	}
	c.TimeToLastDownstreamTxByte = durationpb.New(d - back/5)
	c.Duration = durationpb.New(d)
}

// split scales front, back and net down so that they take at most half of d.
func split(d time.Duration, parts ...*time.Duration) {
	var sum time.Duration
	for _, p := range parts {
		sum += *p
	}
	if sum <= d/2 || sum == 0 {
		return
	}
	f := float64(d/2) / float64(sum)
	for _, p := range parts {
		*p = time.Duration(float64(*p) * f)
	}
}

func grpcStatusFromHTTP(code uint32) string {
	switch code {
	case 200:
		return "0"
	case 400:
		return "13"
	case 401:
		return "16"
	case 403:
		return "7"
	case 404:
		return "12"
	case 429, 502, 503, 504:
		return "14"
	}
	return "2"
}

// grpcStatsAny returns the grpc_stats filter state object Envoy logs under
// envoy.filters.http.grpc_stats (cumulative message counts).
func grpcStatsAny(req, resp uint64) *anypb.Any {
	a, err := anypb.New(&grpcstatsv3.FilterObject{RequestMessageCount: req, ResponseMessageCount: resp})
	if err != nil {
		panic("loadgen: encode grpc_stats: " + err.Error())
	}
	return a
}

func (g *generator) tls(e *cedge, cp, sp *proxy) *accesslogv3.TLSProperties {
	// The edge fixes the caller workload (peer SAN) and the SNI; the callee
	// pod fixes the local SAN.
	k := [2]int{e.idx, sp.idx}
	if t, ok := g.tlsCache[k]; ok {
		return t
	}
	san := func(uri string) *accesslogv3.TLSProperties_CertificateProperties {
		return &accesslogv3.TLSProperties_CertificateProperties{SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: uri}},
		}}
	}
	t := &accesslogv3.TLSProperties{
		TlsVersion:                 accesslogv3.TLSProperties_TLSv1_3,
		TlsCipherSuite:             wrapperspb.UInt32(0x1301), // TLS_AES_128_GCM_SHA256
		TlsSniHostname:             e.to.sni,
		LocalCertificateProperties: san(sp.wl.spiffe),
		PeerCertificateProperties:  san(cp.wl.spiffe),
	}
	g.tlsCache[k] = t
	return t
}

type traceCtx struct {
	traced, sampled                     bool
	traceID, parent, clientSpan, server string
}

func (g *generator) trace(e *cedge) traceCtx {
	var t traceCtx
	if e.Trace == TraceNone {
		return t
	}
	if g.cfg.UntracedShare > 0 && g.rng.Float64() < g.cfg.UntracedShare {
		return t
	}
	t.traced = true
	t.sampled = g.cfg.UnsampledShare <= 0 || g.rng.Float64() >= g.cfg.UnsampledShare
	t.traceID = g.hexID(16)
	t.parent = g.hexID(8)
	t.clientSpan = g.hexID(8)
	t.server = g.hexID(8)
	return t
}

// traceHeaders adds the logged trace headers (additional_request_headers_to_log)
// carrying span as the current span and parent as its parent to h and returns
// their size on the wire.
func traceHeaders(h map[string]string, style TraceStyle, t *traceCtx, span, parent string) int {
	if !t.traced {
		return 0
	}
	n := 0
	if style == TraceW3C || style == TraceW3CAndB3 {
		flags := "00"
		if t.sampled {
			flags = "01"
		}
		v := "00-" + t.traceID + "-" + span + "-" + flags
		h["traceparent"] = v
		n += len("traceparent") + len(v) + 4
	}
	if style == TraceB3 || style == TraceW3CAndB3 {
		s := "0"
		if t.sampled {
			s = "1"
		}
		h["x-b3-traceid"] = t.traceID
		h["x-b3-spanid"] = span
		h["x-b3-parentspanid"] = parent
		h["x-b3-sampled"] = s
		n += 12 + 32 + 11 + 16 + 17 + 16 + 12 + 1 + 16
	}
	return n
}

func (g *generator) httpCall(e *cedge, cp, sp *proxy, start time.Time, oc outcome) {
	r := g.rng
	grpc := e.Protocol == ProtocolGRPC
	reqID := g.uuid()
	path := e.paths[r.IntN(len(e.paths))]
	fail := oc == outcomeConnFail
	reached := sp != nil && !fail

	reqMsgs, respMsgs := uint64(1), uint64(1)
	if grpc && e.Messages > 1 {
		reqMsgs = 1 + uint64(r.IntN(e.Messages))
		respMsgs = 1 + uint64(r.IntN(e.Messages))
	}
	var (
		code         uint32
		grpcTrailer  string // grpc-status response trailer
		grpcHeader   string // grpc-status response header (trailers-only reply)
		reqBody      uint64
		respBody     uint64
		details      = "via_upstream"
		ledgerStatus string
	)
	switch {
	case grpc:
		for range reqMsgs {
			reqBody += 5 + g.jitter(e.RequestBytes)
		}
	case e.method != corev3.RequestMethod_GET && e.method != corev3.RequestMethod_HEAD:
		reqBody = g.jitter(e.RequestBytes)
	}
	switch oc {
	case outcomeOK:
		code = 200
		if grpc {
			grpcTrailer = "0"
			for range respMsgs {
				respBody += 5 + g.jitter(e.ResponseBytes)
			}
		} else {
			respBody = g.jitter(e.ResponseBytes)
		}
	case outcome5xx:
		code = 500
		if r.IntN(10) < 3 {
			code = 503
		}
		respBody, respMsgs = uint64(20+r.IntN(120)), 0
	case outcome4xx:
		switch r.IntN(20) {
		case 0, 1, 2:
			code = 429
		case 3, 4, 5, 6, 7:
			code = 400
		default:
			code = 404
		}
		respBody, respMsgs = uint64(9+r.IntN(80)), 0
	case outcomeGRPCError:
		code = 200
		grpcTrailer = grpcErrorStatuses[r.IntN(len(grpcErrorStatuses))]
		respMsgs = 0
	case outcomeConnFail:
		details = ufDetails
		respMsgs = 0
		if grpc {
			code, grpcHeader = 200, grpcUnavailable
		} else {
			code, respBody = 503, uint64(len(ufBody))
		}
	}
	if grpc {
		switch {
		case grpcTrailer != "":
			ledgerStatus = grpcTrailer
		case grpcHeader != "":
			ledgerStatus = grpcHeader
		default:
			ledgerStatus = grpcStatusFromHTTP(code)
		}
		if oc != outcomeOK && oc != outcomeGRPCError {
			respBody = 0
		}
	}

	tc := g.trace(e)

	// Durations: the client sees the whole request; the server the part
	// between the client sidecar's first upstream byte and its last response
	// byte, minus the network in both directions.
	var dc, ds, front, back, netHalf time.Duration
	if fail {
		// three refused connects and two jittered retry back-offs (25 ms base)
		dc = 3*g.micros(300, 1800) + g.micros(0, 25000) + g.micros(0, 50000)
		front, back = g.micros(40, 200), g.micros(10, 60)
		split(dc, &front, &back)
	} else {
		dc = g.latency(e)
		front, back, netHalf = g.micros(60, 400), g.micros(15, 75), g.micros(20, 150)
		if sp != nil {
			split(dc, &front, &back, &netHalf, &netHalf)
		} else {
			split(dc, &front, &back)
		}
		ds = dc - front - back - 2*netHalf
	}

	// Headers and bytes. Sizes approximate what the application sends plus
	// what the sidecars add (x-envoy-peer-metadata, x-forwarded-client-cert…).
	ua := e.userAgent
	switch {
	case cp.wl.Gateway:
		ua = browserUA
	case grpc:
		ua = grpcUA
	}
	clientHdr := map[string]string{}
	serverHdr := map[string]string{}
	ct := ""
	switch {
	case grpc:
		ct = "application/grpc"
	case reqBody > 0:
		ct = "application/json"
	}
	if ct != "" {
		clientHdr["content-type"] = ct
		serverHdr["content-type"] = ct
	}
	traceLen := traceHeaders(clientHdr, e.Trace, &tc, tc.clientSpan, tc.parent)
	traceHeaders(serverHdr, e.Trace, &tc, tc.server, tc.clientSpan)
	if tc.traced {
		g.led.Traced++
		if tc.sampled {
			g.led.Sampled++
		}
	}
	reqHdr := uint64(70 + len(e.methodStr) + len(path) + len(e.authority) + len(ua) + 50 + len(ct) + traceLen + r.IntN(60))
	respHdr := uint64(110 + r.IntN(70))
	reqHdrS := reqHdr + uint64(420+r.IntN(40))
	if e.MTLS {
		reqHdrS += uint64(220 + len(cp.wl.spiffe))
	}
	respHdrS := respHdr + uint64(400+r.IntN(40))
	wire := func(hdr, body, msgs uint64) uint64 {
		if !grpc {
			return hdr + body
		}
		return hdr*2/5 + 9 + body + 9*max(msgs, 1)
	}
	cRecv, cSent := wire(reqHdr, reqBody, reqMsgs), wire(respHdr, respBody, respMsgs)
	sRecv, sSent := wire(reqHdrS, reqBody, reqMsgs), wire(respHdrS, respBody, respMsgs)
	if grpc && grpcTrailer != "" {
		cSent += 24
		sSent += 24
	}
	if fail && grpc {
		cSent = uint64(40 + r.IntN(20))
	}

	ver := accesslogv3.HTTPAccessLogEntry_HTTP11
	if grpc {
		ver = accesslogv3.HTTPAccessLogEntry_HTTP2
	}
	srcName, dstName := cp.wl.Name, Unknown
	if reached {
		dstName = sp.wl.Name
	}
	codeStr := strconv.FormatUint(uint64(code), 10)

	// Client entry.
	cEph, cUpEph := g.ephemeral(), g.ephemeral()
	cc := &accesslogv3.AccessLogCommon{
		// Envoy never sets sample_rate; ValidateAll requires (0, 1].
		SampleRate:                  1,
		DownstreamLocalAddress:      e.to.vipAddr,
		StartTime:                   timestamppb.New(start),
		UpstreamCluster:             e.to.cluster,
		RouteName:                   e.route,
		UpstreamRequestAttemptCount: 1,
		StreamId:                    reqID,
		DownstreamWireBytesSent:     cSent,
		DownstreamWireBytesReceived: cRecv,
		AccessLogType:               accesslogv3.AccessLogType_DownstreamEnd,
	}
	forwardedFor := ""
	if cp.wl.Gateway {
		forwardedFor = "198.51.100." + strconv.Itoa(1+r.IntN(254))
		cc.DownstreamRemoteAddress = sockAddr(forwardedFor, g.ephemeral())
		cc.DownstreamLocalAddress = cp.podAddr(gatewayListenPort)
	} else {
		cc.DownstreamRemoteAddress = sockAddr(cp.pod.IP, cEph)
	}
	cc.DownstreamDirectRemoteAddress = cc.DownstreamRemoteAddress
	if sp != nil {
		cc.UpstreamRemoteAddress = sp.podAddr(e.to.targetPort)
	} else {
		cc.UpstreamRemoteAddress = e.to.vipAddr
	}
	timings(cc, dc, front, back, !fail)
	if fail {
		cc.ResponseFlags = &accesslogv3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true}
		cc.UpstreamRequestAttemptCount = ufAttempts
		cc.UpstreamTransportFailureReason = ufTransportFailure
	} else {
		cc.UpstreamLocalAddress = sockAddr(cp.pod.IP, cUpEph)
		cc.UpstreamWireBytesSent = sRecv
		cc.UpstreamWireBytesReceived = sSent
	}
	if reached || grpc {
		cc.FilterStateObjects = make(map[string]*anypb.Any, 2)
		if reached {
			cc.FilterStateObjects[upstreamPeerKey] = sp.peer
		}
		if grpc {
			cc.FilterStateObjects[grpcStatsKey] = grpcStatsAny(reqMsgs, respMsgs)
		}
	}
	creq := &accesslogv3.HTTPRequestProperties{
		RequestMethod:       e.method,
		Scheme:              "http",
		Authority:           e.authority,
		Path:                path,
		UserAgent:           ua,
		ForwardedFor:        forwardedFor,
		RequestId:           reqID,
		RequestHeadersBytes: reqHdr,
		RequestBodyBytes:    reqBody,
		RequestHeaders:      clientHdr,
	}
	cresp := &accesslogv3.HTTPResponseProperties{
		ResponseCode:         wrapperspb.UInt32(code),
		ResponseHeadersBytes: respHdr,
		ResponseBodyBytes:    respBody,
		ResponseCodeDetails:  details,
	}
	if grpcTrailer != "" {
		cresp.ResponseTrailers = map[string]string{"grpc-status": grpcTrailer}
	}
	if grpcHeader != "" {
		cresp.ResponseHeaders = map[string]string{"grpc-status": grpcHeader}
	}
	cw := g.worker()
	g.event(statEvent{at: start.UnixNano(), p: cp, kind: evReqStart, edge: e})
	cend := start.Add(dc)
	g.emit(cp, kindHTTP, cw, cend, g.encodeHTTP(&accesslogv3.HTTPAccessLogEntry{
		CommonProperties: cc, ProtocolVersion: ver, Request: creq, Response: cresp,
	}))
	g.event(statEvent{at: cend.UnixNano(), p: cp, kind: evReqEnd, edge: e, code: code, connFail: fail, sent: cSent, received: cRecv})
	g.led.addRequest(RequestKey{ReporterSource, srcName, dstName, codeStr}, int64(dc), cRecv, cSent)
	if grpc {
		g.led.addGRPC(PairKey{ReporterSource, srcName, dstName}, ledgerStatus, reqMsgs, respMsgs)
	}
	if !reached {
		return
	}

	// Server entry.
	sstart := start.Add(front + netHalf)
	sfront, sback := g.micros(25, 90), g.micros(8, 40)
	split(ds, &sfront, &sback)
	scom := &accesslogv3.AccessLogCommon{
		SampleRate:                    1,
		DownstreamRemoteAddress:       cc.UpstreamLocalAddress,
		DownstreamDirectRemoteAddress: cc.UpstreamLocalAddress,
		DownstreamLocalAddress:        sp.podAddr(e.to.targetPort),
		StartTime:                     timestamppb.New(sstart),
		UpstreamRemoteAddress:         sp.podAddr(e.to.targetPort),
		UpstreamLocalAddress:          sockAddr(inboundSourceIP, g.ephemeral()),
		UpstreamCluster:               e.to.inboundCluster,
		RouteName:                     routeDefault,
		UpstreamRequestAttemptCount:   1,
		StreamId:                      reqID,
		DownstreamWireBytesSent:       sSent,
		DownstreamWireBytesReceived:   sRecv,
		UpstreamWireBytesSent:         wire(reqHdrS-60, reqBody, reqMsgs),
		UpstreamWireBytesReceived:     wire(respHdrS-420, respBody, respMsgs),
		AccessLogType:                 accesslogv3.AccessLogType_DownstreamEnd,
		FilterStateObjects:            map[string]*anypb.Any{downstreamPeerKey: cp.peer},
	}
	if e.MTLS {
		scom.TlsProperties = g.tls(e, cp, sp)
	}
	if grpc {
		scom.FilterStateObjects[grpcStatsKey] = grpcStatsAny(reqMsgs, respMsgs)
	}
	timings(scom, ds, sfront, sback, true)
	sreq := &accesslogv3.HTTPRequestProperties{
		RequestMethod:       e.method,
		Scheme:              "http",
		Authority:           e.authority,
		Path:                path,
		UserAgent:           ua,
		ForwardedFor:        forwardedFor,
		RequestId:           reqID,
		RequestHeadersBytes: reqHdrS,
		RequestBodyBytes:    reqBody,
		RequestHeaders:      serverHdr,
	}
	sresp := &accesslogv3.HTTPResponseProperties{
		ResponseCode:         cresp.ResponseCode,
		ResponseHeadersBytes: respHdrS,
		ResponseBodyBytes:    respBody,
		ResponseCodeDetails:  details,
		ResponseTrailers:     cresp.ResponseTrailers,
	}
	sw := g.worker()
	g.event(statEvent{at: sstart.UnixNano(), p: sp, kind: evReqStart, server: true, edge: e})
	send := sstart.Add(ds)
	g.emit(sp, kindHTTP, sw, send, g.encodeHTTP(&accesslogv3.HTTPAccessLogEntry{
		CommonProperties: scom, ProtocolVersion: ver, Request: sreq, Response: sresp,
	}))
	g.event(statEvent{at: send.UnixNano(), p: sp, kind: evReqEnd, server: true, edge: e, code: code, sent: sSent, received: sRecv})
	g.led.addRequest(RequestKey{ReporterDestination, srcName, dstName, codeStr}, int64(ds), sRecv, sSent)
	if grpc {
		g.led.addGRPC(PairKey{ReporterDestination, srcName, dstName}, ledgerStatus, reqMsgs, respMsgs)
	}
}

// tcpCall simulates one TCP connection. With TCPPeriodic, each side writes a
// TcpPeriodic entry every TCPPeriodicInterval while the connection is open
// (cumulative bytes, no duration) and a TcpConnectionEnd entry at close.
func (g *generator) tcpCall(e *cedge, cp, sp *proxy, start time.Time, fail bool) {
	var d, netHalf, connect time.Duration
	var req, resp uint64
	if fail {
		d = g.micros(300, 2500)
	} else {
		d = g.latency(e)
		netHalf, connect = g.micros(20, 150), g.micros(80, 600)
		split(d, &netHalf, &netHalf, &connect)
		req, resp = g.jitter(e.RequestBytes), g.jitter(e.ResponseBytes)
	}
	reached := sp != nil && !fail
	peerKnown := reached && e.MTLS
	srcName, dstName := cp.wl.Name, Unknown
	if peerKnown {
		dstName = sp.wl.Name
	}

	cEph, cUpEph := g.ephemeral(), g.ephemeral()
	upLocal := sockAddr(cp.pod.IP, cUpEph)
	client := func(at time.Duration, final bool) *accesslogv3.TCPAccessLogEntry {
		sent, recv := scaleBytes(resp, at, d), scaleBytes(req, at, d)
		c := &accesslogv3.AccessLogCommon{
			SampleRate:                  1,
			DownstreamRemoteAddress:     sockAddr(cp.pod.IP, cEph),
			DownstreamLocalAddress:      e.to.vipAddr,
			StartTime:                   timestamppb.New(start),
			UpstreamCluster:             e.to.cluster,
			DownstreamWireBytesSent:     sent,
			DownstreamWireBytesReceived: recv,
			UpstreamWireBytesSent:       recv,
			UpstreamWireBytesReceived:   sent,
			AccessLogType:               accesslogv3.AccessLogType_TcpPeriodic,
		}
		markIntermediate(c, true)
		c.DownstreamDirectRemoteAddress = c.DownstreamRemoteAddress
		if sp != nil {
			c.UpstreamRemoteAddress = sp.podAddr(e.to.targetPort)
		} else {
			c.UpstreamRemoteAddress = e.to.vipAddr
		}
		if !fail {
			c.UpstreamLocalAddress = upLocal
		}
		if peerKnown {
			c.FilterStateObjects = map[string]*anypb.Any{upstreamPeerKey: sp.peer}
		}
		if final {
			c.AccessLogType = accesslogv3.AccessLogType_TcpConnectionEnd
			markIntermediate(c, false)
			c.Duration = durationpb.New(d)
			if fail {
				c.ResponseFlags = &accesslogv3.ResponseFlags{UpstreamConnectionFailure: true}
				c.UpstreamTransportFailureReason = ufTransportFailure
			}
		}
		return &accesslogv3.TCPAccessLogEntry{
			CommonProperties:     c,
			ConnectionProperties: &accesslogv3.ConnectionProperties{ReceivedBytes: recv, SentBytes: sent},
		}
	}
	cStream := g.uuid()
	cw := g.worker()
	g.event(statEvent{at: start.UnixNano(), p: cp, kind: evConnOpen, edge: e})
	g.tcpEntries(cp, cw, start, d, cStream, fail, client)
	g.event(statEvent{at: start.Add(d).UnixNano(), p: cp, kind: evConnClose, edge: e, connFail: fail, sent: resp, received: req})
	g.led.addTCP(PairKey{ReporterSource, srcName, dstName}, resp, req)
	if !reached {
		return
	}

	sstart := start.Add(connect + netHalf)
	ds := d - connect - 2*netHalf
	srcS := Unknown
	if peerKnown {
		srcS = srcName
	}
	sUpEph := g.ephemeral()
	server := func(at time.Duration, final bool) *accesslogv3.TCPAccessLogEntry {
		sent, recv := scaleBytes(resp, at, ds), scaleBytes(req, at, ds)
		c := &accesslogv3.AccessLogCommon{
			SampleRate:                    1,
			DownstreamRemoteAddress:       upLocal,
			DownstreamDirectRemoteAddress: upLocal,
			DownstreamLocalAddress:        sp.podAddr(e.to.targetPort),
			StartTime:                     timestamppb.New(sstart),
			UpstreamRemoteAddress:         sp.podAddr(e.to.targetPort),
			UpstreamLocalAddress:          sockAddr(inboundSourceIP, sUpEph),
			UpstreamCluster:               e.to.inboundCluster,
			DownstreamWireBytesSent:       sent,
			DownstreamWireBytesReceived:   recv,
			UpstreamWireBytesSent:         recv,
			UpstreamWireBytesReceived:     sent,
			AccessLogType:                 accesslogv3.AccessLogType_TcpPeriodic,
		}
		markIntermediate(c, true)
		if e.MTLS {
			c.TlsProperties = g.tls(e, cp, sp)
		}
		if peerKnown {
			c.FilterStateObjects = map[string]*anypb.Any{downstreamPeerKey: cp.peer}
		}
		if final {
			c.AccessLogType = accesslogv3.AccessLogType_TcpConnectionEnd
			markIntermediate(c, false)
			c.Duration = durationpb.New(ds)
		}
		return &accesslogv3.TCPAccessLogEntry{
			CommonProperties:     c,
			ConnectionProperties: &accesslogv3.ConnectionProperties{ReceivedBytes: recv, SentBytes: sent},
		}
	}
	sStream := g.uuid()
	sw := g.worker()
	g.event(statEvent{at: sstart.UnixNano(), p: sp, kind: evConnOpen, server: true, edge: e})
	g.tcpEntries(sp, sw, sstart, ds, sStream, false, server)
	g.event(statEvent{at: sstart.Add(ds).UnixNano(), p: sp, kind: evConnClose, server: true, edge: e, sent: resp, received: req})
	g.led.addTCP(PairKey{ReporterDestination, srcS, sp.wl.Name}, resp, req)
}

func (g *generator) tcpEntries(p *proxy, worker int, start time.Time, d time.Duration, streamID string, fail bool,
	build func(at time.Duration, final bool) *accesslogv3.TCPAccessLogEntry,
) {
	if g.cfg.TCPPeriodic && !fail {
		for at := g.cfg.TCPPeriodicInterval; at < d; at += g.cfg.TCPPeriodicInterval {
			en := build(at, false)
			en.CommonProperties.StreamId = streamID
			g.emit(p, kindTCP, worker, start.Add(at), g.encodeTCP(en))
			g.led.TCPPeriodicEntries++
		}
	}
	en := build(d, true)
	en.CommonProperties.StreamId = streamID
	g.emit(p, kindTCP, worker, start.Add(d), g.encodeTCP(en))
}

// markIntermediate sets the deprecated intermediate_log_entry flag, which
// Envoy still sets on entries written while the stream is open (no duration).
func markIntermediate(c *accesslogv3.AccessLogCommon, v bool) {
	c.IntermediateLogEntry = v //nolint:staticcheck // deprecated field Envoy still writes
}

// scaleBytes returns the cumulative share of total transferred after at of d.
func scaleBytes(total uint64, at, d time.Duration) uint64 {
	if at >= d || d <= 0 {
		return total
	}
	return uint64(float64(total) * float64(at) / float64(d))
}
