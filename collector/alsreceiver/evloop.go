//go:build linux

package alsreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc/status"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/collector/alsreceiver/internal/evloop"
	"github.com/meshlens/meshlens/collector/alsreceiver/internal/h2grpc"
)

// event_loop::enabled (ADR 0014). The connections are served by evloop's
// event loops, one per core, and each one's HTTP/2 and gRPC by an
// h2grpc.Conn whose Handler is a loopSession: every message is processed
// on its loop, as it is read, by the code the grpc-go handlers run. The
// bounds the guard keeps under grpc-go are kept here from what the core
// knows of each connection (loopGuard):
//   - receive_budget_mib over every connection's incomplete messages: past
//     it, the oldest incomplete messages over every connection are ended
//     until the total is back under three quarters (reason receive_budget):
//     by the loop whose read passed it when they are its connection's, else
//     by their own loop at its next read or check (within a second), the
//     total then allowed shedOverrun (1 MiB) over the budget before the
//     passing connection sheds its own;
//   - message_timeout: checked on each connection's oldest incomplete
//     message as often as grpc-go's guard sweeps (a fifth of the smaller
//     timeout, at most 1 s; reason message_timeout);
//   - stream_idle_timeout: a stream that has completed no message (or been
//     opened) that long is ended (reason idle_timeout);
//   - max_streams: a new stream makes room by marking the stream idle
//     longest (at least evictIdleAfter), which its loop ends at its next
//     check, within a second (reason idle_evicted).
// A stream ended so is answered CANCELLED with the reason, as under
// grpc-go's guard; Envoy opens a new one on its next flush.

// errConnDone ends a connection whose graceful GOAWAY has run its course.
var errConnDone = errors.New("connection done")

// errConnIdle ends a connection that has had no stream and sent nothing
// for stream_idle_timeout (grpc-go closes one that never sends its
// preface after 120 s).
var errConnIdle = errors.New("connection idle")

// startLoops serves the port from event loops (Start's part after the
// metrics are registered).
func (r *alsReceiver) startLoops(ctx context.Context) error {
	h2cfg := h2grpc.Config{
		MaxConcurrentStreams: r.cfg.GRPC.MaxConcurrentStreams,
		InitialWindowSize:    streamWindow,
		ConnWindowSize:       connWindow,
		MaxRecvMsgSize:       r.cfg.GRPC.MaxRecvMsgSizeMiB << 20,
		// What a peer that does not read can make a connection hold:
		// answers to its PINGs and SETTINGS, and its streams' statuses.
		MaxOutput:               64 << 10,
		MaxControlFramesPending: 100,
		Buffers:                 new(bufPool),
	}
	if err := h2cfg.Validate(); err != nil {
		r.metrics.unregister()
		return fmt.Errorf("event_loop: %w", err)
	}
	tick := r.cfg.EventLoop.Tick
	if tick == 0 {
		tick = -1 // evloop: no sleep
	}
	srv, err := evloop.Listen(ctx, r.cfg.GRPC.NetAddr.Endpoint, evloop.Config{Loops: r.cfg.EventLoop.Loops, Tick: tick, Housekeeping: r.guard.sweepEvery()},
		func(net.Addr) evloop.Session {
			s := &loopSession{r: r, g: r.loopGuard, streams: map[uint32]*loopStream{}, fed: time.Now()}
			s.conn, _ = h2grpc.NewConn(h2cfg, s) // the config is valid
			s.g.mu.Lock()
			s.g.sessions[&s.shared] = struct{}{}
			s.g.mu.Unlock()
			return s
		})
	if err != nil {
		r.metrics.unregister()
		return fmt.Errorf("listen on %s: %w", r.cfg.GRPC.NetAddr.Endpoint, err)
	}
	if err := r.startSpans(ctx, r.sink.Registerer()); err != nil {
		_ = srv.Close()
		r.metrics.unregister()
		return err
	}
	r.loops = srv
	r.running(srv.Addr().String(), "event_loop", r.loopGuard.budget, srv.Serve)
	return nil
}

// loopSession is one connection: its core and its streams. Its methods
// are called by one loop at a time.
type loopSession struct {
	r       *alsReceiver
	g       *loopGuard
	conn    *h2grpc.Conn
	streams map[uint32]*loopStream
	pending int64 // conn.Pending() as last added to g.pending
	now     time.Time
	fed     time.Time // the last Feed (or the accept)
	shared  loopConn  // what other loops see of it
}

// Feed hands the bytes read to the core, then enforces the receive budget.
func (s *loopSession) Feed(p []byte, now time.Time) error {
	s.now, s.fed = now, now
	err := s.conn.Feed(p, now)
	s.sync()
	s.activity()
	if err == nil && (s.shared.shed.Load() || s.g.pending.Load() > s.g.budget) {
		s.overBudget()
	}
	if err == nil && s.conn.Done() {
		err = errConnDone
	}
	if ce := (*h2grpc.ConnError)(nil); errors.As(err, &ce) {
		s.r.metrics.connsEnded.WithLabelValues(ce.Code.String()).Inc()
	}
	return err
}

// activity publishes each stream's last DATA and whether it is in the
// middle of a message, for the idle checks (here and in other loops'
// evictIdle).
func (s *loopSession) activity() {
	for id, ls := range s.streams {
		last, in, ok := s.conn.StreamActivity(id)
		if !ok {
			continue
		}
		if t := last.UnixNano(); !last.IsZero() && t > ls.lastActive.Load() {
			ls.lastActive.Store(t)
		}
		ls.inMessage.Store(in)
	}
}

// sync adds the change of the connection's incomplete bytes to the total
// and publishes when its oldest incomplete message began.
func (s *loopSession) sync() {
	if d := int64(s.conn.Pending()) - s.pending; d != 0 {
		s.pending += d
		s.g.pending.Add(d)
	}
	var at int64
	if id, since := s.conn.OldestIncomplete(); id != 0 {
		at = since.UnixNano()
	}
	s.shared.oldest.Store(at)
}

// overBudget ends incomplete messages, oldest first over every
// connection, until the total is under three quarters of the budget: this
// connection's when it holds the oldest (or was asked to, or the total is
// more than shedOverrun over the budget); another loop's connection is
// asked to, and sheds at its next read or check.
func (s *loopSession) overBudget() {
	s.shared.shed.Store(false)
	for s.g.pending.Load() > s.g.budget/4*3 {
		victim := s.g.oldestSession()
		if victim != &s.shared && victim != nil && s.g.pending.Load() <= s.g.budget+shedOverrun {
			victim.shed.Store(true)
			return
		}
		id, _ := s.conn.OldestIncomplete()
		if id == 0 {
			if victim != nil && victim != &s.shared {
				victim.shed.Store(true)
			}
			return
		}
		s.end(id, endReceiveBudget)
	}
}

// end ends a stream for one of the guard's reasons, answered CANCELLED
// with the reason's message, as grpc-go answers the streams its guard
// cancels.
func (s *loopSession) end(id uint32, why endReason) {
	if ls := s.streams[id]; ls != nil {
		ls.endedBy = why
	}
	msg := status.Convert(guardStatus(why, s.r.cfg)).Message()
	s.conn.Finish(id, h2grpc.Status{Code: h2grpc.Canceled, Message: msg})
	s.sync()
}

func (s *loopSession) Output() []byte { return s.conn.Output() }
func (s *loopSession) Written(n int)  { s.conn.Written(n) }

// Expire enforces the receive budget another loop asked for,
// message_timeout, stream_idle_timeout and evictions.
func (s *loopSession) Expire(now time.Time) error {
	s.now = now
	cfg := s.r.cfg
	if s.shared.shed.Load() {
		s.overBudget()
	}
	for {
		id, since := s.conn.OldestIncomplete()
		if id == 0 || now.Sub(since) < cfg.MessageTimeout {
			break
		}
		s.end(id, endMessageTimeout)
	}
	for id, ls := range s.streams {
		switch {
		case ls.evict.Load():
			s.end(id, endIdleEvicted)
		case ls.inMessage.Load():
			// message_timeout governs a stream receiving a message.
		case now.UnixNano()-ls.lastActive.Load() >= int64(cfg.StreamIdleTimeout):
			s.end(id, endIdleTimeout)
		}
	}
	if s.conn.Done() {
		return errConnDone
	}
	if len(s.streams) == 0 && now.Sub(s.fed) >= cfg.StreamIdleTimeout {
		s.r.metrics.connsEnded.WithLabelValues("idle").Inc()
		return errConnIdle
	}
	return nil
}

// Closed: the connection is gone; its streams end.
func (s *loopSession) Closed(now time.Time) {
	s.now = now
	s.conn.Close()
	s.sync()
	s.g.mu.Lock()
	delete(s.g.sessions, &s.shared)
	s.g.mu.Unlock()
}

// Open admits a stream of one of the services.
func (s *loopSession) Open(stream uint32, h *h2grpc.Headers) h2grpc.Status {
	var service string
	switch h.Path {
	case "/" + alsV3Service + "/StreamAccessLogs":
		service = serviceALS
	case "/" + metricsV3Service + "/StreamMetrics":
		service = serviceMetrics
	case "/" + alsV2Service + "/StreamAccessLogs":
		return grpcStatus(s.r.rejectV2(serviceALS))
	case "/" + metricsV2Service + "/StreamMetrics":
		return grpcStatus(s.r.rejectV2(serviceMetrics))
	default:
		return h2grpc.Errorf(h2grpc.Unimplemented, "unknown method %s", h.Path)
	}
	now := s.now
	release, err := s.r.admitWith(service, func() bool { return s.g.evictIdle(now) })
	if err != nil {
		return grpcStatus(err)
	}
	ls := &loopStream{id: stream, service: service, release: release}
	ls.lastActive.Store(now.UnixNano())
	s.streams[stream] = ls
	s.g.mu.Lock()
	s.g.streams[ls] = struct{}{}
	s.g.mu.Unlock()
	return h2grpc.Status{}
}

// Message processes one message as the grpc-go handlers do.
func (s *loopSession) Message(stream uint32, msg []byte) h2grpc.Status {
	ls := s.streams[stream]
	if ls == nil {
		return h2grpc.Errorf(h2grpc.Internal, "no stream %d", stream)
	}
	ls.lastActive.Store(s.now.UnixNano())
	r := s.r
	ctx := context.Background()
	if ls.service == serviceMetrics {
		r.metrics.messages.WithLabelValues(serviceMetrics).Inc()
		r.metrics.bytes.WithLabelValues(serviceMetrics).Add(float64(len(msg)))
		return grpcStatus(r.metricsMessage(ctx, &ls.proxy, msg))
	}
	if r.overMem.Load() && s.g.mayWaitMemory(s.now) {
		// The loop waits, its connections meeting flow control; at most
		// once a second over all loops, so that a loop is not held a
		// second per message: meanwhile processALS drops, counted.
		r.waitMemory(ctx)
		s.g.waitedAt.Store(time.Now().UnixNano()) // a second from the wait's end
	}
	if ls.st == nil {
		ls.st = accesslog.NewStream(r.cfg.Normalizer, r.conns)
	}
	ls.f.segs, ls.f.n = append(ls.f.segs[:0], msg), len(msg)
	if err := r.processALS(ctx, &ls.local, ls.st, &ls.f); err != nil {
		return grpcStatus(err)
	}
	if ls.st.Proxy() == nil {
		// As handleALS: a stream must name its node in its first message.
		return grpcStatus(r.rejectStream(serviceALS, accesslog.ErrNoIdentifier))
	}
	return h2grpc.Status{}
}

// End gives the stream's slot back and counts how it ended.
func (s *loopSession) End(stream uint32, reason h2grpc.EndReason) {
	ls := s.streams[stream]
	if ls == nil {
		return
	}
	delete(s.streams, stream)
	s.g.mu.Lock()
	delete(s.g.streams, ls)
	s.g.mu.Unlock()
	m := s.r.metrics
	if ls.st != nil {
		m.addResets(ls.st.InternResets)
	}
	ls.release()
	switch {
	case ls.endedBy != endNone:
		m.streamsEnded.WithLabelValues(ls.service, ls.endedBy.String()).Inc()
	case reason == h2grpc.EndHalfClosed:
		m.streamsEnded.WithLabelValues(ls.service, endClean).Inc()
	case reason == h2grpc.EndFinished:
		// Counted where its status was made (rejectStream, ...).
	case reason == h2grpc.EndTooLarge:
		m.messagesRejected.WithLabelValues(ls.service, reasonTooLarge).Inc()
		m.streamsEnded.WithLabelValues(ls.service, endRejected).Inc()
	case reason == h2grpc.EndCompressed, reason == h2grpc.EndMalformed:
		m.messagesRejected.WithLabelValues(ls.service, reasonMalformed).Inc()
		m.streamsEnded.WithLabelValues(ls.service, endRejected).Inc()
	default:
		m.streamsEnded.WithLabelValues(ls.service, endAborted).Inc()
	}
}

// grpcStatus turns a grpc-go status error into the core's Status.
func grpcStatus(err error) h2grpc.Status {
	if err == nil {
		return h2grpc.Status{}
	}
	st, ok := status.FromError(err)
	if !ok {
		return h2grpc.Errorf(h2grpc.Internal, "%v", err)
	}
	return h2grpc.Status{Code: h2grpc.Code(st.Code()), Message: st.Message()}
}
