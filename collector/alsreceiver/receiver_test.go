package alsreceiver

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// onEventLoop runs the receiver's tests on its event loops (event_loop,
// evloop.go) instead of grpc-go: MESHLENS_TEST_EVENT_LOOP=1 (make test runs
// the package both ways).
var onEventLoop = os.Getenv("MESHLENS_TEST_EVENT_LOOP") != ""

// grpcOnly skips a test of what only the grpc-go transport has (TLS, the
// guard's trackedConn).
func grpcOnly(t *testing.T) {
	t.Helper()
	if onEventLoop {
		t.Skip("grpc-go transport only")
	}
}

// fakeHub is a unit-test stand-in for the hub extension.
type fakeHub struct {
	reg     *prometheus.Registry
	mu      sync.Mutex
	records []accesslog.Record
	stats   map[string]int
	ready   map[string]bool
	fail    bool
}

func newFakeHub() *fakeHub {
	return &fakeHub{reg: prometheus.NewRegistry(), stats: map[string]int{}, ready: map[string]bool{}}
}

func (h *fakeHub) Start(context.Context, component.Host) error { return nil }
func (h *fakeHub) Shutdown(context.Context) error              { return nil }
func (h *fakeHub) Registerer() prometheus.Registerer           { return h.reg }
func (h *fakeHub) SetReady(name string, ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready[name] = ready
}

func (h *fakeHub) ConsumeRecords(_ context.Context, _ *accesslog.StreamLocal, recs []accesslog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail {
		return assert.AnError
	}
	for _, r := range recs {
		r.Details = accesslog.Details{} // borrowed: not kept
		h.records = append(h.records, r)
	}
	return nil
}

func (h *fakeHub) ConsumeEnvoyStats(p *accesslog.Proxy, fams []*dto.MetricFamily, _ time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats[p.NodeID] += len(fams)
}

func (h *fakeHub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.records)
}

type host struct {
	ext map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.ext }

func startReceiver(t *testing.T, edit func(*Config)) (*alsReceiver, *fakeHub, string) {
	t.Helper()
	return startReceiverWith(t, edit, nil)
}

// startReceiverWith is startReceiver with a hook that sets the receiver's
// unexported fields before it starts.
func startReceiverWith(t *testing.T, edit func(*Config), hook func(*alsReceiver)) (*alsReceiver, *fakeHub, string) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.GRPC.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.EventLoop.Enabled = onEventLoop
	// A short tick: the tests time their steps in tens of milliseconds
	// (TestIdleStreamMakesRoom); the e2e suite runs the default.
	cfg.EventLoop.Tick = time.Millisecond
	if edit != nil {
		edit(cfg)
	}
	require.NoError(t, cfg.Validate())
	// Bind a free port first so the test knows the address.
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg.GRPC.NetAddr.Endpoint = addr
	hub := newFakeHub()
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
	if hook != nil {
		hook(r)
	}
	require.NoError(t, r.Start(context.Background(), host{ext: map[component.ID]component.Component{DefaultHub: hub}}))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })
	return r, hub, addr
}

func dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// loadALS reads a real Envoy capture (internal/captures).
func loadALS(t *testing.T, name string) *alsv3.StreamAccessLogsMessage {
	t.Helper()
	b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", name))
	require.NoError(t, err)
	var m alsv3.StreamAccessLogsMessage
	require.NoError(t, protojson.Unmarshal(b, &m))
	return &m
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

// checkAccounting asserts entries received = processed + rejected + dropped.
func checkAccounting(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	recv := counter(t, reg, "meshlens_receiver_entries_received_total")
	proc := counter(t, reg, "meshlens_receiver_entries_processed_total")
	rej := counter(t, reg, "meshlens_receiver_entries_rejected_total")
	drop := counter(t, reg, "meshlens_receiver_entries_dropped_total")
	assert.InDelta(t, recv, proc+rej+drop, 0, "received %v = processed %v + rejected %v + dropped %v", recv, proc, rej, drop)
}

func TestRealCapturesOverGRPC(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	files := []string{"envoy-ingress.json", "envoy-ingress2sidecar.json", "envoy-mesh-client-sidecar.json", "envoy-mesh-server-sidecar.json"}
	for _, f := range files {
		stream, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		first := loadALS(t, f)
		require.NoError(t, stream.Send(first))
		// Later messages carry no identifier: they inherit the stream's.
		later := proto.Clone(first).(*alsv3.StreamAccessLogsMessage)
		later.Identifier = nil
		require.NoError(t, stream.Send(later))
		_, err = stream.CloseAndRecv()
		require.NoError(t, err)
	}
	require.Equal(t, 8, hub.count())
	hub.mu.Lock()
	for i := 0; i < 8; i += 2 {
		assert.Equal(t, hub.records[i].NodeID, hub.records[i+1].NodeID, "identifier applies to the whole stream")
		assert.Equal(t, hub.records[i].Source, hub.records[i+1].Source)
	}
	assert.Equal(t, "istio-ingressgateway", hub.records[0].Source.Name)
	hub.mu.Unlock()
	assert.InDelta(t, 8, counter(t, hub.reg, "meshlens_receiver_entries_processed_total"), 0)
	assert.InDelta(t, 4, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "eof"), 0)
	assert.InDelta(t, 4, counter(t, hub.reg, "meshlens_receiver_identity_source_total", "side", "source", "source", "none"), 0)
	assert.InDelta(t, 4, counter(t, hub.reg, "meshlens_receiver_identity_source_total", "side", "destination", "source", "cluster_name"), 0)
	checkAccounting(t, hub.reg)
	hub.mu.Lock()
	assert.Len(t, hub.ready, 1)
	for _, ok := range hub.ready {
		assert.True(t, ok, "the receiver reports ready")
	}
	hub.mu.Unlock()
}

// rawClientCodec sends pre-encoded bytes as they are.
type rawClientCodec struct{}

func (rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(*[]byte); ok {
		return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
	}
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (rawClientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2("proto").Unmarshal(data, v)
}
func (rawClientCodec) Name() string { return "proto" }

var alsDesc = &grpc.StreamDesc{StreamName: "StreamAccessLogs", ClientStreams: true}

// sendRaw sends raw messages on one ALS stream and returns the stream's
// final status.
func sendRaw(t *testing.T, conn *grpc.ClientConn, method string, msgs ...[]byte) error {
	t.Helper()
	cs, err := conn.NewStream(context.Background(), alsDesc, method, grpc.ForceCodecV2(rawClientCodec{}))
	require.NoError(t, err)
	for _, m := range msgs {
		if err := cs.SendMsg(&m); err != nil {
			break
		}
	}
	_ = cs.CloseSend()
	var resp alsv3.StreamAccessLogsResponse
	return cs.RecvMsg(&resp)
}

func TestBadInputGetsStatusAndCounter(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) { c.GRPC.MaxRecvMsgSizeMiB = 1 })
	conn := dial(t, addr)
	good, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	noIdent := loadALS(t, "envoy-ingress.json")
	noIdent.Identifier = nil
	noIdentBytes, err := proto.Marshal(noIdent)
	require.NoError(t, err)
	v2, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "v2-original", "envoy-ingress.v2.msg"))
	require.NoError(t, err)
	_ = v2
	const method = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs"
	// Over several 16 KiB HTTP/2 frames, so decoded across gRPC's buffers:
	// 40,000 bytes of an unknown field, then tcp_logs holding one byte
	// whose inner field's length prefix lies past tcp_logs' end.
	acrossFrames := append([]byte{0x32, 0xc0, 0xb8, 0x02}, make([]byte, 40000)...)
	acrossFrames = append(acrossFrames, 0x1a, 0x01, '2', '0')

	tests := []struct {
		name   string
		method string
		msgs   [][]byte
		code   codes.Code
		metric string
		labels []string
	}{
		{
			"malformed protobuf", method,
			[][]byte{good, {0x12, 0x80}},
			codes.InvalidArgument,
			"meshlens_receiver_messages_rejected_total",
			[]string{"reason", "malformed"},
		},
		{
			"malformed over several frames", method,
			[][]byte{acrossFrames},
			codes.InvalidArgument,
			"meshlens_receiver_messages_rejected_total",
			[]string{"reason", "malformed"},
		},
		{
			"no identifier", method,
			[][]byte{noIdentBytes},
			codes.InvalidArgument,
			"meshlens_receiver_entries_rejected_total",
			[]string{"reason", "no_identifier"},
		},
		{
			// An empty message without identifier (Envoy's first message
			// always names its node): the stream ends at once instead of
			// holding a slot and label tables while never identified.
			"empty message without identifier", method,
			[][]byte{{}, {}},
			codes.InvalidArgument,
			"meshlens_receiver_messages_rejected_total",
			[]string{"reason", "no_identifier"},
		},
		{
			"oversized message", method,
			[][]byte{make([]byte, 2<<20)},
			codes.ResourceExhausted,
			"meshlens_receiver_messages_rejected_total",
			[]string{"reason", "too_large"},
		},
		{
			"v2 API", "/envoy.service.accesslog.v2.AccessLogService/StreamAccessLogs",
			[][]byte{good},
			codes.Unimplemented,
			"meshlens_receiver_streams_ended_total",
			[]string{"reason", "v2_api"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counter(t, hub.reg, tt.metric, tt.labels...)
			err := sendRaw(t, conn, tt.method, tt.msgs...)
			require.Error(t, err)
			assert.Equal(t, tt.code, status.Code(err), err.Error())
			assert.NotEmpty(t, status.Convert(err).Message())
			assert.Greater(t, counter(t, hub.reg, tt.metric, tt.labels...), before)
			checkAccounting(t, hub.reg)
		})
	}
	// The good message before the malformed one was processed.
	assert.Equal(t, 1, hub.count())
	// The receiver still serves.
	require.NoError(t, sendRaw(t, conn, method, good))
	assert.Equal(t, 2, hub.count())
}

func TestAbruptStreamEnd(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := client.StreamAccessLogs(ctx)
	require.NoError(t, err)
	require.NoError(t, stream.Send(loadALS(t, "envoy-ingress.json")))
	require.Eventually(t, func() bool { return hub.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "aborted") == 1
	}, 5*time.Second, 5*time.Millisecond)
	assert.InDelta(t, 0, counter(t, hub.reg, "meshlens_receiver_active_streams", "service", "als"), 0)
	checkAccounting(t, hub.reg)
}

func TestSinkErrorCountsDropped(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	hub.mu.Lock()
	hub.fail = true // read by the receiver's goroutines
	hub.mu.Unlock()
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	stream, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(loadALS(t, "envoy-ingress.json")))
	_, err = stream.CloseAndRecv()
	require.NoError(t, err)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_entries_dropped_total", "reason", "sink_error"), 0)
	checkAccounting(t, hub.reg)
}

func TestMetricsService(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	client := metricsv3.NewMetricsServiceClient(dial(t, addr))
	read := func(name string) *metricsv3.StreamMetricsMessage {
		b, err := os.ReadFile(captures.Dir(t, "metrics", "skywalking", name))
		require.NoError(t, err)
		var m metricsv3.StreamMetricsMessage
		require.NoError(t, protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &m))
		return &m
	}
	first, next := read("identify.v3.json"), read("metrics.json")
	stream, err := client.StreamMetrics(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(first))
	require.NoError(t, stream.Send(next))
	_, err = stream.CloseAndRecv()
	require.NoError(t, err)
	hub.mu.Lock()
	assert.Equal(t, len(first.GetEnvoyMetrics())+len(next.GetEnvoyMetrics()), hub.stats["ingress"])
	hub.mu.Unlock()

	// A stream whose first message has no node is refused.
	stream, err = client.StreamMetrics(context.Background())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&metricsv3.StreamMetricsMessage{EnvoyMetrics: next.GetEnvoyMetrics()}))
	_, err = stream.CloseAndRecv()
	assert.Equal(t, codes.InvalidArgument, status.Code(err))
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_messages_rejected_total", "service", "metrics", "reason", "no_identifier"), 0)
	_ = corev3.Node{}
}

func TestLifecycle(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.GRPC.NetAddr.Endpoint = "127.0.0.1:0"
	r := newReceiver(cfg, receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
	require.NoError(t, r.Shutdown(context.Background()), "shutdown without start")

	r = newReceiver(cfg, receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
	err := r.Start(context.Background(), host{ext: map[component.ID]component.Component{}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hub extension")

	hub := newFakeHub()
	r = newReceiver(cfg, receivertest.NewNopSettings(Type), consumertest.NewNop(), time.Now)
	require.NoError(t, r.Start(context.Background(), host{ext: map[component.ID]component.Component{DefaultHub: hub}}))
	require.NoError(t, r.Shutdown(context.Background()))
	require.NoError(t, r.Shutdown(context.Background()), "shutdown twice")
	n, err := testutil.GatherAndCount(hub.reg)
	require.NoError(t, err)
	assert.Zero(t, n, "metrics unregistered on shutdown")
	for _, ok := range hub.ready {
		assert.False(t, ok, "not ready after shutdown")
	}
	_ = strings.TrimSpace
}

// TestLargeMessagesOverManyFrames sends messages of ~100 entries (~100 KB:
// several 16 KiB HTTP/2 frames each) on concurrent streams and requires
// the records to be exactly those of decoding the same messages directly:
// the receiver decodes the frames' buffers in place, which must stay
// referenced until each message is processed.
func TestLargeMessagesOverManyFrames(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 3000, StreamsPerProxy: 2, BatchSize: 100})
	type key struct {
		src, dst    string
		code        uint32
		dur, reqLen int64
	}
	want := map[key]int{}
	large := 0
	for i := range tr.Streams {
		st := accesslog.NewStream(accesslog.Config{}, nil)
		for _, m := range tr.Streams[i].Messages {
			if len(m) > 3*16384 {
				large++
			}
			recs, _, err := st.Decode(m, nil, time.Now())
			require.NoError(t, err)
			for _, r := range recs {
				want[key{r.Source.Name, r.Destination.Name, r.ResponseCode, r.DurationNanos, int64(r.RequestBytes)}]++
			}
		}
	}
	require.Positive(t, large, "messages span several frames")
	_, err := loadgen.Send(context.Background(), dial(t, addr), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hub.count() == tr.EntryCount() }, 10*time.Second, 10*time.Millisecond)
	got := map[key]int{}
	hub.mu.Lock()
	for _, r := range hub.records {
		got[key{r.Source.Name, r.Destination.Name, r.ResponseCode, r.DurationNanos, int64(r.RequestBytes)}]++
	}
	hub.mu.Unlock()
	assert.Equal(t, want, got)
	checkAccounting(t, hub.reg)
}
