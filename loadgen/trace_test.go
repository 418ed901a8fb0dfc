package loadgen

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// entryServer keeps every HTTP entry it receives with its stream's node.
type entryServer struct {
	alsv3.UnimplementedAccessLogServiceServer
	metricsv3.UnimplementedMetricsServiceServer

	mu      sync.Mutex
	entries []nodeEntry
}

type nodeEntry struct {
	node string
	e    *accesslogv3.HTTPAccessLogEntry
}

func (s *entryServer) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	var node string
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		if m.Identifier != nil {
			node = m.Identifier.Node.GetId()
		}
		s.mu.Lock()
		for _, e := range m.GetHttpLogs().GetLogEntry() {
			s.entries = append(s.entries, nodeEntry{node, e})
		}
		s.mu.Unlock()
	}
}

func (s *entryServer) StreamMetrics(stream metricsv3.MetricsService_StreamMetricsServer) error {
	for {
		if _, err := stream.Recv(); err != nil {
			return nil //nolint:nilerr // the client went away: the test does not read metrics
		}
	}
}

// loggedTrace is the trace context an entry logged: trace id, the span
// id it names and, with B3, its parent.
func loggedTrace(e *accesslogv3.HTTPAccessLogEntry) (trace, span, parent string) {
	h := e.GetRequest().GetRequestHeaders()
	if tp := h["traceparent"]; tp != "" {
		parts := strings.Split(tp, "-")
		trace, span = parts[1], parts[2]
	}
	if t := h["x-b3-traceid"]; t != "" {
		trace, span, parent = t, h["x-b3-spanid"], h["x-b3-parentspanid"]
	}
	return trace, span, parent
}

// workloadOf returns the workload of a sidecar's or gateway's node id
// ("sidecar~10.244.1.17~productpage-v1-7dm9vmglr7-fpsvt.default~…").
func workloadOf(node string) string {
	pod := strings.Split(strings.Split(node, "~")[2], ".")[0]
	parts := strings.Split(pod, "-")
	return strings.Join(parts[:len(parts)-2], "-")
}

// TestDemoRequestsAreWholeTraces: the demo's traffic is whole Bookinfo
// requests, each hop continuing the request's trace: the trace a request
// starts at the ingress gateway holds the entries of the productpage,
// details, reviews (and ratings) hops too, and a hop's client names the
// span its caller's server logged as its parent. Each call in a trace of
// its own, a tracing backend would never show a request end to end.
func TestDemoRequestsAreWholeTraces(t *testing.T) {
	srv := &entryServer{}
	conn := startServerWith(t, func(gs *grpc.Server) {
		alsv3.RegisterAccessLogServiceServer(gs, srv)
		metricsv3.RegisterMetricsServiceServer(gs, srv)
	})
	dc := defaultDemoConfig
	dc.tick, dc.flush = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	require.NoError(t, runDemo(ctx, conn, Bookinfo(), 400, time.Now, dc, nil))

	srv.mu.Lock()
	defer srv.mu.Unlock()
	type hop struct{ from, to string }
	traces := map[string]map[hop]bool{}
	servers := map[string]string{}     // trace/span logged by a server entry → its workload
	reviewsServed := map[string]bool{} // traces with a reviews server entry
	for _, ne := range srv.entries {
		trace, span, _ := loggedTrace(ne.e)
		if trace == "" {
			continue
		}
		if traces[trace] == nil {
			traces[trace] = map[hop]bool{}
		}
		wl := workloadOf(ne.node)
		if ne.e.GetCommonProperties().GetUpstreamCluster() == "" || strings.HasPrefix(ne.e.GetCommonProperties().GetUpstreamCluster(), "inbound|") {
			servers[trace+"/"+span] = wl
			reviewsServed[trace] = reviewsServed[trace] || strings.HasPrefix(wl, "reviews-")
			continue
		}
		traces[trace][hop{wl, strings.Split(ne.e.GetRequest().GetAuthority(), ":")[0]}] = true
	}
	require.NotEmpty(t, traces)

	entered, whole := 0, 0
	for _, hops := range traces {
		if !hops[hop{"istio-ingressgateway", "bookinfo.example.com"}] {
			continue // the gateway's entry is written last: cut off at the end
		}
		entered++
		if hops[hop{"productpage-v1", "details"}] && hops[hop{"productpage-v1", "reviews"}] {
			whole++
		}
	}
	t.Logf("%d traces, %d entered at the gateway, %d with the details and reviews hops", len(traces), entered, whole)
	require.Positive(t, entered)
	assert.Greater(t, float64(whole), 0.8*float64(entered), "a request's trace holds the calls productpage makes")

	// reviews → ratings logs B3: its parent is the span reviews' server
	// entry logged for the same trace (unless that entry, written when
	// reviews answers, after the ratings call, was cut off at the end).
	linked, ratings := 0, 0
	for _, ne := range srv.entries {
		trace, _, parent := loggedTrace(ne.e)
		if workloadOf(ne.node) != "reviews-v2" && workloadOf(ne.node) != "reviews-v3" || parent == "" ||
			!strings.HasPrefix(ne.e.GetCommonProperties().GetUpstreamCluster(), "outbound|") || !reviewsServed[trace] {
			continue
		}
		ratings++
		if strings.HasPrefix(servers[trace+"/"+parent], "reviews-") {
			linked++
		}
	}
	require.Positive(t, ratings)
	assert.Equal(t, ratings, linked, "every ratings call's parent is the reviews request it serves")
}
