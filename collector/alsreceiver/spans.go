package alsreceiver

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
)

// spanHub is implemented by hubs that offer the records of their other
// ingest paths to one span pipeline (hubextension.Hub.SetSpans).
type spanHub interface {
	SetSpans(owner string, offer func([]accesslog.Record)) error
	ClearSpans(owner string)
}

// startSpans creates and starts the span pipeline when traces are enabled;
// when not, it registers the pipeline's metrics at zero, so that they exist
// either way.
func (r *alsReceiver) startSpans(ctx context.Context, reg prometheus.Registerer) error {
	if !r.cfg.Traces.Enabled {
		unregister, err := spans.RegisterIdleMetrics(reg)
		r.spansIdle = unregister
		return err
	}
	p, err := spans.NewPipeline(r.cfg.Traces, r.next, r.set.Logger, reg)
	if err != nil {
		return err
	}
	// Started before it is offered to the hub, so that a refusal can shut
	// it down (Shutdown waits for the goroutine Start starts).
	p.Start()
	if h, ok := r.sink.(spanHub); ok {
		// Records of the other ingest paths (OpenTelemetry and file access
		// logs) are rebuilt into spans by this pipeline too.
		if err := h.SetSpans(r.set.ID.String(), p.Offer); err != nil {
			p.Shutdown(ctx)
			return err
		}
	}
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
	if h, ok := r.sink.(spanHub); ok && r.spans != nil {
		h.ClearSpans(r.set.ID.String())
	}
	if r.spans != nil {
		r.spans.Shutdown(ctx)
	}
	if r.spansIdle != nil {
		r.spansIdle()
		r.spansIdle = nil
	}
}
