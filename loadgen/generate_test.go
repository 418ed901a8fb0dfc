package loadgen

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

var testStart = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func bookinfoTraffic(t testing.TB, cfg GenConfig) *Traffic {
	t.Helper()
	if cfg.Requests == 0 {
		cfg.Requests = 5000
	}
	if cfg.Start.IsZero() {
		cfg.Start = testStart
	}
	return Bookinfo().Generate(cfg)
}

// failingBookinfo is Bookinfo with frequent connection failures on the
// productpage → reviews (HTTP) and productpage → recommendations (gRPC) edges.
func failingBookinfo() Mesh {
	m := Bookinfo()
	for i := range m.Edges {
		if m.Edges[i].To == "default/reviews" || m.Edges[i].To == "default/recommendations" {
			m.Edges[i].Errors.ConnectionFailure = 0.1
		}
	}
	return m
}

func TestGenerateIsDeterministic(t *testing.T) {
	cfg := GenConfig{Seed: 42, Requests: 3000, StreamsPerProxy: 2, TCPPeriodic: true, UntracedShare: 0.1, UnsampledShare: 0.2, MetricsInterval: 5 * time.Second}
	a, b := bookinfoTraffic(t, cfg), bookinfoTraffic(t, cfg)
	require.Len(t, b.Streams, len(a.Streams))
	for i := range a.Streams {
		require.Len(t, b.Streams[i].Messages, len(a.Streams[i].Messages))
		for j := range a.Streams[i].Messages {
			require.True(t, bytes.Equal(a.Streams[i].Messages[j], b.Streams[i].Messages[j]), "stream %d message %d differs", i, j)
		}
	}
	require.Len(t, b.Metrics, len(a.Metrics))
	for i := range a.Metrics {
		for j := range a.Metrics[i].Messages {
			require.True(t, bytes.Equal(a.Metrics[i].Messages[j], b.Metrics[i].Messages[j]))
		}
	}
	assert.Equal(t, a.Ledger, b.Ledger)

	cfg.Seed = 43
	c := bookinfoTraffic(t, cfg)
	assert.NotEqual(t, a.Ledger.Requests, c.Ledger.Requests)
}

// TestMessagesRoundTripAndValidate checks that every message decodes, passes
// the go-control-plane validation, re-encodes to the same bytes, and carries
// the identifier exactly on the first message of its stream.
func TestMessagesRoundTripAndValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *Traffic
	}{
		{"bookinfo", bookinfoTraffic(t, GenConfig{Seed: 1, Requests: 3000, TCPPeriodic: true, StreamsPerProxy: 3, BatchSize: 37})},
		{"synthetic", Synthetic(40, 2, 150, 3).Generate(GenConfig{Seed: 9, Requests: 3000, TCPPeriodic: true, TCPPeriodicInterval: 300 * time.Millisecond})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries int
			for _, s := range tc.tr.Streams {
				msgs, err := s.Decode()
				require.NoError(t, err)
				require.Len(t, s.Entries, len(msgs))
				for i, m := range msgs {
					require.NoError(t, m.ValidateAll(), "%s message %d", s.NodeID, i)
					if i == 0 {
						require.NotNil(t, m.Identifier)
						assert.Equal(t, s.NodeID, m.Identifier.Node.Id)
						assert.Equal(t, s.LogName, m.Identifier.LogName)
						rest := &alsv3.StreamAccessLogsMessage{}
						require.NoError(t, proto.Unmarshal(s.Messages[0][s.IdentifierLen:], rest))
						assert.Nil(t, rest.Identifier)
						assert.Equal(t, countEntries(m), countEntries(rest))
					} else {
						require.Nil(t, m.Identifier, "identifier on message %d", i)
					}
					n := countEntries(m)
					assert.Equal(t, s.Entries[i], n)
					entries += n
					if s.Kind == StreamHTTP {
						assert.Nil(t, m.GetTcpLogs())
					} else {
						assert.Nil(t, m.GetHttpLogs())
					}
					again, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
					require.NoError(t, err)
					require.True(t, bytes.Equal(s.Messages[i], again), "re-encoding differs")
				}
			}
			assert.Equal(t, tc.tr.EntryCount(), entries)
			assert.EqualValues(t, tc.tr.Ledger.Entries, entries)
		})
	}
}

func countEntries(m *alsv3.StreamAccessLogsMessage) int {
	return len(m.GetHttpLogs().GetLogEntry()) + len(m.GetTcpLogs().GetLogEntry())
}

// recount derives the ledger from the decoded entries, like an Istio-aware
// consumer that only reads the entries (envoy-als.md §7).
func recount(t *testing.T, tr *Traffic) Ledger {
	t.Helper()
	l := newLedger()
	l.SimulatedRequests = tr.Ledger.SimulatedRequests
	type conn struct{ sent, recv uint64 }
	open := map[string]conn{}
	for _, s := range tr.Streams {
		msgs, err := s.Decode()
		require.NoError(t, err)
		md := msgs[0].Identifier.Node.Metadata.Fields
		local := md["WORKLOAD_NAME"].GetStringValue()
		nodeID := msgs[0].Identifier.Node.Id
		l.Messages += int64(len(msgs))
		for _, m := range msgs {
			for _, e := range m.GetHttpLogs().GetLogEntry() {
				l.Entries++
				l.HTTPEntries++
				c := e.CommonProperties
				rep, peer := role(nodeID, c.UpstreamCluster)
				pw := peerWorkload(t, c.FilterStateObjects[peer])
				src, dst := local, pw
				if rep == ReporterDestination {
					src, dst = pw, local
				}
				code := "0"
				if rc := e.Response.GetResponseCode(); rc != nil {
					code = strconv.FormatUint(uint64(rc.Value), 10)
				}
				l.addRequest(RequestKey{rep, src, dst, code}, c.Duration.AsDuration().Nanoseconds(),
					c.DownstreamWireBytesReceived, c.DownstreamWireBytesSent)
				h := e.Request.RequestHeaders
				if rep == ReporterSource && (h["traceparent"] != "" || h["x-b3-traceid"] != "") {
					l.Traced++
					if strings.HasSuffix(h["traceparent"], "-01") || h["x-b3-sampled"] == "1" {
						l.Sampled++
					}
				}
				if strings.HasPrefix(h["content-type"], "application/grpc") {
					fo := &grpcstatsv3.FilterObject{}
					require.NoError(t, c.FilterStateObjects[grpcStatsKey].UnmarshalTo(fo))
					st := e.Response.ResponseTrailers["grpc-status"]
					if st == "" {
						st = e.Response.ResponseHeaders["grpc-status"]
					}
					if st == "" {
						st = grpcStatusFromHTTP(e.Response.GetResponseCode().GetValue())
					}
					l.addGRPC(PairKey{rep, src, dst}, st, fo.RequestMessageCount, fo.ResponseMessageCount)
				}
			}
			for _, e := range m.GetTcpLogs().GetLogEntry() {
				l.Entries++
				l.TCPEntries++
				c := e.CommonProperties
				key := nodeID + "/" + c.StreamId
				prev := open[key]
				// cumulative counters never go down
				require.GreaterOrEqual(t, c.DownstreamWireBytesSent, prev.sent)
				require.GreaterOrEqual(t, c.DownstreamWireBytesReceived, prev.recv)
				assert.Equal(t, c.DownstreamWireBytesReceived, e.ConnectionProperties.ReceivedBytes)
				assert.Equal(t, c.DownstreamWireBytesSent, e.ConnectionProperties.SentBytes)
				switch c.AccessLogType {
				case accesslogv3.AccessLogType_TcpPeriodic:
					l.TCPPeriodicEntries++
					assert.Nil(t, c.Duration)
					open[key] = conn{c.DownstreamWireBytesSent, c.DownstreamWireBytesReceived}
					continue
				case accesslogv3.AccessLogType_TcpConnectionEnd:
					require.NotNil(t, c.Duration)
					delete(open, key)
				default:
					t.Fatalf("unexpected TCP access log type %v", c.AccessLogType)
				}
				rep, peer := role(nodeID, c.UpstreamCluster)
				pw := peerWorkload(t, c.FilterStateObjects[peer])
				src, dst := local, pw
				if rep == ReporterDestination {
					src, dst = pw, local
				}
				l.addTCP(PairKey{rep, src, dst}, c.DownstreamWireBytesSent, c.DownstreamWireBytesReceived)
			}
		}
	}
	assert.Empty(t, open, "every TCP stream id ends with TcpConnectionEnd")
	return l
}

func role(nodeID, cluster string) (Reporter, string) {
	if strings.HasPrefix(nodeID, "router~") || strings.HasPrefix(cluster, "outbound|") || cluster == passthroughCluster {
		return ReporterSource, upstreamPeerKey
	}
	return ReporterDestination, downstreamPeerKey
}

func peerWorkload(t *testing.T, a interface {
	GetValue() []byte
	GetTypeUrl() string
},
) string {
	t.Helper()
	if a == nil || a.GetTypeUrl() == "" {
		return Unknown
	}
	require.Equal(t, structTypeURL, a.GetTypeUrl())
	s := &structpb.Struct{}
	require.NoError(t, proto.Unmarshal(a.GetValue(), s))
	w := s.Fields["workload"].GetStringValue()
	require.NotEmpty(t, w)
	return w
}

func TestLedgerMatchesEntries(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   *Traffic
	}{
		{"bookinfo", bookinfoTraffic(t, GenConfig{Seed: 5, Requests: 4000, StreamsPerProxy: 2, UntracedShare: 0.1, UnsampledShare: 0.3})},
		{"failures", failingBookinfo().Generate(GenConfig{Seed: 5, Requests: 2000})},
		{"bookinfo periodic", bookinfoTraffic(t, GenConfig{Seed: 6, Requests: 3000, TCPPeriodic: true, TCPPeriodicInterval: 200 * time.Millisecond})},
		{"synthetic", Synthetic(30, 3, 120, 11).Generate(GenConfig{Seed: 6, Requests: 3000, TCPPeriodic: true})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := recount(t, tc.tr)
			want := tc.tr.Ledger
			require.Len(t, got.Requests, len(want.Requests))
			for k, w := range want.Requests {
				g, ok := got.Requests[k]
				require.True(t, ok, "missing %+v", k)
				assert.Equal(t, w.Count, g.Count, "%+v", k)
				assert.Equal(t, w.DurationNanos, g.DurationNanos, "%+v", k)
				assert.InDelta(t, w.DurationMs, g.DurationMs, 1e-6*max(1, w.DurationMs), "%+v", k)
				assert.Equal(t, w.RequestBytes, g.RequestBytes, "%+v", k)
				assert.Equal(t, w.ResponseBytes, g.ResponseBytes, "%+v", k)
			}
			assert.Equal(t, want.TCP, got.TCP)
			assert.Equal(t, want.GRPC, got.GRPC)
			assert.Equal(t, want.GRPCStatuses, got.GRPCStatuses)
			for _, f := range []struct {
				name      string
				want, got int64
			}{
				{"entries", want.Entries, got.Entries},
				{"http entries", want.HTTPEntries, got.HTTPEntries},
				{"tcp entries", want.TCPEntries, got.TCPEntries},
				{"periodic entries", want.TCPPeriodicEntries, got.TCPPeriodicEntries},
				{"messages", want.Messages, got.Messages},
				{"traced", want.Traced, got.Traced},
				{"sampled", want.Sampled, got.Sampled},
			} {
				assert.Equal(t, f.want, f.got, f.name)
			}
		})
	}
}

func TestLedgerRules(t *testing.T) {
	tr := failingBookinfo().Generate(GenConfig{Seed: 3, Requests: 4000})
	l := tr.Ledger
	// Gateways are only ever "source".
	for k := range l.Requests {
		if k.Reporter == ReporterDestination {
			assert.NotEqual(t, "istio-ingressgateway", k.Destination)
		}
	}
	src := func(s, d, code string) int64 { return l.Requests[RequestKey{ReporterSource, s, d, code}].Count }
	dst := func(s, d, code string) int64 { return l.Requests[RequestKey{ReporterDestination, s, d, code}].Count }
	// External calls: client entry only, destination unknown.
	assert.Positive(t, src("productpage-v1", Unknown, "200"))
	assert.Zero(t, dst("productpage-v1", Unknown, "200"))
	// Connection failures: 503 at the source with unknown destination, never
	// at the destination; gRPC ones are HTTP 200 + grpc-status 14.
	assert.Positive(t, src("productpage-v1", Unknown, "503"))
	for k := range l.Requests {
		if k.Reporter == ReporterDestination {
			assert.NotEqual(t, Unknown, k.Source, "HTTP server entries always know their peer: %+v", k)
		}
	}
	assert.Positive(t, l.GRPCStatuses[GRPCStatusKey{ReporterSource, "productpage-v1", Unknown, "14"}])
	// Every request reaching an in-mesh server is counted on both sides.
	for k, v := range l.Requests {
		if k.Reporter == ReporterDestination {
			c := l.Requests[RequestKey{ReporterSource, k.Source, k.Destination, k.ResponseCode}]
			assert.Equal(t, v.Count, c.Count, "%+v", k)
			assert.Less(t, v.DurationNanos, c.DurationNanos, "server durations are shorter")
		}
	}
	// TCP: mongodb over mTLS is known on both sides; googleapis is external.
	assert.Positive(t, l.TCP[PairKey{ReporterSource, "ratings-v1", "mongodb-v1"}].Opened)
	assert.Equal(t, l.TCP[PairKey{ReporterSource, "ratings-v1", "mongodb-v1"}].Opened,
		l.TCP[PairKey{ReporterDestination, "ratings-v1", "mongodb-v1"}].Opened)
	assert.Positive(t, l.TCP[PairKey{ReporterSource, "details-v1", Unknown}].Opened)
	var total int64
	for k, v := range l.Requests {
		if k.Reporter == ReporterSource {
			total += v.Count
		}
	}
	var conns int64
	for k, v := range l.TCP {
		if k.Reporter == ReporterSource {
			conns += v.Opened
		}
	}
	assert.Equal(t, l.SimulatedRequests, total+conns, "one client entry per simulated call")
}

// TestRequestPairs checks the client/server entries of the same request.
func TestRequestPairs(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 8, Requests: 3000, UntracedShare: 0.2, UnsampledShare: 0.25})
	type side struct {
		e    *accesslogv3.HTTPAccessLogEntry
		node string
	}
	clients, servers := map[string]side{}, map[string]side{}
	for _, s := range tr.Streams {
		msgs, err := s.Decode()
		require.NoError(t, err)
		node := msgs[0].Identifier.Node.Id
		for _, m := range msgs {
			for _, e := range m.GetHttpLogs().GetLogEntry() {
				assert.Equal(t, accesslogv3.AccessLogType_DownstreamEnd, e.CommonProperties.AccessLogType)
				assert.Equal(t, e.Request.RequestId, e.CommonProperties.StreamId)
				if r, _ := role(node, e.CommonProperties.UpstreamCluster); r == ReporterSource {
					clients[e.Request.RequestId] = side{e, node}
				} else {
					servers[e.Request.RequestId] = side{e, node}
				}
			}
		}
	}
	require.NotEmpty(t, servers)
	seen := map[string]bool{}
	for id, sv := range servers {
		cl, ok := clients[id]
		require.True(t, ok, "server entry %s without client entry", id)
		c, s := cl.e.CommonProperties, sv.e.CommonProperties
		cStart, sStart := c.StartTime.AsTime(), s.StartTime.AsTime()
		cEnd, sEnd := cStart.Add(c.Duration.AsDuration()), sStart.Add(s.Duration.AsDuration())
		assert.True(t, sStart.After(cStart) && sEnd.Before(cEnd), "server span inside client span")
		assert.Greater(t, c.Duration.AsDuration(), s.Duration.AsDuration())
		assert.Equal(t, cl.e.Response.ResponseCode.Value, sv.e.Response.ResponseCode.Value)
		assert.Equal(t, c.UpstreamRemoteAddress.GetSocketAddress().GetAddress(), s.DownstreamLocalAddress.GetSocketAddress().GetAddress())
		assert.True(t, proto.Equal(c.UpstreamLocalAddress, s.DownstreamRemoteAddress))
		assert.True(t, strings.HasPrefix(s.UpstreamCluster, "inbound|"))
		assert.True(t, strings.HasSuffix(s.UpstreamCluster, "||"))
		// Peer objects name each other.
		assert.Equal(t, strings.Split(sv.node, "~")[2], podOf(t, c.FilterStateObjects[upstreamPeerKey].GetValue())+".default")
		// mTLS: SANs on the server side only.
		assert.Nil(t, c.TlsProperties)
		if tls := s.TlsProperties; tls != nil {
			assert.True(t, strings.HasPrefix(tls.LocalCertificateProperties.SubjectAltName[0].GetUri(), "spiffe://cluster.local/ns/default/sa/"))
			assert.True(t, strings.HasPrefix(tls.PeerCertificateProperties.SubjectAltName[0].GetUri(), "spiffe://cluster.local/ns/"))
			seen["mtls"] = true
		} else {
			seen["plaintext"] = true
		}
		// Trace context: same trace, client span = parent of server span.
		ch, sh := cl.e.Request.RequestHeaders, sv.e.Request.RequestHeaders
		if tp := ch["traceparent"]; tp != "" {
			cp, sp := strings.Split(tp, "-"), strings.Split(sh["traceparent"], "-")
			require.Len(t, cp, 4)
			require.Len(t, sp, 4)
			assert.Equal(t, cp[1], sp[1])
			assert.NotEqual(t, cp[2], sp[2])
			assert.Equal(t, cp[3], sp[3])
			seen["w3c-"+cp[3]] = true
		}
		if ch["x-b3-traceid"] != "" {
			assert.Equal(t, ch["x-b3-traceid"], sh["x-b3-traceid"])
			assert.Equal(t, ch["x-b3-spanid"], sh["x-b3-parentspanid"])
			assert.NotEqual(t, ch["x-b3-spanid"], sh["x-b3-spanid"])
			assert.Len(t, ch["x-b3-traceid"], 32)
			assert.Len(t, ch["x-b3-spanid"], 16)
			seen["b3"] = true
		}
		if ch["traceparent"] == "" && ch["x-b3-traceid"] == "" {
			assert.Empty(t, sh["traceparent"])
			seen["untraced"] = true
		}
		if strings.HasPrefix(ch["content-type"], "application/grpc") {
			assert.Equal(t, accesslogv3.HTTPAccessLogEntry_HTTP2, cl.e.ProtocolVersion)
			assert.NotEmpty(t, cl.e.Response.ResponseTrailers["grpc-status"])
			assert.Equal(t, uint32(200), cl.e.Response.ResponseCode.Value)
			assert.Contains(t, s.FilterStateObjects, grpcStatsKey)
			seen["grpc"] = true
		}
	}
	for _, k := range []string{"mtls", "plaintext", "w3c-01", "w3c-00", "b3", "untraced", "grpc"} {
		assert.True(t, seen[k], "no pair with %s", k)
	}
}

func podOf(t *testing.T, b []byte) string {
	t.Helper()
	s := &structpb.Struct{}
	require.NoError(t, proto.Unmarshal(b, s))
	return s.Fields["name"].GetStringValue()
}

func TestConnectionFailureShape(t *testing.T) {
	tr := failingBookinfo().Generate(GenConfig{Seed: 21, Requests: 3000})
	var http, grpc int
	for _, s := range tr.Streams {
		msgs, err := s.Decode()
		require.NoError(t, err)
		for _, m := range msgs {
			for _, e := range m.GetHttpLogs().GetLogEntry() {
				c := e.CommonProperties
				if !c.GetResponseFlags().GetUpstreamConnectionFailure() {
					continue
				}
				assert.True(t, c.ResponseFlags.UpstreamRetryLimitExceeded)
				assert.True(t, strings.HasPrefix(c.UpstreamCluster, "outbound|"), "client side only")
				assert.NotContains(t, c.FilterStateObjects, upstreamPeerKey)
				assert.NotNil(t, c.UpstreamRemoteAddress, "the host that was tried")
				assert.Nil(t, c.UpstreamLocalAddress)
				assert.EqualValues(t, 3, c.UpstreamRequestAttemptCount)
				assert.Equal(t, ufDetails, e.Response.ResponseCodeDetails)
				if e.Request.RequestHeaders["content-type"] == "application/grpc" {
					grpc++
					assert.Equal(t, uint32(200), e.Response.ResponseCode.Value)
					assert.Equal(t, "14", e.Response.ResponseHeaders["grpc-status"])
				} else {
					http++
					assert.Equal(t, uint32(503), e.Response.ResponseCode.Value)
				}
			}
		}
	}
	assert.Positive(t, http)
	assert.Positive(t, grpc)
}

func TestBatchingAndStreams(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 2, Requests: 4000, BatchSize: 50, StreamsPerProxy: 4, FlushInterval: 500 * time.Millisecond})
	workers := map[string]map[int]bool{}
	for _, s := range tr.Streams {
		if workers[s.NodeID] == nil {
			workers[s.NodeID] = map[int]bool{}
		}
		workers[s.NodeID][s.Worker] = true
		msgs, err := s.Decode()
		require.NoError(t, err)
		var last time.Time
		for i, m := range msgs {
			require.LessOrEqual(t, s.Entries[i], 50)
			var first time.Time
			for j, e := range m.GetHttpLogs().GetLogEntry() {
				end := e.CommonProperties.StartTime.AsTime().Add(e.CommonProperties.Duration.AsDuration())
				assert.False(t, end.Before(last), "entries in write order")
				last = end
				if j == 0 {
					first = end
				}
				assert.Less(t, end.Sub(first), 500*time.Millisecond)
			}
		}
	}
	assert.Len(t, workers["sidecar~10.244.2.9~"+podName("details-v1", 0)+".default~default.svc.cluster.local"], 4)
}

func TestTCPPeriodicEntries(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 4, Requests: 4000, TCPPeriodic: true, TCPPeriodicInterval: 250 * time.Millisecond})
	require.Positive(t, tr.Ledger.TCPPeriodicEntries)
	for _, s := range tr.Streams {
		if s.Kind != StreamTCP {
			continue
		}
		msgs, err := s.Decode()
		require.NoError(t, err)
		ended := map[string]bool{}
		for _, m := range msgs {
			for _, e := range m.GetTcpLogs().GetLogEntry() {
				c := e.CommonProperties
				require.NotEmpty(t, c.StreamId)
				require.False(t, ended[c.StreamId], "entry after TcpConnectionEnd")
				if c.AccessLogType == accesslogv3.AccessLogType_TcpConnectionEnd {
					ended[c.StreamId] = true
				} else {
					assert.True(t, c.IntermediateLogEntry) //nolint:staticcheck // deprecated field Envoy still writes
				}
			}
		}
	}
}

// TestOmitStreamID: with OmitStreamID no entry carries a stream_id, and
// the traffic is otherwise the same (the same ledger).
func TestOmitStreamID(t *testing.T) {
	cfg := GenConfig{Seed: 4, Requests: 2000, TCPPeriodic: true}
	with := bookinfoTraffic(t, cfg)
	cfg.OmitStreamID = true
	without := bookinfoTraffic(t, cfg)
	assert.Equal(t, with.Ledger, without.Ledger)
	var entries int
	for _, s := range without.Streams {
		msgs, err := s.Decode()
		require.NoError(t, err)
		for _, m := range msgs {
			for _, e := range m.GetTcpLogs().GetLogEntry() {
				assert.Empty(t, e.CommonProperties.StreamId)
				entries++
			}
			for _, e := range m.GetHttpLogs().GetLogEntry() {
				assert.Empty(t, e.CommonProperties.StreamId)
				entries++
			}
		}
	}
	assert.Equal(t, with.EntryCount(), entries)
}

func TestTrafficProtoJSON(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 1, Requests: 50})
	msgs, err := tr.Streams[0].Decode()
	require.NoError(t, err)
	js, err := protojson.Marshal(msgs[0])
	require.NoError(t, err)
	assert.Contains(t, string(js), `"logName":"http_envoy_accesslog"`)
	assert.Contains(t, string(js), `"WORKLOAD_NAME":"istio-ingressgateway"`)
	assert.Contains(t, string(js), `"accessLogType":"DownstreamEnd"`)
}
