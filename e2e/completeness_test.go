package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/loadgen"
)

// loggerStats is a Metrics Service report of node's gRPC access logger
// counters, as Envoy sends them (cumulative counters, Envoy's stat names).
func loggerStats(node *metricsv3.StreamMetricsMessage_Identifier, written, dropped float64) *metricsv3.StreamMetricsMessage {
	counter := func(name string, v float64) *dto.MetricFamily {
		return &dto.MetricFamily{
			Name: proto.String(name), Type: dto.MetricType_COUNTER.Enum(),
			Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(v)}, TimestampMs: proto.Int64(time.Now().UnixMilli())}},
		}
	}
	return &metricsv3.StreamMetricsMessage{Identifier: node, EnvoyMetrics: []*dto.MetricFamily{
		counter("access_logs.grpc_access_log.logs_written", written),
		counter("access_logs.grpc_access_log.logs_dropped", dropped),
	}}
}

// TestE2ECompleteness: a proxy whose Envoy says its logger took 25 more
// entries than its stream delivered (dropped on purpose: the stream sends
// them not) shows 25 missing and its completeness ratio in /metrics, per
// node id, beside a proxy that delivered everything.
func TestE2ECompleteness(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 21, Requests: 300})
	var streams []loadgen.Stream
	for _, s := range tr.Streams {
		if s.Kind == loadgen.StreamHTTP && len(streams) < 2 {
			streams = append(streams, s)
		}
	}
	require.Len(t, streams, 2)
	m := startMeshlens(t)
	client := metricsv3.NewMetricsServiceClient(dial(t, m.GRPC))

	type proxy struct {
		node    string
		entries int
		dropped float64
	}
	var proxies []proxy
	for i, s := range streams {
		msgs, err := s.Decode()
		require.NoError(t, err)
		node := msgs[0].GetIdentifier().GetNode()
		id := &metricsv3.StreamMetricsMessage_Identifier{Node: node}
		ms, err := client.StreamMetrics(context.Background())
		require.NoError(t, err)
		// The first report is the base: Envoy had logged 1,000 entries
		// before meshlens started counting.
		require.NoError(t, ms.Send(loggerStats(id, 1000, 0)))
		require.Eventually(t, func() bool {
			v, err := m.tryMetrics(fmt.Sprintf(`meshlens_proxy_telemetry_completeness_ratio{node_id=%q}`, node.GetId()))
			return err == nil && v[0] == 1
		}, 30*time.Second, 50*time.Millisecond, "the base report arrived")

		one := &loadgen.Traffic{Streams: []loadgen.Stream{s}}
		_, err = loadgen.Send(context.Background(), dial(t, m.GRPC), one, loadgen.SendOptions{})
		require.NoError(t, err)
		p := proxy{node: node.GetId(), entries: one.EntryCount()}
		if i == 0 {
			p.dropped = 25 // the logger took 25 entries the stream never carried
		}
		require.NoError(t, ms.Send(loggerStats(id, 1000+float64(p.entries)+p.dropped, 0)))
		_, err = ms.CloseAndRecv()
		require.NoError(t, err)
		proxies = append(proxies, p)
	}

	for _, p := range proxies {
		sel := fmt.Sprintf(`{node_id=%q}`, p.node)
		require.Eventually(t, func() bool {
			v, err := m.tryMetrics("meshlens_proxy_entries_received_total" + sel)
			return err == nil && v[0] == float64(p.entries)
		}, 30*time.Second, 50*time.Millisecond, "meshlens took the proxy's %d entries", p.entries)
		require.Eventually(t, func() bool {
			v, err := m.tryMetrics("meshlens_proxy_entries_missing" + sel)
			return err == nil && v[0] == p.dropped
		}, 30*time.Second, 50*time.Millisecond, "%v missing", p.dropped)
		want := float64(p.entries) / (float64(p.entries) + p.dropped)
		got := m.metric(t, "meshlens_proxy_telemetry_completeness_ratio"+sel)
		assert.InDelta(t, want, got, 1e-9, p.node)
		assert.True(t, strings.HasPrefix(p.node, "sidecar~") || strings.HasPrefix(p.node, "router~"), p.node)
	}
	assert.Less(t, m.metric(t, fmt.Sprintf(`meshlens_proxy_telemetry_completeness_ratio{node_id=%q}`, proxies[0].node)), 1.0)
}
