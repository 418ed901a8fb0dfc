package loadgen

import (
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

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
			en.CommonProperties.StreamId = g.streamID(streamID)
			g.emit(p, kindTCP, worker, start.Add(at), g.encodeTCP(en))
			g.led.TCPPeriodicEntries++
		}
	}
	en := build(d, true)
	en.CommonProperties.StreamId = g.streamID(streamID)
	g.emit(p, kindTCP, worker, start.Add(d), g.encodeTCP(en))
}

// streamID is the stream_id an entry carries: id, or none with
// GenConfig.OmitStreamID.
func (g *generator) streamID(id string) string {
	if g.cfg.OmitStreamID {
		return ""
	}
	return id
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
