package metricsreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/collector/hubextension"
	"github.com/meshlens/meshlens/collector/internal/hubref"
)

// ScopeName is the instrumentation scope of the metrics the receiver sends.
const ScopeName = "github.com/meshlens/meshlens/collector/metricsreceiver"

// hub is what the receiver needs of the hub extension.
type hub interface {
	Aggregations() hubextension.Aggregations
	// Registerer is where the receiver registers its own metrics.
	Registerer() prometheus.Registerer
}

var _ hub = (*hubextension.Hub)(nil)

// reader is one aggregation's OpenTelemetry reader (NewOTelReader).
type reader interface {
	Read(now time.Time, batch int, emit func(pmetric.MetricSlice) error) error
}

type metricsReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Metrics
	now  func() time.Time

	// instance is the service.instance.id of the metrics sent: the host
	// name, so that replicas push distinct series.
	instance string

	mu      sync.Mutex
	readers []reader
	host    component.Host
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	shut    bool
	failing bool // the last collection failed (status reported)
	failed  prometheus.Counter
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics, now func() time.Time) *metricsReceiver {
	instance, err := os.Hostname()
	if err != nil {
		instance = set.ID.String()
	}
	return &metricsReceiver{cfg: cfg, set: set, next: next, now: now, instance: instance}
}

// Start finds the hub, creates the readers and collects every
// collection_interval in the background.
func (r *metricsReceiver) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return errors.New("receiver was shut down")
	}
	h, err := hubref.Find[hub](host, r.cfg.Hub, "give its aggregations to read")
	if err != nil {
		return err
	}
	aggs := h.Aggregations()
	start := r.now()
	failed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meshlens_push_failed_total",
		Help: "Collections of the meshlens_metrics receiver that the metrics pipeline refused (the exporter's error); the next collection sends the cumulative values again.",
	})
	if err := h.Registerer().Register(failed); err != nil {
		are := prometheus.AlreadyRegisteredError{}
		if !errors.As(err, &are) {
			return fmt.Errorf("register metrics: %w", err)
		}
		failed = are.ExistingCollector.(prometheus.Counter) // another meshlens_metrics receiver of the hub
	}
	r.failed = failed
	r.readers = r.readers[:0]
	for _, s := range r.cfg.Sources {
		switch s {
		case SourceIstio:
			r.readers = append(r.readers, aggs.Istio.NewOTelReader(start))
		case SourceEnvoy:
			r.readers = append(r.readers, aggs.Envoy.NewOTelReader(start))
		case SourceSpanMetrics:
			r.readers = append(r.readers, aggs.Spans.NewOTelReader(start))
		}
	}
	r.host = host
	// Background work gets its own cancellation: Start's context ends when
	// Start returns.
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	r.wg.Go(func() { r.loop(ctx) })
	r.set.Logger.Info("meshlens metrics receiver started", zap.String("hub", r.cfg.Hub.String()),
		zap.Duration("collection_interval", r.cfg.CollectionInterval), zap.Strings("sources", r.cfg.Sources))
	return nil
}

func (r *metricsReceiver) loop(ctx context.Context) {
	t := time.NewTicker(r.cfg.CollectionInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.report(r.collect(ctx))
		}
	}
}

// collect reads every source once and sends what it read, in batches of at
// most max_batch_points data points. It returns the first error of the
// next consumer; the sources after it are still read.
func (r *metricsReceiver) collect(ctx context.Context) error {
	now := r.now()
	emit := func(ms pmetric.MetricSlice) error {
		md := pmetric.NewMetrics()
		rm := md.ResourceMetrics().AppendEmpty()
		res := rm.Resource().Attributes()
		res.PutStr("service.name", "meshlens")
		res.PutStr("service.instance.id", r.instance)
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(ScopeName)
		ms.MoveAndAppendTo(sm.Metrics())
		return r.next.ConsumeMetrics(ctx, md)
	}
	var errs error
	for _, rd := range r.readers {
		if ctx.Err() != nil {
			return errs
		}
		if err := rd.Read(now, r.cfg.MaxBatchPoints, emit); err != nil {
			errs = errors.Join(errs, fmt.Errorf("send metrics: %w", err))
		}
	}
	if errs != nil {
		r.failed.Inc()
	}
	return errs
}

// report tells the host when collections start or stop failing.
func (r *metricsReceiver) report(err error) {
	switch {
	case err != nil:
		if !r.failing {
			r.set.Logger.Warn("sending metrics fails; counted in meshlens_push_failed_total until it works again", zap.Error(err))
		}
		r.failing = true
		componentstatus.ReportStatus(r.host, componentstatus.NewRecoverableErrorEvent(err))
	case r.failing:
		r.failing = false
		r.set.Logger.Info("sending metrics works again")
		componentstatus.ReportStatus(r.host, componentstatus.NewEvent(componentstatus.StatusOK))
	}
}

// Shutdown stops collecting and waits for a collection under way. It is
// idempotent and safe without Start.
func (r *metricsReceiver) Shutdown(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shut = true
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	r.cancel = nil
	r.wg.Wait()
	r.set.Logger.Info("meshlens metrics receiver stopped", zap.String("hub", r.cfg.Hub.String()))
	return nil
}

var _ receiver.Metrics = (*metricsReceiver)(nil)

// sources lists the names of the readers' sources, for tests.
func (r *metricsReceiver) sources() []string { return slices.Clone(r.cfg.Sources) }
