package spans

import (
	"context"
	"sync"
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

// countingTraces takes batches, after release is closed, and counts them.
type countingTraces struct {
	release chan struct{}
	mu      sync.Mutex
	calls   []int // spans per ConsumeTraces
}

func (*countingTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (c *countingTraces) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	<-c.release
	c.mu.Lock()
	c.calls = append(c.calls, td.SpanCount())
	c.mu.Unlock()
	return nil
}

// TestPipelineBatchesWhatWaited: while an export is under way, the batches
// offered meanwhile are handed on together in the next export (at most
// MaxExportBatch spans), so a pipeline whose exporter has no queue of its
// own still makes few requests; every span is exported once.
func TestPipelineBatchesWhatWaited(t *testing.T) {
	cfg := DefaultPipelineConfig()
	cfg.Enabled, cfg.SamplingRate, cfg.QueueSize = true, 1, 100_000
	next := &countingTraces{release: make(chan struct{})}
	p, err := NewPipeline(cfg, next, zap.NewNop(), prometheus.NewRegistry())
	require.NoError(t, err)
	recs := captureBatch(t, "envoy-ingress.json", "envoy-ingress2sidecar.json")
	p.Start()
	const offers = 3000
	for range offers {
		p.Offer(recs) // 2 spans each
	}
	close(next.release)
	require.Eventually(t, func() bool { return p.queued.Load() == 0 }, 10*time.Second, 10*time.Millisecond)
	p.Shutdown(context.Background())
	next.mu.Lock()
	defer next.mu.Unlock()
	total := 0
	for _, n := range next.calls {
		total += n
		assert.LessOrEqual(t, n, MaxExportBatch)
	}
	assert.Equal(t, 2*offers, total, "every span exported once")
	assert.LessOrEqual(t, len(next.calls), 3, "6,000 spans that waited go in at most 3 exports (the first alone, then ≤ 5,000 each)")
	assert.InDelta(t, float64(2*offers), testutil.ToFloat64(p.m.exported), 0)
}
