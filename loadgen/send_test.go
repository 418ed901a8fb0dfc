package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testServer is an ALS + Metrics Service server that decodes every message
// with the go-control-plane types and checks the identifier rule.
type testServer struct {
	alsv3.UnimplementedAccessLogServiceServer
	metricsv3.UnimplementedMetricsServiceServer

	// failAfter, if positive, makes each stream fail after that many
	// messages (the first failAfterStreams streams only).
	failAfter        int
	failAfterStreams int

	mu              sync.Mutex
	streams         int
	messages        int
	entries         int
	requestIDs      map[string]int
	identErrors     []string
	validateErrors  int
	byNode          map[string]int
	metricsStreams  int
	metricsMessages int
	metricsNodes    map[string]bool
	failed          int
}

func newTestServer() *testServer {
	return &testServer{requestIDs: map[string]int{}, byNode: map[string]int{}, metricsNodes: map[string]bool{}}
}

func (s *testServer) StreamAccessLogs(stream alsv3.AccessLogService_StreamAccessLogsServer) error {
	s.mu.Lock()
	s.streams++
	fail := s.failAfter > 0 && s.failed < s.failAfterStreams
	if fail {
		s.failed++
	}
	s.mu.Unlock()
	var node string
	for n := 0; ; n++ {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&alsv3.StreamAccessLogsResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		if n == 0 {
			if m.Identifier == nil {
				s.identErrors = append(s.identErrors, "first message without identifier")
			} else {
				node = m.Identifier.Node.GetId()
			}
		} else if m.Identifier != nil {
			s.identErrors = append(s.identErrors, "identifier on message "+node)
		}
		if m.ValidateAll() != nil {
			s.validateErrors++
		}
		s.messages++
		for _, e := range m.GetHttpLogs().GetLogEntry() {
			s.entries++
			s.byNode[node]++
			s.requestIDs[e.Request.RequestId]++
		}
		for range m.GetTcpLogs().GetLogEntry() {
			s.entries++
			s.byNode[node]++
		}
		s.mu.Unlock()
		if fail && n+1 >= s.failAfter {
			return status.Error(codes.Unavailable, "test: stream closed by server")
		}
	}
}

func (s *testServer) StreamMetrics(stream metricsv3.MetricsService_StreamMetricsServer) error {
	s.mu.Lock()
	s.metricsStreams++
	s.mu.Unlock()
	for n := 0; ; n++ {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&metricsv3.StreamMetricsResponse{})
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		if (n == 0) != (m.Identifier != nil) {
			s.identErrors = append(s.identErrors, "metrics identifier misplaced")
		}
		if n == 0 && m.Identifier != nil {
			s.metricsNodes[m.Identifier.Node.GetId()] = true
		}
		if m.ValidateAll() != nil {
			s.validateErrors++
		}
		s.metricsMessages++
		s.mu.Unlock()
	}
}

func (s *testServer) snapshot() testServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return testServer{
		streams: s.streams, messages: s.messages, entries: s.entries,
		identErrors: append([]string(nil), s.identErrors...), validateErrors: s.validateErrors,
		metricsStreams: s.metricsStreams, metricsMessages: s.metricsMessages,
		requestIDs: s.requestIDs, byNode: s.byNode, metricsNodes: s.metricsNodes,
	}
}

// startServer serves srv on 127.0.0.1:0 and returns a client connection.
func startServer(t testing.TB, srv *testServer) *grpc.ClientConn {
	t.Helper()
	return startServerWith(t, func(gs *grpc.Server) {
		alsv3.RegisterAccessLogServiceServer(gs, srv)
		metricsv3.RegisterMetricsServiceServer(gs, srv)
	})
}

// startServerWith starts a gRPC server on 127.0.0.1:0 with the services
// register adds, stopped at the end of the test.
func startServerWith(t testing.TB, register func(*grpc.Server), opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer(opts...)
	register(gs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = gs.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
		<-done
	})
	return conn
}

func TestSendDeliversEveryEntry(t *testing.T) {
	srv := newTestServer()
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 12, Requests: 3000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: 64})

	st, err := Send(t.Context(), conn, tr, SendOptions{})
	require.NoError(t, err)
	got := srv.snapshot()
	assert.Empty(t, got.identErrors)
	assert.Zero(t, got.validateErrors)
	assert.Equal(t, len(tr.Streams), got.streams)
	assert.EqualValues(t, tr.Ledger.Entries, got.entries)
	assert.EqualValues(t, tr.Ledger.Messages, got.messages)
	assert.Equal(t, tr.Ledger.Entries, st.Entries)
	assert.Equal(t, tr.Ledger.Messages, st.Messages)
	assert.EqualValues(t, tr.ByteCount(), st.Bytes)
	assert.EqualValues(t, len(tr.Streams), st.Streams)
	assert.Zero(t, st.Errors)
	for id, n := range got.requestIDs {
		assert.LessOrEqual(t, n, 2, "request %s: at most a client and a server entry", id)
	}
	for _, s := range tr.Streams {
		assert.Positive(t, got.byNode[s.NodeID])
	}
}

func TestSendRepeatConcurrencyAndDuration(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 13, Requests: 500, StreamsPerProxy: 2})
	for _, tc := range []struct {
		name        string
		opt         SendOptions
		wantEntries int64
		wantStreams int
	}{
		{"repeat on the same streams", SendOptions{Repeat: 3}, 3 * tr.Ledger.Entries, len(tr.Streams)},
		{"two at a time", SendOptions{Repeat: 2, Concurrency: 2}, 2 * tr.Ledger.Entries, len(tr.Streams)},
		{"duration", SendOptions{Duration: 150 * time.Millisecond, Concurrency: 3}, -1, -1},
		{"duration, all streams", SendOptions{Duration: 150 * time.Millisecond}, -1, len(tr.Streams)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newTestServer()
			conn := startServer(t, srv)
			st, err := Send(t.Context(), conn, tr, tc.opt)
			require.NoError(t, err)
			got := srv.snapshot()
			assert.Empty(t, got.identErrors)
			assert.EqualValues(t, st.Entries, got.entries, "everything sent arrived")
			assert.EqualValues(t, st.Streams, got.streams)
			if tc.wantEntries >= 0 {
				assert.Equal(t, tc.wantEntries, st.Entries)
			} else {
				assert.Greater(t, st.Entries, tr.Ledger.Entries, "looped at least once")
				assert.Less(t, st.Elapsed, 10*time.Second)
			}
			if tc.wantStreams >= 0 {
				assert.Equal(t, tc.wantStreams, got.streams)
			}
		})
	}
}

func TestSendHonoursRate(t *testing.T) {
	srv := newTestServer()
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 14, Requests: 1000, BatchSize: 20})
	total := float64(tr.Ledger.Entries)
	rate := total / 0.6 // should take about 0.6 s
	st, err := Send(t.Context(), conn, tr, SendOptions{Rate: rate})
	require.NoError(t, err)
	assert.Equal(t, tr.Ledger.Entries, st.Entries)
	assert.Greater(t, st.Elapsed, 400*time.Millisecond, "paced, not flat out")
	assert.Less(t, st.Elapsed, 5*time.Second)

	st, err = Send(t.Context(), conn, tr, SendOptions{Rate: rate, Concurrency: 2})
	require.NoError(t, err)
	assert.Greater(t, st.Elapsed, 400*time.Millisecond)
	assert.Less(t, st.Elapsed, 5*time.Second)
}

func TestSendReportsStreamFailures(t *testing.T) {
	srv := newTestServer()
	srv.failAfter, srv.failAfterStreams = 1, 1000
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 15, Requests: 2000, BatchSize: 10})
	st, err := Send(t.Context(), conn, tr, SendOptions{})
	require.Error(t, err)
	assert.Equal(t, codes.Unavailable, status.Code(errors.Unwrap(err)))
	assert.Positive(t, st.Errors)
	assert.Contains(t, err.Error(), "streams failed")
}

func TestSendStopsOnCancel(t *testing.T) {
	srv := newTestServer()
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 16, Requests: 200})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	st, err := Send(ctx, conn, tr, SendOptions{Rate: 100, Duration: time.Minute})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, st.Elapsed, 2*time.Second)
}

func TestRawCodecFallsBackToProto(t *testing.T) {
	c := RawCodec{}
	assert.Equal(t, "proto", c.Name())
	in := &alsv3.StreamAccessLogsMessage{Identifier: &alsv3.StreamAccessLogsMessage_Identifier{LogName: "x"}}
	buf, err := c.Marshal(in)
	require.NoError(t, err)
	out := &alsv3.StreamAccessLogsMessage{}
	require.NoError(t, c.Unmarshal(buf, out))
	assert.Equal(t, "x", out.Identifier.LogName)
	raw := &RawMessage{}
	require.NoError(t, c.Unmarshal(buf, raw))
	b2, err := c.Marshal(raw)
	require.NoError(t, err)
	assert.Equal(t, buf.Materialize(), b2.Materialize())
}

func TestDemoStreamsAndReconnects(t *testing.T) {
	srv := newTestServer()
	// The first two ALS streams are cut by the server after 2 messages.
	srv.failAfter, srv.failAfterStreams = 2, 2
	conn := startServer(t, srv)
	dc := defaultDemoConfig
	dc.tick, dc.flush, dc.metrics = 10*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond
	dc.backoffMin, dc.backoffMax = 10*time.Millisecond, 50*time.Millisecond
	var st demoStats
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	err := runDemo(ctx, conn, Bookinfo(), 400, time.Now, dc, &st)
	require.NoError(t, err)

	got := srv.snapshot()
	assert.Empty(t, got.identErrors, "identifier exactly on the first message of every stream")
	assert.Zero(t, got.validateErrors)
	assert.Positive(t, got.entries)
	assert.Greater(t, got.streams, 2, "reopened the cut streams")
	assert.Positive(t, st.reconnects.Load())
	// A message written just after the server cut a stream is lost (the
	// client learns of the end on its next write), as with a real Envoy.
	sent := st.messages.Load()
	assert.LessOrEqual(t, int64(got.messages), sent)
	assert.LessOrEqual(t, sent-int64(got.messages), int64(2*srv.failAfterStreams))
	assert.Greater(t, st.requests.Load(), int64(300))
	assert.Len(t, got.metricsNodes, len(Bookinfo().Workloads)+1, "a metrics stream per proxy")
	assert.Positive(t, got.metricsMessages)
}

func TestDemoRejectsBadInput(t *testing.T) {
	require.Error(t, Demo(t.Context(), nil, Bookinfo(), 0, time.Now))
	m := Bookinfo()
	m.Edges = nil
	require.Error(t, Demo(t.Context(), nil, m, 1, time.Now))
}

func TestSendMetrics(t *testing.T) {
	srv := newTestServer()
	conn := startServer(t, srv)
	tr := bookinfoTraffic(t, GenConfig{Seed: 18, Requests: 3000, MetricsInterval: time.Second})
	st, err := SendMetrics(t.Context(), conn, tr.Metrics, SendOptions{Repeat: 2})
	require.NoError(t, err)
	got := srv.snapshot()
	assert.Empty(t, got.identErrors)
	assert.Zero(t, got.validateErrors)
	assert.Equal(t, len(tr.Metrics), got.metricsStreams)
	assert.EqualValues(t, 2*tr.Ledger.MetricsMessages, got.metricsMessages)
	assert.EqualValues(t, got.metricsMessages, st.Messages)
	assert.Positive(t, st.Entries)
	assert.Len(t, got.metricsNodes, len(tr.Metrics))
}
