package spans

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.uber.org/zap"
)

// neverTracesConsumer is a traces pipeline that takes nothing until its
// context is cancelled.
type neverTracesConsumer struct{}

func (neverTracesConsumer) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (neverTracesConsumer) ConsumeTraces(ctx context.Context, _ ptrace.Traces) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestPipelineShutdownDeadline: what Shutdown's deadline leaves in the queue
// is dropped, counted, and Shutdown returns; offers after it are dropped,
// counted.
func TestPipelineShutdownDeadline(t *testing.T) {
	// The gateway's and productpage's reports of one real request, loaded
	// first: without the captures the test skips before starting anything.
	recs := captureBatch(t, "envoy-ingress.json", "envoy-ingress2sidecar.json")
	cfg := DefaultPipelineConfig()
	cfg.Enabled, cfg.SamplingRate = true, 1
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(cfg, neverTracesConsumer{}, zap.NewNop(), reg)
	require.NoError(t, err)
	p.Start()
	p.Offer(recs)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	p.Shutdown(ctx) // returns although the pipeline never takes anything
	assert.InDelta(t, 2, testutil.ToFloat64(p.m.dropped[spanDropShutdown]), 0)
	assert.InDelta(t, 0, testutil.ToFloat64(p.m.exported), 0)
	assert.Zero(t, p.queued.Load())
	p.Offer(recs) // late: dropped, counted
	assert.InDelta(t, 4, testutil.ToFloat64(p.m.dropped[spanDropShutdown]), 0)
}
