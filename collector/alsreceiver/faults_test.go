package alsreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"net"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog"
)

func TestStreamLimit(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) { c.MaxStreams = 2 })
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	var open []alsv3.AccessLogService_StreamAccessLogsClient
	for range 2 {
		s, err := client.StreamAccessLogs(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Send(loadALS(t, "envoy-ingress.json")))
		open = append(open, s)
	}
	require.Eventually(t, func() bool { return hub.count() == 2 }, 5*time.Second, 5*time.Millisecond)
	s, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	_ = s.Send(loadALS(t, "envoy-ingress.json"))
	_, err = s.CloseAndRecv()
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "stream_limit"), 0)
	// A slot frees when a stream ends.
	_, err = open[0].CloseAndRecv()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s, err := client.StreamAccessLogs(context.Background())
		if err != nil {
			return false
		}
		_ = s.Send(loadALS(t, "envoy-ingress.json"))
		_, err = s.CloseAndRecv()
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	_, err = open[1].CloseAndRecv()
	require.NoError(t, err)
	checkAccounting(t, hub.reg)
}

// rawStream opens an HTTP/2 connection by hand and starts a StreamAccessLogs
// call, so a test can send what no gRPC client would.
func rawStream(t *testing.T, addr string) (net.Conn, *http2.Framer) {
	t.Helper()
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_, err = conn.Write([]byte(http2.ClientPreface))
	require.NoError(t, err)
	fr := http2.NewFramer(conn, conn)
	require.NoError(t, fr.WriteSettings())
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{
		{":method", "POST"},
		{":scheme", "http"},
		{":path", "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs"},
		{":authority", addr},
		{"content-type", "application/grpc"},
		{"te", "trailers"},
	} {
		require.NoError(t, enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]}))
	}
	require.NoError(t, fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}))
	return conn, fr
}

func grpcFrame(msg []byte, declared int) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(declared))
	return append(b, msg...)
}

// TestStreamCutMidMessage: a client sends one whole message, then half of
// the next, then the connection dies. The whole message is aggregated, the
// half one was never accepted, the stream counts as aborted, and the
// receiver goes on serving.
func TestStreamCutMidMessage(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	conn, fr := rawStream(t, addr)
	require.NoError(t, fr.WriteData(1, false, grpcFrame(msg, len(msg))))
	require.NoError(t, fr.WriteData(1, false, grpcFrame(msg[:len(msg)/2], len(msg))))
	require.Eventually(t, func() bool { return hub.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, conn.Close())
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_streams_ended_total", "reason", "aborted") == 1
	}, 5*time.Second, 5*time.Millisecond)
	checkAccounting(t, hub.reg)
	// Still serving.
	require.NoError(t, sendRaw(t, dial(t, addr), "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg))
	assert.Equal(t, 2, hub.count())
}

// TestSlowClientDoesNotStallOthers: one client sends its message one byte
// per second (a slowloris) while other streams are served normally all
// along, and nothing is counted for the half-sent message.
func TestSlowClientDoesNotStallOthers(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	_, fr := rawStream(t, addr)
	frame := grpcFrame(msg, len(msg))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < len(frame); i++ {
			if fr.WriteData(1, false, frame[i:i+1]) != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	conn := dial(t, addr)
	// For four seconds (four bytes of the slow message), other streams are
	// served as fast as ever.
	served := 0
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); served++ {
		start := time.Now()
		require.NoError(t, sendRaw(t, conn, "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg))
		assert.Less(t, time.Since(start), 2*time.Second, "a stream is not held up by the slow one")
	}
	assert.Equal(t, served, hub.count(), "every whole message is processed; the trickling one is not")
	close(stop)
	<-done
	checkAccounting(t, hub.reg)
}

// TestMemoryLimitDropsAndCounts: above memory_limit_mib, entries are
// dropped and counted, and the accounting still adds up.
func TestMemoryLimitDropsAndCounts(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) { c.MemoryLimitMiB = 1 }) // any heap is above 1 MiB
	defer debug.SetMemoryLimit(math.MaxInt64)
	msg, err := proto.Marshal(loadALS(t, "envoy-ingress.json"))
	require.NoError(t, err)
	conn := dial(t, addr)
	require.Eventually(t, func() bool {
		require.NoError(t, sendRaw(t, conn, "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", msg))
		return counter(t, hub.reg, "meshlens_receiver_entries_dropped_total", "reason", "memory_limit") > 0
	}, 20*time.Second, 50*time.Millisecond)
	checkAccounting(t, hub.reg)
}

// TestTCPConnectionTableOverflowCounted: periodic TCP entries beyond
// max_tcp_connections are not tracked, and that is counted.
func TestTCPConnectionTableOverflowCounted(t *testing.T) {
	_, hub, addr := startReceiver(t, func(c *Config) { c.MaxTCPConnections = 1 })
	entry := func(id string) *datav3.TCPAccessLogEntry {
		return &datav3.TCPAccessLogEntry{
			CommonProperties: &datav3.AccessLogCommon{
				UpstreamCluster: "outbound|27017||mongodb.default.svc.cluster.local", StreamId: id,
				AccessLogType: datav3.AccessLogType_TcpPeriodic,
			},
			ConnectionProperties: &datav3.ConnectionProperties{SentBytes: 10, ReceivedBytes: 5},
		}
	}
	msg := &alsv3.StreamAccessLogsMessage{
		Identifier: loadALS(t, "envoy-mesh-client-sidecar.json").GetIdentifier(),
		LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{
			LogEntry: []*datav3.TCPAccessLogEntry{entry("a"), entry("b"), entry("c")},
		}},
	}
	b, err := proto.Marshal(msg)
	require.NoError(t, err)
	require.NoError(t, sendRaw(t, dial(t, addr), "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs", b))
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_receiver_tcp_connections_untracked_total"), 0)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_tcp_connections_tracked"), 0)
	checkAccounting(t, hub.reg)
}

// TestImplausibleNumbersClampedAndCounted: an entry with 2^64-1 bytes and a
// 200-year duration is processed with its numbers clamped, and counted by
// field; the accounting identity holds.
func TestImplausibleNumbersClampedAndCounted(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	msg := loadALS(t, "envoy-ingress.json")
	e := msg.GetHttpLogs().GetLogEntry()[0]
	e.CommonProperties.DownstreamWireBytesSent = math.MaxUint64
	e.CommonProperties.Duration = &durationpb.Duration{Seconds: 200 * 365 * 24 * 3600}
	client := alsv3.NewAccessLogServiceClient(dial(t, addr))
	s, err := client.StreamAccessLogs(context.Background())
	require.NoError(t, err)
	require.NoError(t, s.Send(msg))
	_, err = s.CloseAndRecv()
	require.NoError(t, err)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_values_clamped_total", "field", "bytes"), 0)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_values_clamped_total", "field", "duration"), 0)
	assert.InDelta(t, 0, counter(t, hub.reg, "meshlens_receiver_values_clamped_total", "field", "messages"), 0)
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_entries_processed_total"), 0)
	checkAccounting(t, hub.reg)
}

// TestMetricsServiceNodeLabelsBounded: a Metrics Service node whose id and
// workload name are 1 MiB reaches the hub (whose envoy_* series carry them
// as labels) cut to normalizer.max_label_length, counted.
func TestMetricsServiceNodeLabelsBounded(t *testing.T) {
	_, hub, addr := startReceiver(t, nil)
	md, err := structpb.NewStruct(map[string]any{"WORKLOAD_NAME": strings.Repeat("w", 1<<20)})
	require.NoError(t, err)
	client := metricsv3.NewMetricsServiceClient(dial(t, addr))
	s, err := client.StreamMetrics(context.Background())
	require.NoError(t, err)
	require.NoError(t, s.Send(&metricsv3.StreamMetricsMessage{
		Identifier:   &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: strings.Repeat("n", 1<<20), Metadata: md}},
		EnvoyMetrics: []*dto.MetricFamily{{Name: proto.String("server.live"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}}}},
	}))
	_, err = s.CloseAndRecv()
	require.NoError(t, err)
	hub.mu.Lock()
	defer hub.mu.Unlock()
	assert.Equal(t, 1, hub.stats[strings.Repeat("n", accesslog.DefaultMaxLabelLength)], "the node id, cut")
	assert.InDelta(t, 3, counter(t, hub.reg, "meshlens_label_values_truncated_total"), 0, "node id, workload and the canonical service named after it")
	assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_label_values_truncated_total", "label", "node_id"), 0)
	assert.InDelta(t, 2, counter(t, hub.reg, "meshlens_label_values_truncated_total", "label", "node_metadata"), 0)
}
