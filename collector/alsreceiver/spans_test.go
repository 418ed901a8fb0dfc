package alsreceiver

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
	"github.com/meshlens/meshlens/loadgen"
)

// startSpanReceiver starts a receiver with traces enabled (every trace
// kept) that hands spans to next.
func startSpanReceiver(t *testing.T, next consumer.Traces, edit func(*Config)) (*alsReceiver, *fakeHub, string) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Traces.Enabled = true
	cfg.Traces.SamplingRate = 1
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg.GRPC.NetAddr.Endpoint = ln.Addr().String()
	require.NoError(t, ln.Close())
	hub := newFakeHub()
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), next, time.Now)
	require.NoError(t, r.Start(context.Background(), host{ext: map[component.ID]component.Component{DefaultHub: hub}}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r, hub, cfg.GRPC.NetAddr.Endpoint
}

func sendCapture(t *testing.T, addr string, files ...string) {
	t.Helper()
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	for _, f := range files {
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Send(loadALS(t, f)))
		_, err = s.CloseAndRecv()
		require.NoError(t, err)
	}
}

// checkSpanAccounting asserts built = exported + dropped + queued.
func checkSpanAccounting(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	built := counter(t, reg, "meshlens_spans_total", "stage", "built")
	exported := counter(t, reg, "meshlens_spans_total", "stage", "exported")
	dropped := counter(t, reg, "meshlens_spans_dropped_total")
	queued := counter(t, reg, "meshlens_spans_queued")
	assert.InDelta(t, built, exported+dropped+queued, 0, "built %v = exported %v + dropped %v + queued %v", built, exported, dropped, queued)
}

func TestSpansFromRealCaptures(t *testing.T) {
	sink := new(consumertest.TracesSink)
	_, hub, addr := startSpanReceiver(t, sink, nil)
	sendCapture(t, addr, "envoy-ingress.json", "envoy-ingress2sidecar.json")
	require.Eventually(t, func() bool { return sink.SpanCount() == 2 }, 10*time.Second, 10*time.Millisecond)

	byKind := map[ptrace.SpanKind]ptrace.Span{}
	for _, td := range sink.AllTraces() {
		rs := td.ResourceSpans()
		for i := 0; i < rs.Len(); i++ {
			ss := rs.At(i).ScopeSpans().At(0).Spans()
			for j := 0; j < ss.Len(); j++ {
				byKind[ss.At(j).Kind()] = ss.At(j)
			}
		}
	}
	client, server := byKind[ptrace.SpanKindClient], byKind[ptrace.SpanKindServer]
	assert.Equal(t, client.TraceID(), server.TraceID())
	assert.Equal(t, client.SpanID(), server.ParentSpanID())
	assert.Equal(t, "productpage.default.svc.cluster.local:9080/*", client.Name())
	path, ok := client.Attributes().Get("url.path")
	require.True(t, ok)
	assert.Equal(t, "/productpage", path.Str(), "borrowed bytes were copied")

	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_spans_total", "stage", "exported"), 0)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_spans_records_total", "decision", "rate"), 0)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_receiver_entries_processed_total"), 0)
	checkSpanAccounting(t, hub.reg)
}

// TestSpansOffByDefault: off, the receiver does not look at records for
// spans, and the span metrics exist from start at zero (dashboards and
// alerts read 0, not an absent series), with every label value they have
// when on; Shutdown unregisters them.
func TestSpansOffByDefault(t *testing.T) {
	r, hub, addr := startReceiver(t, nil)
	assert.Nil(t, r.spans, "the receiver does not look at records for spans")
	sendCapture(t, addr, "envoy-ingress.json")
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_entries_processed_total"), 0)
	want := map[string][]string{
		"meshlens_spans_total":         {"built", "exported"},
		"meshlens_spans_dropped_total": {"pipeline_error", "queue_full", "shutdown"},
		"meshlens_spans_records_total": {"error", "ineligible", "rate", "sampled_out", "slow"},
		"meshlens_spans_queued":        {""},
	}
	fams, err := hub.reg.Gather()
	require.NoError(t, err)
	got := map[string][]string{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "meshlens_spans_") {
			continue
		}
		for _, m := range f.GetMetric() {
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			assert.Zero(t, v, "%s %v", f.GetName(), m.GetLabel())
			label := ""
			if len(m.GetLabel()) > 0 {
				label = m.GetLabel()[0].GetValue()
			}
			got[f.GetName()] = append(got[f.GetName()], label)
		}
	}
	for name := range got {
		slices.Sort(got[name])
	}
	assert.Equal(t, want, got)

	require.NoError(t, r.Shutdown(context.Background()))
	fams, err = hub.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		assert.NotContains(t, f.GetName(), "meshlens_spans_", "unregistered by Shutdown")
	}
}

// blockingTraces is a pipeline that does not take anything until released.
type blockingTraces struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	spans   int
}

func (b *blockingTraces) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (b *blockingTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	b.spans += td.SpanCount()
	b.mu.Unlock()
	return nil
}

func (b *blockingTraces) open() { b.once.Do(func() { close(b.release) }) }

// A pipeline that does not take spans fills the receiver's bounded queue;
// ingest goes on at full speed and the spans beyond the queue are dropped
// and counted.
func TestSpansNeverBlockIngest(t *testing.T) {
	next := &blockingTraces{release: make(chan struct{})}
	t.Cleanup(next.open) // before the receiver's Shutdown (cleanups run last-in first-out)
	_, hub, addr := startSpanReceiver(t, next, func(c *Config) { c.Traces.QueueSize = 50 })
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 9, Requests: 2000})
	_, err := loadgen.Send(context.Background(), dial(t, addr), tr, loadgen.SendOptions{})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_entries_processed_total") == float64(tr.EntryCount())
	}, 20*time.Second, 10*time.Millisecond, "ingest is not held up by the pipeline")
	dropped := counter(t, hub.reg, "meshlens_spans_dropped_total", "reason", "queue_full")
	assert.Positive(t, dropped)
	assert.LessOrEqual(t, counter(t, hub.reg, "meshlens_spans_queued"), 50.0)
	checkSpanAccounting(t, hub.reg)

	next.open()
	require.Eventually(t, func() bool { return counter(t, hub.reg, "meshlens_spans_queued") == 0 }, 10*time.Second, 10*time.Millisecond)
	checkSpanAccounting(t, hub.reg)
}

func TestSpansPipelineErrorCounted(t *testing.T) {
	fail := consumertest.NewErr(errors.New("sending queue is full"))
	_, hub, addr := startSpanReceiver(t, fail, nil)
	sendCapture(t, addr, "envoy-ingress.json", "envoy-ingress2sidecar.json")
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_spans_dropped_total", "reason", "pipeline_error") == 2
	}, 10*time.Second, 10*time.Millisecond)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_receiver_entries_processed_total"), 0)
	checkSpanAccounting(t, hub.reg)
}

// Shutdown hands what is queued to the pipeline (what the deadline leaves
// is dropped, counted, and Shutdown returns: exporters/spans
// TestPipelineShutdownDeadline).
func TestSpansShutdownDrains(t *testing.T) {
	t.Run("drained", func(t *testing.T) {
		sink := new(consumertest.TracesSink)
		r, hub, addr := startSpanReceiver(t, sink, nil)
		sendCapture(t, addr, "envoy-ingress.json", "envoy-ingress2sidecar.json")
		require.Eventually(t, func() bool {
			return counter(t, hub.reg, "meshlens_receiver_entries_processed_total") == 2
		}, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, r.Shutdown(context.Background()))
		assert.Equal(t, 2, sink.SpanCount())
	})
}

func TestLoadTracesConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	tests := []struct {
		id      component.ID
		want    spans.PipelineConfig
		wantErr []string
	}{
		{id: component.NewID(Type), want: spans.PipelineConfig{
			Enabled: false, QueueSize: 10_000,
			Config: spans.Config{SamplingRate: 0.01, KeepErrors: true, SlowThreshold: time.Second, SyntheticTraceIDs: true},
		}},
		{id: component.NewIDWithName(Type, "traces"), want: spans.PipelineConfig{
			Enabled: true, QueueSize: 2000,
			Config: spans.Config{SamplingRate: 0.25, KeepErrors: false, SlowThreshold: 500 * time.Millisecond, SyntheticTraceIDs: false},
		}},
		{id: component.NewIDWithName(Type, "bad_traces"), wantErr: []string{
			"traces: sampling_rate must be between 0 and 1, got 2",
			"slow_threshold must not be negative, got -1s",
			"queue_size must be positive, got 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.(*Config).Traces)
		})
	}
}

// refusingHub is a hub whose one span pipeline is taken.
type refusingHub struct{ *fakeHub }

func (refusingHub) SetSpans(string, func([]accesslog.Record)) error {
	return errors.New("spans are already rebuilt by envoyals/other")
}
func (refusingHub) ClearSpans(string) {}

// TestSecondSpanPipelineRefused: a receiver with traces on, on a hub whose
// span pipeline another receiver already owns, fails to start with the
// hub's reason at once (its own pipeline stopped, its goroutine gone:
// goleak), rather than hanging.
func TestSecondSpanPipelineRefused(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Traces.Enabled = true
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
	r.sink = refusingHub{newFakeHub()}
	done := make(chan error, 1)
	go func() { done <- r.startSpans(context.Background(), prometheus.NewRegistry()) }()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "already rebuilt by envoyals/other")
	case <-time.After(5 * time.Second):
		t.Fatal("startSpans hangs when the hub refuses its pipeline")
	}
}
