package loadgen

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// demoConfig holds Demo's timing; tests shorten it.
type demoConfig struct {
	tick         time.Duration // scheduler period
	flush        time.Duration // ALS buffer_flush_interval
	batch        int           // entries per message at most
	metrics      time.Duration // stats_flush_interval
	backoffMin   time.Duration
	backoffMax   time.Duration
	queue        int           // messages buffered per stream before dropping
	closeTimeout time.Duration // for the final CloseSend/Recv
}

var defaultDemoConfig = demoConfig{
	tick:         100 * time.Millisecond,
	flush:        time.Second,
	batch:        100,
	metrics:      5 * time.Second,
	backoffMin:   250 * time.Millisecond,
	backoffMax:   10 * time.Second,
	queue:        64,
	closeTimeout: 2 * time.Second,
}

// demoStats counts what Demo did (for tests and logs).
type demoStats struct {
	requests, entries, messages, metricsMessages, dropped, reconnects atomic.Int64
}

// Demo streams freshly generated traffic of mesh over conn at rate simulated
// calls per second until ctx is done, like a fleet of real Envoys. The calls
// are those of whole requests entering the mesh (callTree): every hop of a
// request continues its trace, so a tracing backend shows each request end
// to end. One long-lived ALS stream per proxy and logger (identifier on each
// stream's first message), entries flushed every second or every 100 entries, and a
// Metrics Service stream per proxy flushed every 5 seconds. Timestamps come
// from now (calls start spread over each 100 ms tick; an entry is written
// when its request ends). A failed stream is reopened with exponential
// backoff (250 ms to 10 s, jittered); messages that cannot be queued while a
// stream is down are dropped, as Envoy's lossy logger does. Demo returns nil
// when ctx is done, or an error if the mesh or rate is invalid.
func Demo(ctx context.Context, conn grpc.ClientConnInterface, mesh Mesh, rate float64, now func() time.Time) error {
	return runDemo(ctx, conn, mesh, rate, now, defaultDemoConfig, nil)
}

// schedItem is an entry or stat event waiting for its time.
type schedItem struct {
	at    int64
	seq   uint64
	p     *proxy
	kind  logKind
	entry []byte // nil for a stat event
	ev    statEvent
}

type schedHeap []schedItem

func (h schedHeap) Len() int { return len(h) }
func (h schedHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h schedHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *schedHeap) Push(x any)   { *h = append(*h, x.(schedItem)) }
func (h *schedHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = schedItem{}
	*h = old[:len(old)-1]
	return it
}

type demoSink struct {
	h   schedHeap
	seq uint64
}

func (s *demoSink) entry(p *proxy, kind logKind, _ int, at int64, b []byte) {
	s.seq++
	heap.Push(&s.h, schedItem{at: at, seq: s.seq, p: p, kind: kind, entry: b})
}

func (s *demoSink) event(ev statEvent) {
	s.seq++
	heap.Push(&s.h, schedItem{at: ev.at, seq: s.seq, p: ev.p, ev: ev})
}

// demoBuffer collects one (proxy, logger) stream's due entries.
type demoBuffer struct {
	entries [][]byte
	since   time.Time
	out     *demoSender
}

func runDemo(ctx context.Context, conn grpc.ClientConnInterface, mesh Mesh, rate float64, now func() time.Time,
	dc demoConfig, st *demoStats,
) error {
	if rate <= 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return fmt.Errorf("demo: rate must be a positive number, got %v", rate)
	}
	c, err := compile(mesh)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if st == nil {
		st = &demoStats{}
	}
	begin := now()
	cfg := GenConfig{Seed: uint64(begin.UnixNano()), UntracedShare: 0.05}.withDefaults()
	led := newLedger()
	sink := &demoSink{}
	g := newGenerator(c, cfg, 0, sink, &led, true)
	// Whole requests (every hop in one trace) when the mesh has an entry;
	// independent calls when every workload is called by another.
	tree := c.callTree()
	if len(tree.roots) == 0 {
		tree = nil
	}

	// Senders own the gRPC streams; the scheduler (this goroutine) owns
	// everything else.
	sctx, stopSenders := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSenders()
	var wg sync.WaitGroup
	var senders []*demoSender
	newSender := func(method string, desc *grpc.StreamDesc, ident []byte, resp func() proto.Message, isMetrics bool) *demoSender {
		s := &demoSender{
			conn: conn, method: method, desc: desc, resp: resp, ch: make(chan []byte, dc.queue),
			identField: protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), ident),
			cfg:        dc, st: st, metrics: isMetrics,
			rng: rand.New(rand.NewPCG(uint64(begin.UnixNano()), uint64(len(senders)))),
		}
		senders = append(senders, s)
		wg.Go(func() { s.run(sctx) })
		return s
	}
	als := func() proto.Message { return &alsv3.StreamAccessLogsResponse{} }
	met := func() proto.Message { return &metricsv3.StreamMetricsResponse{} }
	buffers := make([]*demoBuffer, 2*len(c.proxies))
	stats := make([]*proxyStats, len(c.proxies))
	metricsOut := make([]*demoSender, len(c.proxies))
	for i, p := range c.proxies {
		stats[i] = newProxyStats(p, begin, len(c.services)+5)
		metricsOut[i] = newSender(MetricsMethod, &metricsStreamDesc, p.identMetrics, met, true)
	}

	flush := func(b *demoBuffer, kind logKind) {
		if len(b.entries) == 0 {
			return
		}
		msg := appendMessage(nil, nil, kind, b.entries)
		if b.out.offer(msg) {
			st.entries.Add(int64(len(b.entries)))
		}
		b.entries = b.entries[:0]
	}
	drain := func(t time.Time) {
		for sink.h.Len() > 0 && sink.h[0].at <= t.UnixNano() {
			it := heap.Pop(&sink.h).(schedItem)
			if it.entry == nil {
				stats[it.p.idx].apply(&it.ev)
				continue
			}
			bi := it.p.idx*2 + int(it.kind)
			b := buffers[bi]
			if b == nil {
				ident, method := it.p.identHTTP, AccessLogMethod
				if it.kind == kindTCP {
					ident = it.p.identTCP
				}
				b = &demoBuffer{out: newSender(method, &alsStreamDesc, ident, als, false)}
				buffers[bi] = b
			}
			if len(b.entries) == 0 {
				b.since = t
			}
			b.entries = append(b.entries, it.entry)
			if len(b.entries) >= dc.batch {
				flush(b, it.kind)
			}
		}
		for i, b := range buffers {
			if b != nil && len(b.entries) > 0 && t.Sub(b.since) >= dc.flush {
				flush(b, logKind(i%2))
			}
		}
	}

	ticker := time.NewTicker(dc.tick)
	defer ticker.Stop()
	last := begin
	nextMetrics := begin.Add(dc.metrics)
	carry := 0.0
	for {
		select {
		case <-ctx.Done():
			drain(now())
			for i, b := range buffers {
				if b != nil {
					flush(b, logKind(i%2))
				}
			}
			for _, s := range senders {
				close(s.ch)
			}
			wg.Wait()
			return nil
		case <-ticker.C:
		}
		t := now()
		span := t.Sub(last)
		if span <= 0 {
			continue
		}
		// Whole requests, each a tree of calls in one trace, until the
		// tick's share of calls is made.
		carry += rate * span.Seconds()
		calls, due := 0, carry
		for carry >= 1 {
			at := last.Add(time.Duration(float64(span) * (1 - carry/(due+1))))
			n := 1
			if tree != nil {
				n = g.request(tree, at)
			} else {
				g.call(at)
			}
			carry -= float64(n)
			calls += n
		}
		st.requests.Add(int64(calls))
		last = t
		drain(t)
		if !t.Before(nextMetrics) {
			for i, s := range stats {
				body, _, err := encodeMetrics(nil, s.snapshot(t))
				if err == nil && metricsOut[i].offer(body) {
					st.metricsMessages.Add(1)
				}
			}
			nextMetrics = nextMetrics.Add(dc.metrics)
			if nextMetrics.Before(t) {
				nextMetrics = t.Add(dc.metrics)
			}
		}
		// The demo keeps no history: reset the ledger so it stays small.
		if led.Entries > 1<<20 {
			led = newLedger()
		}
	}
}

// demoSender owns one long-lived gRPC client stream. Messages arrive without
// identifier; the sender prepends it to the first message of every stream it
// opens.
type demoSender struct {
	conn       grpc.ClientConnInterface
	method     string
	desc       *grpc.StreamDesc
	identField []byte
	resp       func() proto.Message
	ch         chan []byte
	cfg        demoConfig
	st         *demoStats
	metrics    bool
	rng        *rand.Rand
}

// offer queues a message without blocking; false means it was dropped.
func (s *demoSender) offer(msg []byte) bool {
	select {
	case s.ch <- msg:
		return true
	default:
		s.st.dropped.Add(1)
		return false
	}
}

type liveStream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
}

func (s *demoSender) open(ctx context.Context) (*liveStream, error) {
	sctx, cancel := context.WithCancel(ctx)
	cs, err := s.conn.NewStream(sctx, s.desc, s.method, grpc.ForceCodecV2(RawCodec{}))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open %s: %w", s.method, err)
	}
	return &liveStream{cs: cs, cancel: cancel}, nil
}

// close ends the stream cleanly (CloseSend, then wait for the response),
// giving up after closeTimeout.
func (s *demoSender) close(l *liveStream) {
	timer := time.AfterFunc(s.cfg.closeTimeout, l.cancel)
	if l.cs.CloseSend() == nil {
		_ = l.cs.RecvMsg(s.resp())
	}
	timer.Stop()
	l.cancel()
}

func (s *demoSender) run(ctx context.Context) {
	var (
		cur     *liveStream
		backoff = s.cfg.backoffMin
		retryAt time.Time
		opened  int
	)
	for msg := range s.ch {
		if cur == nil {
			if time.Now().Before(retryAt) {
				s.st.dropped.Add(1)
				continue
			}
			l, err := s.open(ctx)
			if err != nil {
				retryAt, backoff = s.nextBackoff(backoff)
				s.st.dropped.Add(1)
				continue
			}
			cur = l
			if opened > 0 {
				s.st.reconnects.Add(1)
			}
			opened++
			full := make([]byte, 0, len(s.identField)+len(msg))
			msg = append(append(full, s.identField...), msg...)
		}
		if err := cur.cs.SendMsg(&RawMessage{Bytes: msg}); err != nil {
			if errors.Is(err, io.EOF) {
				_ = cur.cs.RecvMsg(s.resp()) // the server ended the stream
			}
			cur.cancel()
			cur = nil
			retryAt, backoff = s.nextBackoff(backoff)
			s.st.dropped.Add(1)
			continue
		}
		backoff = s.cfg.backoffMin
		if !s.metrics {
			s.st.messages.Add(1)
		}
	}
	if cur != nil {
		s.close(cur)
	}
}

func (s *demoSender) nextBackoff(cur time.Duration) (time.Time, time.Duration) {
	wait := cur/2 + time.Duration(s.rng.Int64N(int64(cur)))
	next := min(cur*2, s.cfg.backoffMax)
	return time.Now().Add(wait), next
}
