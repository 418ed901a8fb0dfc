package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"google.golang.org/grpc"
)

// gRPC methods of the services this package drives.
const (
	AccessLogMethod = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs"
	MetricsMethod   = "/envoy.service.metrics.v3.MetricsService/StreamMetrics"
)

var (
	alsStreamDesc     = grpc.StreamDesc{StreamName: "StreamAccessLogs", ClientStreams: true}
	metricsStreamDesc = grpc.StreamDesc{StreamName: "StreamMetrics", ClientStreams: true}
)

// SendOptions configures Send.
type SendOptions struct {
	// Rate is the target in entries per second over all streams; 0 sends
	// flat out. Each sending goroutine gets its share and paces itself with
	// a token bucket checked once per message.
	Rate float64
	// Repeat is the number of passes over the traffic (default 1). Later
	// passes reuse each open stream and so omit the identifier; they repeat
	// request ids, which is fine for load tests. Ignored if Duration > 0.
	Repeat int
	// Duration, if positive, keeps looping over the traffic until it has
	// elapsed (checked before each message).
	Duration time.Duration
	// Concurrency caps the number of gRPC streams open at once (0 = one per
	// Traffic stream, all concurrently). With a cap, each goroutine sends
	// whole streams (all passes on one gRPC stream) one after the other; with
	// Duration, it cycles through the streams one pass (one gRPC stream)
	// at a time.
	Concurrency int
	// CallOptions are added to every stream (RawCodec is always forced).
	CallOptions []grpc.CallOption
}

// Stats summarises a Send.
type Stats struct {
	Entries  int64
	Messages int64
	Bytes    int64
	// Streams is the number of gRPC streams opened.
	Streams int64
	// Errors is the number of gRPC streams that failed.
	Errors  int64
	Elapsed time.Duration
}

// EntriesPerSecond returns Entries/Elapsed.
func (s Stats) EntriesPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Entries) / s.Elapsed.Seconds()
}

type sendCounters struct {
	entries, messages, bytes, streams, errors atomic.Int64
	mu                                        sync.Mutex
	first                                     error
}

func (c *sendCounters) fail(err error) {
	c.errors.Add(1)
	c.mu.Lock()
	if c.first == nil {
		c.first = err
	}
	c.mu.Unlock()
}

// rawStream is what the send engine needs of a Stream or MetricsStream.
type rawStream struct {
	node     string
	messages [][]byte
	counts   []int // entries (or metric families) per message
	total    int
	identLen int
}

// rpc names the client-streaming method a rawStream is sent on.
type rpc struct {
	method string
	desc   *grpc.StreamDesc
	resp   func() any
	what   string
}

var (
	alsRPC = rpc{AccessLogMethod, &alsStreamDesc, func() any { return &alsv3.StreamAccessLogsResponse{} }, "access logs"}
	msRPC  = rpc{MetricsMethod, &metricsStreamDesc, func() any { return &metricsv3.StreamMetricsResponse{} }, "metrics"}
)

// Send replays t over conn: one client stream of
// /envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs per Traffic
// stream, writing the pre-encoded messages unchanged (RawCodec), then
// CloseAndRecv. A failing stream does not stop the others; the error returned
// reports how many failed and the first failure. Stats count what was sent
// successfully (entries of a stream that later failed included).
func Send(ctx context.Context, conn grpc.ClientConnInterface, t *Traffic, opt SendOptions) (Stats, error) {
	streams := make([]rawStream, 0, len(t.Streams))
	for i := range t.Streams {
		s := &t.Streams[i]
		streams = append(streams, rawStream{s.NodeID, s.Messages, s.Entries, s.entryTotal, s.IdentifierLen})
	}
	return send(ctx, conn, alsRPC, streams, opt)
}

// SendMetrics replays Metrics Service streams (Traffic.Metrics) the same way
// Send replays access logs, on
// /envoy.service.metrics.v3.MetricsService/StreamMetrics. Stats.Entries
// counts metric families; Rate is in families per second.
func SendMetrics(ctx context.Context, conn grpc.ClientConnInterface, ms []MetricsStream, opt SendOptions) (Stats, error) {
	streams := make([]rawStream, 0, len(ms))
	for i := range ms {
		s := &ms[i]
		total := 0
		for _, n := range s.Families {
			total += n
		}
		streams = append(streams, rawStream{s.NodeID, s.Messages, s.Families, total, s.IdentifierLen})
	}
	return send(ctx, conn, msRPC, streams, opt)
}

func send(ctx context.Context, conn grpc.ClientConnInterface, r rpc, all []rawStream, opt SendOptions) (Stats, error) {
	var streams []*rawStream
	total := 0
	for i := range all {
		if len(all[i].messages) > 0 {
			streams = append(streams, &all[i])
			total += all[i].total
		}
	}
	if len(streams) == 0 {
		return Stats{}, nil
	}
	passes := max(opt.Repeat, 1)
	var deadline time.Time
	begin := time.Now()
	if opt.Duration > 0 {
		deadline = begin.Add(opt.Duration)
	}
	callOpts := append([]grpc.CallOption{grpc.ForceCodecV2(RawCodec{})}, opt.CallOptions...)
	var c sendCounters
	var wg sync.WaitGroup

	if opt.Concurrency <= 0 || opt.Concurrency >= len(streams) {
		for _, s := range streams {
			share := 0.0
			if opt.Rate > 0 && total > 0 {
				share = opt.Rate * float64(s.total) / float64(total)
			}
			wg.Go(func() {
				lim := newLimiter(share)
				if err := sendStream(ctx, conn, r, s, passes, deadline, lim, callOpts, &c); err != nil {
					c.fail(err)
				}
			})
		}
	} else {
		var next atomic.Int64
		workers := opt.Concurrency
		for range workers {
			wg.Go(func() {
				lim := newLimiter(opt.Rate / float64(workers))
				for ctx.Err() == nil {
					j := int(next.Add(1) - 1)
					var s *rawStream
					p := passes
					switch {
					case !deadline.IsZero():
						if !time.Now().Before(deadline) {
							return
						}
						s, p = streams[j%len(streams)], 1
					case j < len(streams):
						s = streams[j]
					default:
						return
					}
					if err := sendStream(ctx, conn, r, s, p, deadline, lim, callOpts, &c); err != nil {
						c.fail(err)
					}
				}
			})
		}
	}
	wg.Wait()
	st := Stats{
		Entries: c.entries.Load(), Messages: c.messages.Load(), Bytes: c.bytes.Load(),
		Streams: c.streams.Load(), Errors: c.errors.Load(), Elapsed: time.Since(begin),
	}
	if st.Errors > 0 {
		return st, fmt.Errorf("send %s: %d of %d streams failed, first: %w", r.what, st.Errors, st.Streams, c.first)
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("send %s: %w", r.what, err)
	}
	return st, nil
}

// sendStream opens one gRPC stream and writes passes passes of s on it (or
// until deadline, if set). Passes after the first omit the identifier.
func sendStream(ctx context.Context, conn grpc.ClientConnInterface, r rpc, s *rawStream, passes int, deadline time.Time,
	lim *limiter, callOpts []grpc.CallOption, c *sendCounters,
) error {
	if ctx.Err() != nil {
		return nil
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(sctx, r.desc, r.method, callOpts...)
	if err != nil {
		return fmt.Errorf("open stream for %s: %w", s.node, err)
	}
	c.streams.Add(1)
	msg := &RawMessage{}
	for pass := 0; deadline.IsZero() && pass < passes || !deadline.IsZero(); pass++ {
		for i, b := range s.messages {
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				return closeStream(cs, r, s.node)
			}
			if pass > 0 && i == 0 {
				b = b[s.identLen:]
			}
			if err := lim.wait(ctx, s.counts[i]); err != nil {
				return nil // cancelled: send reports ctx.Err()
			}
			msg.Bytes = b
			if err := cs.SendMsg(msg); err != nil {
				if errors.Is(err, io.EOF) {
					// The server ended the stream; its status says why.
					err = cs.RecvMsg(r.resp())
				}
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("send on stream for %s: %w", s.node, err)
			}
			c.entries.Add(int64(s.counts[i]))
			c.messages.Add(1)
			c.bytes.Add(int64(len(b)))
		}
	}
	return closeStream(cs, r, s.node)
}

func closeStream(cs grpc.ClientStream, r rpc, node string) error {
	if err := cs.CloseSend(); err != nil {
		return fmt.Errorf("close stream for %s: %w", node, err)
	}
	if err := cs.RecvMsg(r.resp()); err != nil {
		return fmt.Errorf("close stream for %s: %w", node, err)
	}
	return nil
}

// limiter paces a sender to rate entries/s: a token bucket with a burst of
// burstWindow worth of entries, checked once per message (so the cost is
// one clock read per message and a sleep only when ahead of schedule).
type limiter struct {
	perEntry float64 // ns per entry; 0 = unlimited
	next     time.Time
	timer    *time.Timer
}

const (
	burstWindow = 50 * time.Millisecond
	minSleep    = 200 * time.Microsecond
)

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{perEntry: 1e9 / rate}
}

func (l *limiter) wait(ctx context.Context, n int) error {
	if l.perEntry == 0 {
		return nil
	}
	now := time.Now()
	if l.next.IsZero() || l.next.Before(now.Add(-burstWindow)) {
		l.next = now.Add(-burstWindow)
	}
	l.next = l.next.Add(time.Duration(float64(n) * l.perEntry))
	d := l.next.Sub(now)
	if d < minSleep {
		return nil
	}
	if l.timer == nil {
		l.timer = time.NewTimer(d)
	} else {
		l.timer.Reset(d)
	}
	select {
	case <-ctx.Done():
		l.timer.Stop()
		return ctx.Err()
	case <-l.timer.C:
		return nil
	}
}
