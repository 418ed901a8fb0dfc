package spans

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
)

// PipelineConfig is an ingest path's `traces` section (the ALS receiver's
// today): spans rebuilt from the access log and handed to the traces
// pipeline the ingest path's receiver is in.
type PipelineConfig struct {
	// Enabled turns span reconstruction on. Off, the receiver does not look
	// at records for spans at all.
	Enabled bool `mapstructure:"enabled"`
	// Sampling and trace ids: sampling_rate, keep_errors, slow_threshold,
	// synthetic_trace_ids.
	Config `mapstructure:",squash"`
	// QueueSize bounds the spans waiting between ingest and the pipeline;
	// spans that do not fit are dropped and counted (reason queue_full).
	QueueSize int `mapstructure:"queue_size"`
}

// DefaultPipelineConfig returns the defaults: off; when turned on,
// DefaultConfig's sampling and a queue of 10,000 spans.
func DefaultPipelineConfig() PipelineConfig {
	return PipelineConfig{Config: DefaultConfig(), QueueSize: 10_000}
}

// Validate checks the configuration.
func (c *PipelineConfig) Validate() error {
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

// Pipeline is span reconstruction's adapter, the one every ingest path
// calls: it turns the records of each batch into spans (Sampler, Builder)
// and hands them to the collector's traces pipeline from one goroutine of
// its own, so that a slow or absent backend never blocks ingest: the queue
// between the two is bounded and drops, counted, when full.
//
// Offer runs on the ingest goroutines (it is safe for concurrent use); the
// goroutine started by Start is the only caller of next.ConsumeTraces.
type Pipeline struct {
	sampler  *Sampler
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
	m        *pipelineMetrics
}

// NewPipeline returns a Pipeline that hands spans to next and registers its
// own metrics (meshlens_spans_*) on reg; Shutdown unregisters them.
func NewPipeline(cfg PipelineConfig, next consumer.Traces, logger *zap.Logger, reg prometheus.Registerer) (*Pipeline, error) {
	p := &Pipeline{
		sampler:  NewSampler(cfg.Config),
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
	m, err := newPipelineMetrics(reg, func() float64 { return float64(p.queued.Load()) })
	if err != nil {
		return nil, err
	}
	p.m = m
	return p, nil
}

// Offer samples the records of one batch and queues the spans of the kept
// ones. The records are valid only during the call; the spans copy what they
// keep. It never blocks. An ingest path calls it after its Consumer took
// the batch; the spans are built from the records as given (a consumer does
// not change them).
func (p *Pipeline) Offer(recs []accesslog.Record) {
	var (
		counts [8]int
		b      *Builder
	)
	for i := range recs {
		d, t := p.sampler.Decide(&recs[i])
		counts[d&7]++
		if !d.Kept() {
			continue
		}
		if b == nil {
			b = NewBuilder()
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

// Start runs the goroutine that feeds the traces pipeline.
func (p *Pipeline) Start() { go p.run() }

// MaxExportBatch bounds the spans handed to the traces pipeline at once.
const MaxExportBatch = 5000

// batch appends to td the batches already waiting in the queue, without
// waiting for more, up to MaxExportBatch spans: one export while the
// pipeline is busy carries what arrived meanwhile, so an exporter without a
// queue of its own (the --traces-endpoint one) still sends few, large
// requests, and says for each whether it was exported.
func (p *Pipeline) batch(td ptrace.Traces) ptrace.Traces {
	n := td.SpanCount()
	for n < MaxExportBatch {
		select {
		case more := <-p.queue:
			n += more.SpanCount()
			more.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		default:
			return td
		}
	}
	return td
}

func (p *Pipeline) run() {
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
			export(p.batch(td))
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

// Shutdown stops taking spans, hands what is queued to the pipeline until
// ctx is done (what is left then is dropped, counted) and waits for the
// goroutine; a pipeline that ignores its context's cancellation holds it
// until its ConsumeTraces returns. Offers that still arrive (a stream not
// yet ended) are dropped, counted. It is idempotent.
func (p *Pipeline) Shutdown(ctx context.Context) {
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

// RegisterIdleMetrics registers the metrics a Pipeline has
// (meshlens_spans_*), every series at zero, on reg for an ingest path whose
// span reconstruction is off: the families exist from start, with the same
// label values, so dashboards and alerts read 0 (nothing rebuilt, nothing
// dropped), not an absent series. Call the returned func to unregister
// them.
func RegisterIdleMetrics(reg prometheus.Registerer) (unregister func(), err error) {
	m, err := newPipelineMetrics(reg, func() float64 { return 0 })
	if err != nil {
		return nil, err
	}
	return m.unregister, nil
}

// pipelineMetrics are the Pipeline's own metrics, on the hub's registry.
type pipelineMetrics struct {
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

func newPipelineMetrics(reg prometheus.Registerer, queued func() float64) (*pipelineMetrics, error) {
	m := &pipelineMetrics{
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
	for _, d := range Decisions() {
		m.decisions = append(m.decisions, m.records.WithLabelValues(d.String()))
	}
	m.built = m.total.WithLabelValues(spanStageBuilt)
	m.exported = m.total.WithLabelValues(spanStageExported)
	for _, r := range []string{spanDropQueueFull, spanDropPipeline, spanDropShutdown} {
		m.dropped[r] = m.drops.WithLabelValues(r)
	}
	return m, nil
}

func (m *pipelineMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.records, m.total, m.drops, m.queuedFn}
}

func (m *pipelineMetrics) unregister() {
	for _, c := range m.collectors() {
		m.reg.Unregister(c)
	}
}
