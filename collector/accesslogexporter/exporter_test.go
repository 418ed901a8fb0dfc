package accesslogexporter

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hub is a fake hub: it keeps the records it is given.
type hub struct {
	mu   sync.Mutex
	reg  *prometheus.Registry
	recs []accesslog.Record
	fail bool
	// discard: count nothing, keep nothing (benchmarks).
	discard bool
}

func (h *hub) Start(context.Context, component.Host) error { return nil }
func (h *hub) Shutdown(context.Context) error              { return nil }
func (h *hub) Registerer() prometheus.Registerer           { return h.reg }
func (h *hub) ConsumeRecords(_ context.Context, _ *accesslog.StreamLocal, recs []accesslog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return assert.AnError
	}
	if h.discard {
		return nil
	}
	for _, r := range recs {
		r.Details = accesslog.Details{} // aliases the exporter's buffers
		h.recs = append(h.recs, r)
	}
	return nil
}

var timeNow = time.Now

func exportertestSettings() exporter.Settings { return exportertest.NewNopSettings(Type) }

type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

func start(t *testing.T, mutate func(*Config)) (*accessLogs, *hub) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	if mutate != nil {
		mutate(cfg)
	}
	require.NoError(t, cfg.Validate())
	e, err := newExporter(cfg, exportertestSettings(), timeNow)
	require.NoError(t, err)
	h := &hub{reg: prometheus.NewRegistry()}
	require.NoError(t, e.Start(context.Background(), host{DefaultHub: h}))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return e, h
}

// Two requests of the httpbin example, client and server side, as
// published Istio lines.
const (
	clientLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default`
	serverLine = `[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 3 1 "-" "curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "127.0.0.1:80" inbound|8000|| 127.0.0.1:41854 10.44.1.27:80 10.44.1.23:37652 outbound_.8000_._.httpbin.foo.svc.cluster.local default`
)

// podLogs is one resource of a pod's stdout lines, with the attributes a
// file receiver's container parser (or k8sattributes) gives.
func podLogs(ld plog.Logs, ns, pod, deployment, app string, lines ...string) {
	rl := ld.ResourceLogs().AppendEmpty()
	a := rl.Resource().Attributes()
	a.PutStr("k8s.namespace.name", ns)
	a.PutStr("k8s.pod.name", pod)
	a.PutStr("k8s.deployment.name", deployment)
	a.PutStr("k8s.pod.labels.app", app)
	sl := rl.ScopeLogs().AppendEmpty()
	for _, l := range lines {
		sl.LogRecords().AppendEmpty().Body().SetStr(l)
	}
}

func TestBodiesFromPods(t *testing.T) {
	e, h := start(t, nil)
	ld := plog.NewLogs()
	podLogs(ld, "foo", "sleep-5d9c-abcde", "sleep", "sleep", clientLine)
	podLogs(ld, "foo", "httpbin-7f8d-fghij", "httpbin", "httpbin", serverLine)
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.recs, 2)
	c, s := h.recs[0], h.recs[1]
	assert.Equal(t, accesslog.ReporterSource, c.Reporter)
	assert.Equal(t, "sleep", c.Source.Name)
	assert.Equal(t, "foo", c.Source.Namespace)
	assert.Equal(t, "httpbin.foo.svc.cluster.local", c.Service.Host)
	assert.Equal(t, uint32(418), c.ResponseCode)
	assert.Equal(t, accesslog.ReporterDestination, s.Reporter)
	assert.Equal(t, "httpbin", s.Destination.Name)
	assert.Equal(t, "httpbin", s.Destination.App)
	assert.Equal(t, int64(3*time.Millisecond), s.DurationNanos)
	assert.InDelta(t, 2, testutil.ToFloat64(e.metrics.received), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(e.metrics.processed), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(e.metrics.streams), 0)
}

// TestAttributesFromEnvoyNode: Envoy's OpenTelemetry access logger sends
// the node in the resource and the fields as attributes (typed: numbers as
// ints); the body is then not read.
func TestAttributesFromEnvoyNode(t *testing.T) {
	e, h := start(t, nil)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("node_name", "sidecar~10.44.1.23~sleep-5d9c-abcde.foo~foo.svc.cluster.local")
	rl.Resource().Attributes().PutStr("cluster_name", "sleep.foo")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("not an access log line: the attributes are read")
	a := lr.Attributes()
	a.PutStr("start_time", "2020-11-25T21:26:18.409Z")
	a.PutStr("method", "POST")
	a.PutStr("protocol", "HTTP/2")
	a.PutInt("response_code", 503)
	a.PutStr("response_flags", "UF,URX")
	a.PutInt("duration", 12)
	a.PutStr("upstream_cluster", "outbound|9080||reviews.default.svc.cluster.local")
	a.PutStr("authority", "reviews:9080")
	a.PutStr("content_type", "application/grpc")
	a.PutInt("grpc_status", 14)
	a.PutStr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	a.PutStr("unrelated", "ignored")
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.recs, 1)
	r := h.recs[0]
	assert.Equal(t, accesslog.ReporterSource, r.Reporter)
	assert.Equal(t, accesslog.ProtocolGRPC, r.Protocol)
	assert.Equal(t, int32(14), r.GRPCStatus)
	assert.Equal(t, uint32(503), r.ResponseCode)
	assert.Equal(t, "UF,URX", r.Flags.String())
	assert.Equal(t, "reviews.default.svc.cluster.local", r.Service.Host)
	assert.Equal(t, int64(12*time.Millisecond), r.DurationNanos)
	assert.True(t, r.Trace.Valid(), "trace context from traceparent")
}

// TestAccounting: every record is received, then processed, rejected or
// dropped, by reason.
func TestAccounting(t *testing.T) {
	e, h := start(t, func(c *Config) { c.MaxStreams = 1 })
	ld := plog.NewLogs()
	podLogs(ld, "foo", "sleep-1", "sleep", "sleep", clientLine, "garbage", clientLine)
	anon := ld.ResourceLogs().AppendEmpty() // no reporter
	anon.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(clientLine)
	podLogs(ld, "foo", "sleep-2", "sleep", "sleep", clientLine) // over max_streams, the first busy
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	m := e.metrics
	assert.InDelta(t, 5, testutil.ToFloat64(m.received), 0)
	assert.InDelta(t, 2, testutil.ToFloat64(m.processed), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(m.rejected.WithLabelValues(reasonMalformed)), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(m.rejected.WithLabelValues(reasonNoReporter)), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(m.dropped.WithLabelValues(reasonStreamLimit)), 0)
	assert.Len(t, h.recs, 2)

	h.fail = true
	ld = plog.NewLogs()
	podLogs(ld, "foo", "sleep-1", "sleep", "sleep", clientLine)
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	assert.InDelta(t, 1, testutil.ToFloat64(m.dropped.WithLabelValues(reasonSinkError)), 0)

	// An idle proxy is forgotten; a new one then takes its place.
	e.expire(time.Now().Add(DefaultStreamIdleTimeout))
	assert.InDelta(t, 0, testutil.ToFloat64(m.streams), 0)
	assert.InDelta(t, 1, testutil.ToFloat64(m.evicted.WithLabelValues(reasonIdle)), 0)
}

// TestLongKeysStayApart: two reporters whose resource differs only past
// the bounded key length are two streams, each with its own identity.
func TestLongKeysStayApart(t *testing.T) {
	e, h := start(t, nil)
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a'
	}
	ld := plog.NewLogs()
	podLogs(ld, "foo", string(long)+"1", "one", "one", clientLine)
	podLogs(ld, "foo", string(long)+"2", "two", "two", clientLine)
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.recs, 2)
	assert.Equal(t, "one", h.recs[0].Source.App)
	assert.Equal(t, "two", h.recs[1].Source.App)
	assert.InDelta(t, 2, testutil.ToFloat64(e.metrics.streams), 0)
}

// TestLargeResourceInSubBatches: a resource of many records is taken a
// sub-batch at a time (what a call holds is bounded by subBatch records,
// from a pool shared by the streams: a stream between calls holds no
// buffer), and every record is still counted once.
func TestLargeResourceInSubBatches(t *testing.T) {
	e, h := start(t, nil)
	lines := make([]string, 0, 3*subBatch+7)
	for i := range cap(lines) {
		if i%100 == 0 {
			lines = append(lines, "not a line")
			continue
		}
		lines = append(lines, clientLine)
	}
	ld := plog.NewLogs()
	podLogs(ld, "foo", "sleep-1", "sleep", "sleep", lines...)
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	bad := (len(lines) + 99) / 100
	assert.Len(t, h.recs, len(lines)-bad)
	assert.InDelta(t, len(lines)-bad, testutil.ToFloat64(e.metrics.processed), 0)
	assert.InDelta(t, bad, testutil.ToFloat64(e.metrics.rejected.WithLabelValues(reasonMalformed)), 0)
	b := bufPool.Get().(*batchBufs)
	defer bufPool.Put(b)
	assert.LessOrEqual(t, cap(b.entries), subBatch, "the pooled buffers hold one sub-batch")
}

// TestNormaliserCounters: what the normaliser does to a record's values is
// counted as for ALS: a value cut to max_label_length by the field it came
// from (the node's too), an implausible duration clamped.
func TestNormaliserCounters(t *testing.T) {
	e, h := start(t, nil)
	long := strings.Repeat("x", 2000)
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("node_name", "sidecar~10.0.0.1~"+long+".foo~foo.svc.cluster.local")
	a := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Attributes()
	a.PutStr("method", "GET")
	a.PutInt("response_code", 200)
	a.PutStr("upstream_cluster", "outbound|80||"+long+".svc.cluster.local")
	a.PutInt("duration", int64(60*24*time.Hour/time.Millisecond)) // 60 days: clamped to 30
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	require.Len(t, h.recs, 1)
	m := e.metrics
	assert.Positive(t, testutil.ToFloat64(m.truncated.WithLabelValues("node_id")))
	assert.Positive(t, testutil.ToFloat64(m.truncated.WithLabelValues("upstream_cluster")))
	assert.InDelta(t, 1, testutil.ToFloat64(m.clamped.WithLabelValues("duration")), 0)
}

// spanHub is a fake hub that also rebuilds spans: it keeps the request
// ids of the records offered.
type spanHub struct {
	hub
	offered []string
}

func (h *spanHub) OfferSpans(recs []accesslog.Record) {
	for i := range recs {
		h.offered = append(h.offered, string(recs[i].Details.RequestID))
	}
}

// TestRecordsOfferedForSpans: records the hub consumed are offered to the
// hub's span pipeline, those it refused are not.
func TestRecordsOfferedForSpans(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	e, err := newExporter(cfg, exportertestSettings(), timeNow)
	require.NoError(t, err)
	h := &spanHub{hub: hub{reg: prometheus.NewRegistry()}}
	require.NoError(t, e.Start(context.Background(), host{DefaultHub: h}))
	defer func() { require.NoError(t, e.Shutdown(context.Background())) }()
	ld := plog.NewLogs()
	podLogs(ld, "foo", "sleep-5d9c-abcde", "sleep", "sleep", clientLine)
	podLogs(ld, "foo", "httpbin-7f8d-fghij", "httpbin", "httpbin", serverLine)
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	const id = "84961386-6d84-929d-98bd-c5aee93b5c88"
	assert.Equal(t, []string{id, id}, h.offered)

	h.fail = true
	require.NoError(t, e.ConsumeLogs(context.Background(), ld))
	assert.Len(t, h.offered, 2, "records the hub refused are not rebuilt")
}
