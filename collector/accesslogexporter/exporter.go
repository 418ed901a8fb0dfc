package accesslogexporter

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/entry"
	"github.com/meshlens/meshlens/accesslog/format"
	"github.com/meshlens/meshlens/collector/internal/conntable"
	"github.com/meshlens/meshlens/collector/internal/hubref"
)

// Sink is what the exporter needs of the hub: it consumes records and
// gives the registry for the exporter's own metrics.
type Sink interface {
	accesslog.Consumer
	Registerer() prometheus.Registerer
}

// spanSink is implemented by hubs that rebuild spans from the records of
// every ingest path (hubextension.Hub.OfferSpans: the envoyals receiver's
// span pipeline, when its traces are on).
type spanSink interface {
	OfferSpans(recs []accesslog.Record)
}

// accessLogs is the exporter: a table of the reporting proxies' streams,
// each with its normaliser, fed from OpenTelemetry log records.
type accessLogs struct {
	cfg   *Config
	set   exporter.Settings
	now   func() time.Time
	body  bodyParser
	attrs *format.JSONFormat
	conns *conntable.Locked

	sink    Sink
	spans   spanSink // nil: the hub rebuilds no spans
	metrics *selfMetrics

	mu      sync.Mutex // guards streams
	streams map[string]*proxyStream

	stop chan struct{}
	wg   sync.WaitGroup
}

// proxyStream is one reporting proxy: its normaliser. Its batches are
// consumed one at a time (mu), as the ingest contract asks; their buffers
// come from bufPool.
type proxyStream struct {
	mu       sync.Mutex
	st       *accesslog.Stream
	local    accesslog.StreamLocal
	lastUsed time.Time // guarded by accessLogs.mu
}

// The TCP connections tracked for byte deltas (as the envoyals receiver's
// defaults).
const (
	maxTCPConnections = 100_000
	tcpConnectionTTL  = 10 * time.Minute
)

func newExporter(cfg *Config, set exporter.Settings, now func() time.Time) (*accessLogs, error) {
	body, err := cfg.bodyParser()
	if err != nil {
		return nil, err
	}
	attrs, err := format.CompileJSON(cfg.Attributes)
	if err != nil {
		return nil, err
	}
	return &accessLogs{
		cfg: cfg, set: set, now: now, body: body, attrs: attrs,
		conns:   conntable.New(maxTCPConnections, tcpConnectionTTL),
		streams: map[string]*proxyStream{},
		stop:    make(chan struct{}),
	}, nil
}

func (a *accessLogs) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

// Start finds the hub and registers the exporter's metrics.
func (a *accessLogs) Start(_ context.Context, host component.Host) error {
	sink, err := hubref.Find[Sink](host, a.cfg.Hub, "consume access log records")
	if err != nil {
		return err
	}
	m, err := newSelfMetrics(sink.Registerer(), a.streamCount)
	if err != nil {
		return fmt.Errorf("register %s metrics: %w", Type, err)
	}
	a.sink, a.metrics = sink, m
	a.spans, _ = sink.(spanSink)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.expireLoop()
	}()
	a.set.Logger.Info("Taking Envoy access logs from a logs pipeline", zap.String("format", a.cfg.Format),
		zap.Int("attributes", len(a.attrs.Keys())), zap.Int("max_streams", a.cfg.MaxStreams))
	return nil
}

// Shutdown stops the expiry loop and unregisters the metrics.
func (a *accessLogs) Shutdown(context.Context) error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
	if a.metrics != nil {
		a.metrics.unregister()
		a.metrics = nil
	}
	a.set.Logger.Info("Stopped taking Envoy access logs from a logs pipeline")
	return nil
}

func (a *accessLogs) streamCount() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return float64(len(a.streams))
}

func (a *accessLogs) expireLoop() {
	t := time.NewTicker(min(a.cfg.StreamIdleTimeout/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			now := a.now()
			a.expire(now)
			a.conns.Expire(now)
		}
	}
}

// expire forgets the streams idle for StreamIdleTimeout.
func (a *accessLogs) expire(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, s := range a.streams {
		if now.Sub(s.lastUsed) >= a.cfg.StreamIdleTimeout {
			delete(a.streams, k)
			a.metrics.evicted.WithLabelValues(reasonIdle).Inc()
		}
	}
}

// evictAfter is how long a stream must have been idle to make room for a
// new proxy when the table is full.
const evictAfter = 10 * time.Second

// stream returns the stream of key, creating it with newProxy; nil when
// the table is full of streams busy within evictAfter.
func (a *accessLogs) stream(key string, newProxy func() *accesslog.Proxy, now time.Time) *proxyStream {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.streams[key]; s != nil {
		s.lastUsed = now
		return s
	}
	if len(a.streams) >= a.cfg.MaxStreams {
		var oldest string
		var at time.Time
		for k, s := range a.streams {
			if oldest == "" || s.lastUsed.Before(at) {
				oldest, at = k, s.lastUsed
			}
		}
		if now.Sub(at) < evictAfter {
			return nil
		}
		delete(a.streams, oldest)
		a.metrics.evicted.WithLabelValues(reasonEvicted).Inc()
	}
	st := accesslog.NewStream(a.cfg.Normalizer, a.conns)
	st.SetProxy(newProxy())
	a.metrics.normalised(st, accesslog.Truncations{}, [accesslog.NumClampFields]int{}, [accesslog.NumResetReasons]int{}) // the node's values cut
	s := &proxyStream{st: st, lastUsed: now}
	a.streams[key] = s
	return s
}

// ConsumeLogs normalises each resource's log records as one batch of its
// proxy's stream and hands the records to the hub. Every record is counted
// received, then processed, rejected or dropped, by reason.
func (a *accessLogs) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	m := a.metrics
	if m == nil {
		return errors.New("exporter not started")
	}
	now := a.now()
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		n := 0
		for j := range rl.ScopeLogs().Len() {
			n += rl.ScopeLogs().At(j).LogRecords().Len()
		}
		if n == 0 {
			continue
		}
		m.received.Add(float64(n))
		key, newProxy, ok := reporter(rl.Resource())
		if !ok {
			m.rejected.WithLabelValues(reasonNoReporter).Add(float64(n))
			continue
		}
		s := a.stream(key, newProxy, now)
		if s == nil {
			m.dropped.WithLabelValues(reasonStreamLimit).Add(float64(n))
			continue
		}
		a.consume(ctx, s, rl, now)
	}
	return nil
}

// subBatch is how many log records are decoded, normalised and handed to
// the hub at a time: what one call holds of a resource however many
// records it has.
const subBatch = 1024

// batchBufs are one sub-batch's buffers, shared by all streams through
// bufPool, so that a stream between batches holds none (as the ALS
// decoder's views).
type batchBufs struct {
	lrs     []plog.LogRecord
	entries []entry.Entry
	recs    []accesslog.Record
	arena   []byte
}

// maxPooledArena is the largest arena put back in the pool: a sub-batch of
// larger bodies gets its own, which goes with it.
const maxPooledArena = 1 << 20

var bufPool = sync.Pool{New: func() any {
	return &batchBufs{
		lrs: make([]plog.LogRecord, 0, subBatch), entries: make([]entry.Entry, 0, subBatch), recs: make([]accesslog.Record, 0, subBatch),
	}
}}

// consume decodes and normalises one resource's records on its stream, a
// sub-batch at a time.
func (a *accessLogs) consume(ctx context.Context, s *proxyStream, rl plog.ResourceLogs, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := bufPool.Get().(*batchBufs)
	defer func() {
		if cap(b.arena) > maxPooledArena {
			b.arena = nil
		}
		// Nothing in the pool keeps a stream's strings or a request's
		// records alive.
		clear(b.recs[:cap(b.recs)])
		clear(b.lrs[:cap(b.lrs)])
		bufPool.Put(b)
	}()
	b.lrs = b.lrs[:0]
	for j := range rl.ScopeLogs().Len() {
		lrs := rl.ScopeLogs().At(j).LogRecords()
		for k := range lrs.Len() {
			b.lrs = append(b.lrs, lrs.At(k))
			if len(b.lrs) == subBatch {
				a.consumeBatch(ctx, s, b, b.lrs, now)
				b.lrs = b.lrs[:0]
			}
		}
	}
	if len(b.lrs) > 0 {
		a.consumeBatch(ctx, s, b, b.lrs, now)
	}
}

// consumeBatch decodes, normalises and hands to the hub one sub-batch.
func (a *accessLogs) consumeBatch(ctx context.Context, s *proxyStream, b *batchBufs, lrs []plog.LogRecord, now time.Time) {
	m := a.metrics
	b.arena = b.arena[:0]
	if need := arenaBytes(lrs); cap(b.arena) < need {
		// Sized for the sub-batch: decode's appends never reallocate it
		// (were one to, the entries before it would keep the old array,
		// which nothing writes again).
		b.arena = make([]byte, 0, need)
	}
	b.entries = b.entries[:0]
	bad := 0
	for _, lr := range lrs {
		b.entries = append(b.entries, entry.Entry{})
		if err := a.decode(b, lr, &b.entries[len(b.entries)-1]); err != nil {
			b.entries = b.entries[:len(b.entries)-1]
			bad++
		}
	}
	if bad > 0 {
		m.rejected.WithLabelValues(reasonMalformed).Add(float64(bad))
	}
	truncated, clamped, resets := s.st.LabelsTruncated, s.st.Clamped, s.st.InternResets
	recs, out, err := s.st.Normalize(b.entries, b.recs[:0], now)
	b.recs = recs
	m.count(&out)
	m.normalised(s.st, truncated, clamped, resets)
	if err != nil {
		return // counted as rejected (no identifier) by the outcome
	}
	if err := a.sink.ConsumeRecords(ctx, &s.local, recs); err != nil {
		m.dropped.WithLabelValues(reasonSinkError).Add(float64(len(recs)))
		return
	}
	m.processed.Add(float64(len(recs)))
	if a.spans != nil {
		a.spans.OfferSpans(recs)
	}
}

// arenaBytes is what decode copies of the records: bodies and attribute
// values, numbers at their longest (a double written in full: 330 bytes).
func arenaBytes(lrs []plog.LogRecord) int {
	n := 0
	for _, lr := range lrs {
		if lr.Body().Type() == pcommon.ValueTypeStr {
			n += len(lr.Body().Str())
		}
		for _, v := range lr.Attributes().All() {
			switch v.Type() {
			case pcommon.ValueTypeStr:
				n += len(v.Str())
			case pcommon.ValueTypeDouble:
				n += 330
			default:
				n += 24
			}
		}
	}
	return n
}

// decode fills e from lr: from its attributes when they carry any field
// the attribute map names, else from its body with the body format.
func (a *accessLogs) decode(b *batchBufs, lr plog.LogRecord, e *entry.Entry) error {
	format.Begin(e, nil)
	fromAttrs := false
	for k, v := range lr.Attributes().All() {
		start := len(b.arena)
		switch v.Type() {
		case pcommon.ValueTypeStr:
			b.arena = append(b.arena, v.Str()...)
		case pcommon.ValueTypeInt:
			b.arena = strconv.AppendInt(b.arena, v.Int(), 10)
		case pcommon.ValueTypeDouble:
			b.arena = strconv.AppendFloat(b.arena, v.Double(), 'f', -1, 64)
		default:
			continue
		}
		val := b.arena[start:len(b.arena):len(b.arena)]
		known := a.attrs.Known(k)
		if err := a.attrs.Set(e, nil, k, val); err != nil {
			return err
		}
		fromAttrs = fromAttrs || known
	}
	if fromAttrs {
		return nil
	}
	if lr.Body().Type() != pcommon.ValueTypeStr {
		return errors.New("no access log fields in the attributes and no text body")
	}
	start := len(b.arena)
	b.arena = append(b.arena, lr.Body().Str()...)
	line := b.arena[start:len(b.arena):len(b.arena)]
	if a.body.json != nil {
		return a.body.json.Parse(line, e, nil)
	}
	return a.body.text.Parse(line, e, nil)
}
