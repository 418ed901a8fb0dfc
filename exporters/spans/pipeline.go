package alsreceiver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
)

// TracesConfig is the receiver's `traces` section: spans rebuilt from the
// access log and handed to the traces pipeline the receiver is in.
type TracesConfig struct {
	// Enabled turns span reconstruction on. Off, the receiver does not look
	// at records for spans at all.
	Enabled bool `mapstructure:"enabled"`
	// Sampling and trace ids: sampling_rate, keep_errors, slow_threshold,
	// synthetic_trace_ids.
	spans.Config `mapstructure:",squash"`
	// QueueSize bounds the spans waiting between ingest and the pipeline;
	// spans that do not fit are dropped and counted (reason queue_full).
	QueueSize int `mapstructure:"queue_size"`
}

func defaultTracesConfig() TracesConfig {
	return TracesConfig{Config: spans.DefaultConfig(), QueueSize: 10_000}
}

// Validate checks the configuration.
func (c *TracesConfig) Validate() error {
	errs := c.Config.Validate()
	if c.QueueSize <= 0 {
		errs = errors.Join(errs, fmt.Errorf("queue_size must be positive, got %d", c.QueueSize))
	}
	return errs
}

// Span drop reasons and stages (label values).
const (
	spanDropQueueFull = "queue_full"     // the receiver's queue was full
	spanDropPipeline  = "pipeline_error" // the pipeline refused the batch (e.g. exporter queue full)
	spanDropShutdown  = "shutdown"       // still queued when Shutdown's deadline passed
	spanStageBuilt    = "built"
	spanStageExported = "exported"
)

// spanPipeline turns the records of each message into spans and hands them
// to the traces pipeline from one goroutine of its own, so that a slow or
// absent backend never blocks ingest: the queue between the two is bounded
// and drops, counted, when full.
//
// offer runs on the stream goroutines; the goroutine started by start is the
// only caller of next.ConsumeTraces.
type spanPipeline struct {
	sampler  *spans.Sampler
	next     consumer.Traces
	logger   *zap.Logger
	capacity int64
	queue    chan ptrace.Traces
	queued   atomic.Int64 // spans in queue
	stopping atomic.Bool
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	ctx      context.Context // cancelled when Shutdown's deadline passes
	cancel   context.CancelFunc
	m        *spanMetrics
}

func newSpanPipeline(cfg TracesConfig, next consumer.Traces, logger *zap.Logger, reg prometheus.Registerer) (*spanPipeline, error) {
	p := &spanPipeline{
		sampler:  spans.NewSampler(cfg.Config),
		next:     next,
		logger:   logger,
		capacity: int64(cfg.QueueSize),
		// One batch is at least one span: the channel never holds more
		// batches than the queue holds spans.
		queue: make(chan ptrace.Traces, cfg.QueueSize),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	m, err := newSpanMetrics(reg, func() float64 { return float64(p.queued.Load()) })
	if err != nil {
		return nil, err
	}
	p.m = m
	return p, nil
}

// offer samples the records of one message and queues the spans of the kept
// ones. The records are valid only during the call; the spans copy what they
// keep. It never blocks.
func (p *spanPipeline) offer(recs []accesslog.Record) {
	var (
		counts [8]int
		b      *spans.Builder
	)
	for i := range recs {
		d, t := p.sampler.Decide(&recs[i])
		counts[d&7]++
		if !d.Kept() {
			continue
		}
		if b == nil {
			b = spans.NewBuilder()
		}
		b.Append(&recs[i], t, d)
	}
	for d, n := range counts {
		if n > 0 && d < len(p.m.decisions) {
			p.m.decisions[d].Add(float64(n))
		}
	}
	if b == nil {
		return
	}
	n := b.Len()
	p.m.built.Add(float64(n))
	td := b.Take()
	if p.stopping.Load() {
		p.m.dropped[spanDropShutdown].Add(float64(n))
		return
	}
	if p.queued.Add(int64(n)) > p.capacity {
		p.queued.Add(-int64(n))
		p.m.dropped[spanDropQueueFull].Add(float64(n))
		return
	}
	select {
	case p.queue <- td:
	default:
		p.queued.Add(-int64(n))
		p.m.dropped[spanDropQueueFull].Add(float64(n))
	}
}

// start runs the goroutine that feeds the pipeline.
func (p *spanPipeline) start() { go p.run() }

func (p *spanPipeline) run() {
	defer close(p.done)
	var lastLog time.Time
	export := func(td ptrace.Traces) {
		n := td.SpanCount()
		err := p.next.ConsumeTraces(p.ctx, td)
		p.queued.Add(-int64(n))
		if err == nil {
			p.m.exported.Add(float64(n))
			return
		}
		reason := spanDropPipeline
		if p.ctx.Err() != nil {
			reason = spanDropShutdown
		}
		p.m.dropped[reason].Add(float64(n))
		// Counted above; logged at most once a minute.
		if now := time.Now(); now.Sub(lastLog) >= time.Minute {
			lastLog = now
			p.logger.Warn("The traces pipeline refused rebuilt spans; they are dropped (meshlens_spans_dropped_total)",
				zap.Int("spans", n), zap.Error(err))
		}
	}
	for {
		select {
		case td := <-p.queue:
			export(td)
		case <-p.stop:
			for {
				select {
				case td := <-p.queue:
					if p.ctx.Err() != nil {
						n := td.SpanCount()
						p.queued.Add(-int64(n))
						p.m.dropped[spanDropShutdown].Add(float64(n))
						continue
					}
					export(td)
				default:
					return
				}
			}
		}
	}
}

// shutdown stops taking spans, hands what is queued to the pipeline until
// ctx is done (what is left then is dropped, counted) and waits for the
// goroutine; a pipeline that ignores its context's cancellation holds it
// until its ConsumeTraces returns. Offers that still arrive (a stream not
// yet ended) are dropped, counted. It is idempotent.
func (p *spanPipeline) shutdown(ctx context.Context) {
	p.stopOnce.Do(func() {
		p.stopping.Store(true)
		close(p.stop)
		select {
		case <-p.done:
		case <-ctx.Done():
			p.cancel() // the pipeline's ConsumeTraces sees a cancelled context
			<-p.done
		}
		p.cancel()
		p.m.unregister()
	})
}

// spanMetrics are the span pipeline's own metrics, on the hub's registry.
type spanMetrics struct {
	reg       prometheus.Registerer
	records   *prometheus.CounterVec // {decision}
	total     *prometheus.CounterVec // {stage}
	drops     *prometheus.CounterVec // {reason}
	queuedFn  prometheus.GaugeFunc
	decisions []prometheus.Counter
	built     prometheus.Counter
	exported  prometheus.Counter
	dropped   map[string]prometheus.Counter
}

func newSpanMetrics(reg prometheus.Registerer, queued func() float64) (*spanMetrics, error) {
	m := &spanMetrics{
		reg: reg,
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_spans_records_total",
			Help: "Records considered for span reconstruction, by sampling decision (rate, error, slow: kept; sampled_out; ineligible: TCP, not final, or no trace).",
		}, []string{"decision"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_spans_total",
			Help: "Spans rebuilt from access logs, by stage: built, exported (taken by the traces pipeline). built = exported + dropped + queued.",
		}, []string{"stage"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_spans_dropped_total",
			Help: "Rebuilt spans dropped, by reason: queue_full (receiver queue), pipeline_error (the pipeline refused them, e.g. exporter queue full), shutdown.",
		}, []string{"reason"}),
		queuedFn: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_spans_queued", Help: "Rebuilt spans waiting in the receiver's queue for the traces pipeline.",
		}, queued),
		dropped: map[string]prometheus.Counter{},
	}
	for _, c := range m.collectors() {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("register span metrics: %w", err)
		}
	}
	for _, d := range spans.Decisions() {
		m.decisions = append(m.decisions, m.records.WithLabelValues(d.String()))
	}
	m.built = m.total.WithLabelValues(spanStageBuilt)
	m.exported = m.total.WithLabelValues(spanStageExported)
	for _, r := range []string{spanDropQueueFull, spanDropPipeline, spanDropShutdown} {
		m.dropped[r] = m.drops.WithLabelValues(r)
	}
	return m, nil
}

func (m *spanMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.total, m.drops, m.queuedFn}
}

func (m *spanMetrics) unregister() {
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}

// startSpans creates and starts the span pipeline when traces are enabled.
func (r *alsReceiver) startSpans(reg prometheus.Registerer) error {
	if !r.cfg.Traces.Enabled {
		return nil
	}
	p, err := newSpanPipeline(r.cfg.Traces, r.next, r.set.Logger, reg)
	if err != nil {
		return err
	}
	p.start()
	r.spans = p
	r.set.Logger.Info("Rebuilding spans from access logs",
		zap.Float64("sampling_rate", r.cfg.Traces.SamplingRate), zap.Bool("keep_errors", r.cfg.Traces.KeepErrors),
		zap.Duration("slow_threshold", r.cfg.Traces.SlowThreshold), zap.Int("queue_size", r.cfg.Traces.QueueSize))
	return nil
}

// stopSpans drains the span pipeline; call it after ingest has stopped.
// r.spans stays set: a stream handler that outlived the gRPC server's stop
// may still offer, and is counted as dropped.
func (r *alsReceiver) stopSpans(ctx context.Context) {
	if r.spans != nil {
		r.spans.shutdown(ctx)
	}
}
