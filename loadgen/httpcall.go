package loadgen

import (
	"strconv"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// httpExchange is one simulated HTTP or gRPC request: what httpCall draws
// once and the client and server entries share. The steps of httpCall fill
// it in turn; the order in which they draw from the generator's random
// source is part of the output (same seed, same bytes), so steps must not be
// reordered nor draws moved between them.
type httpExchange struct {
	e       *cedge
	cp, sp  *proxy // client and server proxy; sp is nil for a callee outside the mesh
	start   time.Time
	oc      outcome
	grpc    bool
	fail    bool // the client sidecar could not connect (outcomeConnFail)
	reached bool // the request reached the server sidecar, which writes an entry too

	srcName, dstName string // workload names in the ledger
	reqID            string
	path             string
	tc               traceCtx

	reqMsgs, respMsgs uint64 // gRPC messages (1 each for plain HTTP)
	reqBody, respBody uint64

	code         uint32
	codeStr      string // code in the ledger
	grpcTrailer  string // grpc-status response trailer
	grpcHeader   string // grpc-status response header (trailers-only reply)
	details      string // response code details
	ledgerStatus string // gRPC status in the ledger

	// Durations: the client sees the whole request (dc); the server (ds) the
	// part between the client sidecar's first upstream byte and its last
	// response byte, minus the network (netHalf) in both directions. front
	// and back are what the client sidecar spends before its first upstream
	// byte and after its last one.
	dc, ds, front, back, netHalf time.Duration

	ua                   string            // user agent
	clientHdr, serverHdr map[string]string // logged request headers per side
	reqHdr, respHdr      uint64            // header bytes, client side
	reqHdrS, respHdrS    uint64            // header bytes, server side

	cRecv, cSent, sRecv, sSent uint64 // downstream wire bytes per side

	// Set by the client entry for the server's.
	forwardedFor string
	upLocal      *corev3.Address // the client sidecar's upstream local address
	cresp        *accesslogv3.HTTPResponseProperties
}

// httpCall simulates one HTTP or gRPC request: it draws the request's
// outcome, sizes, durations and headers, then writes the client sidecar's
// entry and, if the request reached the callee's sidecar, the server's.
func (g *generator) httpCall(e *cedge, cp, sp *proxy, start time.Time, oc outcome) {
	x := httpExchange{
		e: e, cp: cp, sp: sp, start: start, oc: oc,
		grpc: e.Protocol == ProtocolGRPC,
		fail: oc == outcomeConnFail,
	}
	x.reached = sp != nil && !x.fail
	x.srcName, x.dstName = cp.wl.Name, Unknown
	if x.reached {
		x.dstName = sp.wl.Name
	}
	x.reqID = g.uuid()
	x.path = e.paths[g.rng.IntN(len(e.paths))]

	g.drawRequest(&x)
	g.drawResponse(&x)
	x.tc = g.trace(e)
	g.drawDurations(&x)
	g.drawHeaders(&x)
	g.wireBytes(&x)

	g.clientEntry(&x)
	if x.reached {
		g.serverEntry(&x)
		g.served = served{tc: x.tc, sp: x.sp, start: x.start.Add(x.front + x.netHalf), d: x.ds}
	}
}

// drawRequest draws the number of gRPC messages each way and the request
// body size.
func (g *generator) drawRequest(x *httpExchange) {
	r, e := g.rng, x.e
	x.reqMsgs, x.respMsgs = 1, 1
	if x.grpc && e.Messages > 1 {
		x.reqMsgs = 1 + uint64(r.IntN(e.Messages))
		x.respMsgs = 1 + uint64(r.IntN(e.Messages))
	}
	switch {
	case x.grpc:
		for range x.reqMsgs {
			x.reqBody += 5 + g.jitter(e.RequestBytes)
		}
	case e.method != corev3.RequestMethod_GET && e.method != corev3.RequestMethod_HEAD:
		x.reqBody = g.jitter(e.RequestBytes)
	}
}

// drawResponse draws the response of the call's outcome: status code, gRPC
// status, response body and code details.
func (g *generator) drawResponse(x *httpExchange) {
	r, e := g.rng, x.e
	x.details = "via_upstream"
	switch x.oc {
	case outcomeOK:
		x.code = 200
		if x.grpc {
			x.grpcTrailer = "0"
			for range x.respMsgs {
				x.respBody += 5 + g.jitter(e.ResponseBytes)
			}
		} else {
			x.respBody = g.jitter(e.ResponseBytes)
		}
	case outcome5xx:
		x.code = 500
		if r.IntN(10) < 3 {
			x.code = 503
		}
		x.respBody, x.respMsgs = uint64(20+r.IntN(120)), 0
	case outcome4xx:
		switch r.IntN(20) {
		case 0, 1, 2:
			x.code = 429
		case 3, 4, 5, 6, 7:
			x.code = 400
		default:
			x.code = 404
		}
		x.respBody, x.respMsgs = uint64(9+r.IntN(80)), 0
	case outcomeGRPCError:
		x.code = 200
		x.grpcTrailer = grpcErrorStatuses[r.IntN(len(grpcErrorStatuses))]
		x.respMsgs = 0
	case outcomeConnFail:
		x.details = ufDetails
		x.respMsgs = 0
		if x.grpc {
			x.code, x.grpcHeader = 200, grpcUnavailable
		} else {
			x.code, x.respBody = 503, uint64(len(ufBody))
		}
	}
	if x.grpc {
		switch {
		case x.grpcTrailer != "":
			x.ledgerStatus = x.grpcTrailer
		case x.grpcHeader != "":
			x.ledgerStatus = x.grpcHeader
		default:
			x.ledgerStatus = grpcStatusFromHTTP(x.code)
		}
		if x.oc != outcomeOK && x.oc != outcomeGRPCError {
			x.respBody = 0
		}
	}
	x.codeStr = strconv.FormatUint(uint64(x.code), 10)
}

// drawDurations draws how long the call takes on each side (see
// httpExchange).
func (g *generator) drawDurations(x *httpExchange) {
	if x.fail {
		// three refused connects and two jittered retry back-offs (25 ms base)
		x.dc = 3*g.micros(300, 1800) + g.micros(0, 25000) + g.micros(0, 50000)
		x.front, x.back = g.micros(40, 200), g.micros(10, 60)
		split(x.dc, &x.front, &x.back)
		return
	}
	x.dc = g.latency(x.e)
	x.front, x.back, x.netHalf = g.micros(60, 400), g.micros(15, 75), g.micros(20, 150)
	if x.sp != nil {
		split(x.dc, &x.front, &x.back, &x.netHalf, &x.netHalf)
	} else {
		split(x.dc, &x.front, &x.back)
	}
	x.ds = x.dc - x.front - x.back - 2*x.netHalf
}

// drawHeaders sets the user agent and the logged request headers (content
// type, trace context) and draws the header sizes. Sizes approximate what
// the application sends plus what the sidecars add (x-envoy-peer-metadata,
// x-forwarded-client-cert…).
func (g *generator) drawHeaders(x *httpExchange) {
	r, e := g.rng, x.e
	x.ua = e.userAgent
	switch {
	case x.cp.wl.Gateway:
		x.ua = browserUA
	case x.grpc:
		x.ua = grpcUA
	}
	x.clientHdr = map[string]string{}
	x.serverHdr = map[string]string{}
	ct := ""
	switch {
	case x.grpc:
		ct = "application/grpc"
	case x.reqBody > 0:
		ct = "application/json"
	}
	if ct != "" {
		x.clientHdr["content-type"] = ct
		x.serverHdr["content-type"] = ct
	}
	tc := &x.tc
	traceLen := traceHeaders(x.clientHdr, e.Trace, tc, tc.clientSpan, tc.parent)
	traceHeaders(x.serverHdr, e.Trace, tc, tc.server, tc.clientSpan)
	if tc.traced {
		g.led.Traced++
		if tc.sampled {
			g.led.Sampled++
		}
	}
	x.reqHdr = uint64(70 + len(e.methodStr) + len(x.path) + len(e.authority) + len(x.ua) + 50 + len(ct) + traceLen + r.IntN(60))
	x.respHdr = uint64(110 + r.IntN(70))
	x.reqHdrS = x.reqHdr + uint64(420+r.IntN(40))
	if e.MTLS {
		x.reqHdrS += uint64(220 + len(x.cp.wl.spiffe))
	}
	x.respHdrS = x.respHdr + uint64(400+r.IntN(40))
}

// wire returns the bytes on the wire of a message with hdr header bytes and
// body bytes in msgs gRPC messages (HTTP/2 framing for gRPC).
func (x *httpExchange) wire(hdr, body, msgs uint64) uint64 {
	if !x.grpc {
		return hdr + body
	}
	return hdr*2/5 + 9 + body + 9*max(msgs, 1)
}

// wireBytes sets the downstream wire bytes each side receives and sends.
func (g *generator) wireBytes(x *httpExchange) {
	x.cRecv, x.cSent = x.wire(x.reqHdr, x.reqBody, x.reqMsgs), x.wire(x.respHdr, x.respBody, x.respMsgs)
	x.sRecv, x.sSent = x.wire(x.reqHdrS, x.reqBody, x.reqMsgs), x.wire(x.respHdrS, x.respBody, x.respMsgs)
	if x.grpc && x.grpcTrailer != "" {
		x.cSent += 24
		x.sSent += 24
	}
	if x.fail && x.grpc {
		x.cSent = uint64(40 + g.rng.IntN(20))
	}
}

// version is the call's HTTP version.
func (x *httpExchange) version() accesslogv3.HTTPAccessLogEntry_HTTPVersion {
	if x.grpc {
		return accesslogv3.HTTPAccessLogEntry_HTTP2
	}
	return accesslogv3.HTTPAccessLogEntry_HTTP11
}

// request returns the request properties one side logs.
func (x *httpExchange) request(hdrBytes uint64, hdr map[string]string) *accesslogv3.HTTPRequestProperties {
	return &accesslogv3.HTTPRequestProperties{
		RequestMethod:       x.e.method,
		Scheme:              "http",
		Authority:           x.e.authority,
		Path:                x.path,
		UserAgent:           x.ua,
		ForwardedFor:        x.forwardedFor,
		RequestId:           x.reqID,
		RequestHeadersBytes: hdrBytes,
		RequestBodyBytes:    x.reqBody,
		RequestHeaders:      hdr,
	}
}

// clientEntry writes the client sidecar's entry (outbound, to the service),
// its stat events and its ledger counts.
func (g *generator) clientEntry(x *httpExchange) {
	e, cp := x.e, x.cp
	cc := g.clientCommon(x)
	creq := x.request(x.reqHdr, x.clientHdr)
	x.cresp = &accesslogv3.HTTPResponseProperties{
		ResponseCode:         wrapperspb.UInt32(x.code),
		ResponseHeadersBytes: x.respHdr,
		ResponseBodyBytes:    x.respBody,
		ResponseCodeDetails:  x.details,
	}
	if x.grpcTrailer != "" {
		x.cresp.ResponseTrailers = map[string]string{"grpc-status": x.grpcTrailer}
	}
	if x.grpcHeader != "" {
		x.cresp.ResponseHeaders = map[string]string{"grpc-status": x.grpcHeader}
	}
	cw := g.worker()
	g.event(statEvent{at: x.start.UnixNano(), p: cp, kind: evReqStart, edge: e})
	cend := x.start.Add(x.dc)
	g.emit(cp, kindHTTP, cw, cend, g.encodeHTTP(&accesslogv3.HTTPAccessLogEntry{
		CommonProperties: cc, ProtocolVersion: x.version(), Request: creq, Response: x.cresp,
	}))
	g.event(statEvent{at: cend.UnixNano(), p: cp, kind: evReqEnd, edge: e, code: x.code, connFail: x.fail, sent: x.cSent, received: x.cRecv})
	g.recordHTTP(x, ReporterSource, x.dc, x.cRecv, x.cSent)
}

// clientCommon returns the common properties of the client entry: its
// addresses, durations, the failure of a refused connection and the filter
// state (the callee's peer metadata, gRPC message counts).
func (g *generator) clientCommon(x *httpExchange) *accesslogv3.AccessLogCommon {
	r, e, cp, sp := g.rng, x.e, x.cp, x.sp
	cEph, cUpEph := g.ephemeral(), g.ephemeral()
	cc := &accesslogv3.AccessLogCommon{
		// Envoy never sets sample_rate; ValidateAll requires (0, 1].
		SampleRate:                  1,
		DownstreamLocalAddress:      e.to.vipAddr,
		StartTime:                   timestamppb.New(x.start),
		UpstreamCluster:             e.to.cluster,
		RouteName:                   e.route,
		UpstreamRequestAttemptCount: 1,
		StreamId:                    g.streamID(x.reqID),
		DownstreamWireBytesSent:     x.cSent,
		DownstreamWireBytesReceived: x.cRecv,
		AccessLogType:               accesslogv3.AccessLogType_DownstreamEnd,
	}
	if cp.wl.Gateway {
		x.forwardedFor = "198.51.100." + strconv.Itoa(1+r.IntN(254))
		cc.DownstreamRemoteAddress = sockAddr(x.forwardedFor, g.ephemeral())
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
	timings(cc, x.dc, x.front, x.back, !x.fail)
	if x.fail {
		cc.ResponseFlags = &accesslogv3.ResponseFlags{UpstreamConnectionFailure: true, UpstreamRetryLimitExceeded: true}
		cc.UpstreamRequestAttemptCount = ufAttempts
		cc.UpstreamTransportFailureReason = ufTransportFailure
	} else {
		cc.UpstreamLocalAddress = sockAddr(cp.pod.IP, cUpEph)
		cc.UpstreamWireBytesSent = x.sRecv
		cc.UpstreamWireBytesReceived = x.sSent
	}
	x.upLocal = cc.UpstreamLocalAddress
	if x.reached || x.grpc {
		cc.FilterStateObjects = make(map[string]*anypb.Any, 2)
		if x.reached {
			cc.FilterStateObjects[upstreamPeerKey] = sp.peer
		}
		if x.grpc {
			cc.FilterStateObjects[grpcStatsKey] = grpcStatsAny(x.reqMsgs, x.respMsgs)
		}
	}
	return cc
}

// serverEntry writes the server sidecar's entry (inbound, to the
// application), its stat events and its ledger counts.
func (g *generator) serverEntry(x *httpExchange) {
	e, sp := x.e, x.sp
	sstart := x.start.Add(x.front + x.netHalf)
	sfront, sback := g.micros(25, 90), g.micros(8, 40)
	split(x.ds, &sfront, &sback)
	scom := g.serverCommon(x, sstart)
	timings(scom, x.ds, sfront, sback, true)
	sreq := x.request(x.reqHdrS, x.serverHdr)
	sresp := &accesslogv3.HTTPResponseProperties{
		ResponseCode:         x.cresp.ResponseCode,
		ResponseHeadersBytes: x.respHdrS,
		ResponseBodyBytes:    x.respBody,
		ResponseCodeDetails:  x.details,
		ResponseTrailers:     x.cresp.ResponseTrailers,
	}
	sw := g.worker()
	g.event(statEvent{at: sstart.UnixNano(), p: sp, kind: evReqStart, server: true, edge: e})
	send := sstart.Add(x.ds)
	g.emit(sp, kindHTTP, sw, send, g.encodeHTTP(&accesslogv3.HTTPAccessLogEntry{
		CommonProperties: scom, ProtocolVersion: x.version(), Request: sreq, Response: sresp,
	}))
	g.event(statEvent{at: send.UnixNano(), p: sp, kind: evReqEnd, server: true, edge: e, code: x.code, sent: x.sSent, received: x.sRecv})
	g.recordHTTP(x, ReporterDestination, x.ds, x.sRecv, x.sSent)
}

// serverCommon returns the common properties of the server entry, which
// starts at sstart, without its durations.
func (g *generator) serverCommon(x *httpExchange, sstart time.Time) *accesslogv3.AccessLogCommon {
	e, cp, sp := x.e, x.cp, x.sp
	scom := &accesslogv3.AccessLogCommon{
		SampleRate:                    1,
		DownstreamRemoteAddress:       x.upLocal,
		DownstreamDirectRemoteAddress: x.upLocal,
		DownstreamLocalAddress:        sp.podAddr(e.to.targetPort),
		StartTime:                     timestamppb.New(sstart),
		UpstreamRemoteAddress:         sp.podAddr(e.to.targetPort),
		UpstreamLocalAddress:          sockAddr(inboundSourceIP, g.ephemeral()),
		UpstreamCluster:               e.to.inboundCluster,
		RouteName:                     routeDefault,
		UpstreamRequestAttemptCount:   1,
		StreamId:                      g.streamID(x.reqID),
		DownstreamWireBytesSent:       x.sSent,
		DownstreamWireBytesReceived:   x.sRecv,
		UpstreamWireBytesSent:         x.wire(x.reqHdrS-60, x.reqBody, x.reqMsgs),
		UpstreamWireBytesReceived:     x.wire(x.respHdrS-420, x.respBody, x.respMsgs),
		AccessLogType:                 accesslogv3.AccessLogType_DownstreamEnd,
		FilterStateObjects:            map[string]*anypb.Any{downstreamPeerKey: cp.peer},
	}
	if e.MTLS {
		scom.TlsProperties = g.tls(e, cp, sp)
	}
	if x.grpc {
		scom.FilterStateObjects[grpcStatsKey] = grpcStatsAny(x.reqMsgs, x.respMsgs)
	}
	return scom
}

// recordHTTP counts one side's entry (reporter rep, duration d, bytes
// received and sent) in the ledger.
func (g *generator) recordHTTP(x *httpExchange, rep Reporter, d time.Duration, recv, sent uint64) {
	g.led.addRequest(RequestKey{rep, x.srcName, x.dstName, x.codeStr}, int64(d), recv, sent)
	if x.grpc {
		g.led.addGRPC(PairKey{rep, x.srcName, x.dstName}, x.ledgerStatus, x.reqMsgs, x.respMsgs)
	}
}

// grpcErrorStatuses are the grpc-status values of outcomeGRPCError.
var grpcErrorStatuses = [...]string{"2", "3", "4", "5", "13", "14"}

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
