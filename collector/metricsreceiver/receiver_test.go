package metricsreceiver

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/collector/hubextension"
	"github.com/meshlens/meshlens/loadgen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// host is a component.Host with the given extensions.
type host struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

// startHub starts a real hub on a free port and feeds it Bookinfo traffic.
func startHub(t *testing.T) extension.Extension {
	t.Helper()
	f := hubextension.NewFactory()
	cfg := f.CreateDefaultConfig().(*hubextension.Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	h, err := f.Create(t.Context(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, h.Start(t.Context(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, h.Shutdown(context.Background())) })
	return h
}

func TestShutdownWithoutStart(t *testing.T) {
	r, err := NewFactory().CreateMetrics(t.Context(), receivertest.NewNopSettings(Type), createDefaultConfig(), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(t.Context()))
	require.NoError(t, r.Shutdown(t.Context()))
	require.Error(t, r.Start(t.Context(), host{ext: map[component.ID]component.Component{}}), "no start after shutdown")
}

func TestStartNeedsTheHub(t *testing.T) {
	for _, tt := range []struct {
		ext  map[component.ID]component.Component
		want string
	}{
		{map[component.ID]component.Component{}, `hub extension "meshlens" is not configured: add it under extensions and service.extensions`},
		{map[component.ID]component.Component{DefaultHub: nopComponent{}}, `extension "meshlens" cannot give its aggregations to read`},
	} {
		r := newReceiver(createDefaultConfig().(*Config), receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
		require.EqualError(t, r.Start(t.Context(), host{ext: tt.ext}), tt.want)
		require.NoError(t, r.Shutdown(t.Context()))
	}
}

// TestCollectsEveryInterval: started against a real hub fed with traffic,
// the receiver sends the Istio, envoy_* and span metrics down its pipeline
// every interval, under service.name meshlens and its scope, then stops.
func TestCollectsEveryInterval(t *testing.T) {
	h := startHub(t)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 200})
	feed(t, h, tr)
	sink := new(consumertest.MetricsSink)
	cfg := createDefaultConfig().(*Config)
	cfg.CollectionInterval = 20 * time.Millisecond
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), sink, time.Now)
	require.NoError(t, r.Start(t.Context(), host{ext: map[component.ID]component.Component{DefaultHub: h}}))
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, r.Shutdown(t.Context()))
	n := len(sink.AllMetrics())
	time.Sleep(60 * time.Millisecond)
	assert.Len(t, sink.AllMetrics(), n, "nothing sent after Shutdown")

	names := map[string]bool{}
	md := sink.AllMetrics()[0]
	svc, _ := md.ResourceMetrics().At(0).Resource().Attributes().Get("service.name")
	assert.Equal(t, "meshlens", svc.Str())
	assert.Equal(t, ScopeName, md.ResourceMetrics().At(0).ScopeMetrics().At(0).Scope().Name())
	for _, md := range sink.AllMetrics() {
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := range ms.Len() {
			names[ms.At(i).Name()] = true
		}
	}
	for _, want := range []string{"istio_requests_total", "istio_request_duration_milliseconds", "traces_span_metrics_calls_total"} {
		assert.True(t, names[want], want)
	}
}

// TestConsumerErrorsAreReported: a failing pipeline is reported as a
// recoverable error, and OK again once it recovers.
func TestConsumerErrorsAreReported(t *testing.T) {
	h := startHub(t)
	feed(t, h, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 20}))
	var fail atomic.Bool
	fail.Store(true)
	next, err := consumer.NewMetrics(func(context.Context, pmetric.Metrics) error {
		if fail.Load() {
			return errors.New("remote write down")
		}
		return nil
	})
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), next, time.Now)
	require.NoError(t, r.Start(t.Context(), host{ext: map[component.ID]component.Component{DefaultHub: h}, Host: componenttest.NewNopHost()}))
	defer func() { require.NoError(t, r.Shutdown(t.Context())) }()
	err = r.collect(t.Context())
	require.ErrorContains(t, err, "send metrics: remote write down")
	assert.InDelta(t, 1, testutil.ToFloat64(r.failed), 0, "the failed collection is counted")
	fail.Store(false)
	require.NoError(t, r.collect(t.Context()))
	assert.InDelta(t, 1, testutil.ToFloat64(r.failed), 0)
	assert.Equal(t, []string{"istio", "envoy", "span_metrics"}, r.sources())
}

// feed normalises the traffic and hands it to the hub as a receiver does.
func feed(t testing.TB, h extension.Extension, tr *loadgen.Traffic) {
	t.Helper()
	hub := h.(*hubextension.Hub)
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	for i := range tr.Streams {
		st := accesslog.NewStream(accesslog.Config{}, conns)
		local := new(accesslog.StreamLocal)
		for _, m := range tr.Streams[i].Messages {
			recs, _, err := st.Decode(m, nil, time.Now())
			require.NoError(t, err)
			require.NoError(t, hub.ConsumeRecords(context.Background(), local, recs))
		}
	}
}

// nopComponent is an extension that is not a hub.
type nopComponent struct{}

func (nopComponent) Start(context.Context, component.Host) error { return nil }
func (nopComponent) Shutdown(context.Context) error              { return nil }
