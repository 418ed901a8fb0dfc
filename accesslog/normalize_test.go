package accesslog

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func istioNode(t testing.TB, kind, pod, ns, workload, app, version, sa string) *corev3.Node {
	t.Helper()
	md, err := structpb.NewStruct(map[string]any{
		"NAMESPACE": ns, "WORKLOAD_NAME": workload, "SERVICE_ACCOUNT": sa, "CLUSTER_ID": "Kubernetes",
		"INSTANCE_IPS": "10.0.0.9",
		"LABELS": map[string]any{
			"app": app, "version": version,
			"service.istio.io/canonical-name": app, "service.istio.io/canonical-revision": version,
		},
	})
	require.NoError(t, err)
	return &corev3.Node{Id: kind + "~10.0.0.9~" + pod + "." + ns + "~" + ns + ".svc.cluster.local", Cluster: app + "." + ns, Metadata: md}
}

func peer(t testing.TB, workload, ns, app, version, sa string) *anypb.Any {
	t.Helper()
	s, err := structpb.NewStruct(map[string]any{
		"type": "deployment", "workload": workload, "name": workload + "-abc", "namespace": ns, "cluster": "Kubernetes",
		"service": app, "revision": version, "app": app, "version": version,
		"identity": "spiffe://cluster.local/ns/" + ns + "/sa/" + sa,
	})
	require.NoError(t, err)
	a, err := anypb.New(s)
	require.NoError(t, err)
	return a
}

func sock(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func httpMsg(node *corev3.Node, entries ...*datav3.HTTPAccessLogEntry) *alsv3.StreamAccessLogsMessage {
	m := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{
		HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: entries},
	}}
	if node != nil {
		m.Identifier = &alsv3.StreamAccessLogsMessage_Identifier{Node: node, LogName: "http_envoy_accesslog"}
	}
	return m
}

var start = time.Date(2026, 11, 21, 11, 59, 0, 0, time.UTC)

func baseEntry(cluster string) *datav3.HTTPAccessLogEntry {
	return &datav3.HTTPAccessLogEntry{
		CommonProperties: &datav3.AccessLogCommon{
			StartTime:                   timestamppb.New(start),
			Duration:                    durationpb.New(12500 * time.Microsecond),
			UpstreamCluster:             cluster,
			DownstreamLocalAddress:      sock("10.96.0.10", 9080),
			DownstreamRemoteAddress:     sock("10.0.0.9", 40000),
			UpstreamRemoteAddress:       sock("10.0.0.20", 9080),
			DownstreamWireBytesReceived: 300,
			DownstreamWireBytesSent:     1200,
			AccessLogType:               datav3.AccessLogType_DownstreamEnd,
		},
		ProtocolVersion: datav3.HTTPAccessLogEntry_HTTP11,
		Request: &datav3.HTTPRequestProperties{
			RequestMethod: corev3.RequestMethod_GET, Authority: "reviews:9080", Path: "/reviews/1",
			RequestId: "7b1c6f0e-1111-4222-8333-944455556666",
		},
		Response: &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200)},
	}
}

func normalizeOne(t *testing.T, node *corev3.Node, e *datav3.HTTPAccessLogEntry) Record {
	t.Helper()
	recs, out, err := NewStream(Config{}, NewConnTable(10, time.Minute)).Decode(marshal(t, httpMsg(node, e)), nil, testNow)
	require.NoError(t, err)
	require.Equal(t, 1, out.Processed)
	return recs[0]
}

func TestNormalize(t *testing.T) {
	client := istioNode(t, "sidecar", "productpage-v1-7d6cfb7dfd-x2x4l", "default", "productpage-v1", "productpage", "v1", "bookinfo-productpage")
	server := istioNode(t, "sidecar", "reviews-v2-5b64f47978-6mfqc", "default", "reviews-v2", "reviews", "v2", "bookinfo-reviews")
	tests := []struct {
		name  string
		node  *corev3.Node
		edit  func(e *datav3.HTTPAccessLogEntry)
		check func(t *testing.T, r *Record)
	}{
		{"client with upstream_peer", client, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "outbound|9080||reviews.default.svc.cluster.local"
			e.CommonProperties.FilterStateObjects = map[string]*anypb.Any{"upstream_peer": peer(t, "reviews-v2", "default", "reviews", "v2", "bookinfo-reviews")}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ReporterSource, r.Reporter)
			assert.Equal(t, "productpage-v1", r.Source.Name)
			assert.Equal(t, FromNodeMetadata, r.SourceFrom)
			assert.Equal(t, "reviews-v2", r.Destination.Name)
			assert.Equal(t, "v2", r.Destination.CanonicalRevision)
			assert.Equal(t, FromPeerMetadata, r.DestinationFrom)
			assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", r.Destination.Principal)
			assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", r.Source.Principal, "synthesised from SERVICE_ACCOUNT")
			assert.Equal(t, Service{"reviews.default.svc.cluster.local", "reviews", "default"}, r.Service)
			assert.Equal(t, SecurityUnknown, r.Security, "client reporters always say unknown")
			assert.Equal(t, int64(12500*time.Microsecond), r.DurationNanos)
			assert.Equal(t, uint64(300), r.RequestBytes)
			assert.Equal(t, uint64(1200), r.ResponseBytes)
		}},
		{"server with mTLS and downstream_peer", server, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "inbound|9080||"
			e.CommonProperties.DownstreamLocalAddress = sock("10.0.0.9", 9080)
			e.CommonProperties.TlsProperties = &datav3.TLSProperties{
				LocalCertificateProperties: &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"}},
				}},
				PeerCertificateProperties: &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"}},
				}},
			}
			e.CommonProperties.FilterStateObjects = map[string]*anypb.Any{"downstream_peer": peer(t, "productpage-v1", "default", "productpage", "v1", "bookinfo-productpage")}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ReporterDestination, r.Reporter)
			assert.Equal(t, "productpage-v1", r.Source.Name)
			assert.Equal(t, "reviews-v2", r.Destination.Name)
			assert.Equal(t, SecurityMutualTLS, r.Security)
			assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-reviews", r.Destination.Principal)
			assert.Equal(t, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", r.Source.Principal)
			assert.Equal(t, Service{"reviews.default.svc.cluster.local", "reviews", "default"}, r.Service, "the local service: Istio's inbound Host-header fallback is off")
			assert.Equal(t, FromNodeMetadata, r.ServiceFrom)
		}},
		{"server identity from SAN only", server, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "inbound|9080||"
			e.CommonProperties.TlsProperties = &datav3.TLSProperties{
				PeerCertificateProperties: &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: "x.example"}},
					{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: "spiffe://td.example/ns/shop/sa/cart"}},
				}},
			}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, FromSAN, r.SourceFrom)
			assert.Equal(t, "shop", r.Source.Namespace)
			assert.Equal(t, unknown, r.Source.Name)
			assert.Equal(t, "spiffe://td.example/ns/shop/sa/cart", r.Source.Principal)
			assert.Equal(t, SecurityNone, r.Security, "no local certificate: not mutual")
		}},
		{"gRPC with trailer status", client, func(e *datav3.HTTPAccessLogEntry) {
			e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP2
			e.Request.RequestHeaders = map[string]string{"content-type": "application/grpc+proto"}
			e.Response.ResponseTrailers = map[string]string{"grpc-status": "14"}
			e.Response.ResponseHeaders = map[string]string{"grpc-status": "0"}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ProtocolGRPC, r.Protocol)
			assert.Equal(t, "14", r.GRPCStatusLabel(), "trailer wins over header")
			assert.True(t, r.IsError())
		}},
		{"gRPC from grpc-status without content-type", client, func(e *datav3.HTTPAccessLogEntry) {
			e.ProtocolVersion = datav3.HTTPAccessLogEntry_HTTP2
			e.Request.Scheme = "https"
			e.Response.ResponseHeaders = map[string]string{"grpc-status": "0"}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ProtocolGRPC, r.Protocol)
			assert.Equal(t, "0", r.GRPCStatusLabel())
			assert.False(t, r.IsError())
		}},
		{"gRPC status mapped from HTTP 503", client, func(e *datav3.HTTPAccessLogEntry) {
			e.Request.RequestHeaders = map[string]string{"content-type": "application/grpc"}
			e.Response.ResponseCode = wrapperspb.UInt32(503)
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, "14", r.GRPCStatusLabel())
		}},
		{"plain HTTP has no gRPC status", client, nil, func(t *testing.T, r *Record) {
			assert.Equal(t, ProtocolHTTP, r.Protocol)
			assert.Empty(t, r.GRPCStatusLabel())
		}},
		{"no response: code 0, flags in Envoy order", client, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "outbound|9080||reviews.default.svc.cluster.local"
			e.Response = nil
			e.CommonProperties.ResponseFlags = &datav3.ResponseFlags{UpstreamRetryLimitExceeded: true, UpstreamConnectionFailure: true, NoHealthyUpstream: true}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, "0", r.ResponseCodeLabel())
			assert.Equal(t, "UH,UF,URX", r.Flags.String())
			assert.True(t, r.IsProxyFailure())
			assert.Equal(t, "reviews", r.Destination.CanonicalService, "from the cluster name")
			assert.Equal(t, unknown, r.Destination.Name)
			assert.Equal(t, FromClusterName, r.DestinationFrom)
		}},
		{"passthrough to an external host", client, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "PassthroughCluster"
			e.CommonProperties.RouteName = "allow_any"
			e.Request.Authority = "api.example.com:443"
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, Service{"api.example.com:443", "PassthroughCluster", unknown}, r.Service, "Istio keeps the Host header whole, port included")
			assert.Equal(t, unknown, r.Destination.Name)
		}},
		{"unauthorized external service flag", client, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.ResponseFlags = &datav3.ResponseFlags{
				UnauthorizedDetails: &datav3.ResponseFlags_Unauthorized{Reason: datav3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE},
				FaultInjected:       true, DelayInjected: true, UpstreamRequestTimeout: true,
			}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, "UT,DI,FI,UAEX", r.Flags.String())
		}},
		{
			"gateway is always source", istioNode(t, "router", "istio-ingressgateway-5d9f7b4b7c-abcde", "istio-system", "istio-ingressgateway", "istio-ingressgateway", "", ""),
			func(e *datav3.HTTPAccessLogEntry) {
				e.CommonProperties.UpstreamCluster = "outbound|9080||productpage.default.svc.cluster.local"
			},
			func(t *testing.T, r *Record) {
				assert.Equal(t, ReporterSource, r.Reporter)
				assert.Equal(t, "istio-ingressgateway", r.Source.Name)
				assert.Equal(t, "latest", r.Source.CanonicalRevision, "no version label")
			},
		},
		{"waypoint", istioNode(t, "waypoint", "waypoint-6b8f9c5d7-zzzzz", "default", "waypoint", "waypoint", "", ""), func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "inbound-vip|9080|http|reviews.default.svc.cluster.local"
			e.CommonProperties.FilterStateObjects = map[string]*anypb.Any{
				"downstream_peer": peer(t, "productpage-v1", "default", "productpage", "v1", "pp"),
				"upstream_peer":   peer(t, "reviews-v3", "default", "reviews", "v3", "rv"),
			}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ReporterWaypoint, r.Reporter)
			assert.Equal(t, "productpage-v1", r.Source.Name)
			assert.Equal(t, "reviews-v3", r.Destination.Name)
			assert.Equal(t, "reviews", r.Service.Name)
		}},
		{"local reply on an inbound address", server, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = ""
			e.CommonProperties.DownstreamLocalAddress = sock("10.0.0.9", 9080)
			e.CommonProperties.ResponseFlags = &datav3.ResponseFlags{NoRouteFound: true}
			e.Response.ResponseCode = wrapperspb.UInt32(404)
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, ReporterDestination, r.Reporter)
			assert.Equal(t, "NR", r.Flags.String())
		}},
		{"W3C traceparent", client, func(e *datav3.HTTPAccessLogEntry) {
			e.Request.RequestHeaders = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x-b3-traceid": "1111111111111111"}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, TraceW3C, r.Trace.Format)
			assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", hex.EncodeToString(r.Trace.TraceID[:]))
			assert.Equal(t, "00f067aa0ba902b7", hex.EncodeToString(r.Trace.SpanID[:]))
			assert.True(t, r.Trace.Sampled)
		}},
		{"B3 single header", client, func(e *datav3.HTTPAccessLogEntry) {
			e.Request.RequestHeaders = map[string]string{"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, TraceB3Single, r.Trace.Format)
			assert.Equal(t, "e457b5a2e4d86bd1", hex.EncodeToString(r.Trace.SpanID[:]))
			assert.Equal(t, "05e3ac9a4f6e3b90", hex.EncodeToString(r.Trace.ParentSpanID[:]))
		}},
		{"B3 multi headers with a 64-bit trace id", client, func(e *datav3.HTTPAccessLogEntry) {
			e.Request.RequestHeaders = map[string]string{"x-b3-traceid": "a3ce929d0e0e4736", "x-b3-spanid": "00f067aa0ba902b7", "x-b3-sampled": "0"}
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, TraceB3Multi, r.Trace.Format)
			assert.Equal(t, "0000000000000000a3ce929d0e0e4736", hex.EncodeToString(r.Trace.TraceID[:]))
			assert.False(t, r.Trace.Sampled)
		}},
		{"invalid traceparent is ignored", client, func(e *datav3.HTTPAccessLogEntry) {
			e.Request.RequestHeaders = map[string]string{"traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}
		}, func(t *testing.T, r *Record) {
			assert.False(t, r.Trace.Valid())
		}},
		{"plain Envoy names the service after its cluster", &corev3.Node{Id: "edge-7c9d", Cluster: "edge"}, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.UpstreamCluster = "httproute/default/backend/rule/0"
		}, func(t *testing.T, r *Record) {
			assert.Equal(t, "edge", r.Source.Name)
			assert.Equal(t, FromNodeID, r.SourceFrom)
			assert.Equal(t, Service{"httproute/default/backend", "backend", "default"}, r.Service, "Envoy Gateway's route cluster names the route")
		}},
		{"intermediate entry is not final", client, func(e *datav3.HTTPAccessLogEntry) {
			e.CommonProperties.AccessLogType = datav3.AccessLogType_DownstreamPeriodic
			e.CommonProperties.Duration = nil
		}, func(t *testing.T, r *Record) {
			assert.False(t, r.Final)
			assert.Equal(t, int64(-1), r.DurationNanos)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := baseEntry("outbound|9080||reviews.default.svc.cluster.local")
			if tt.edit != nil {
				tt.edit(e)
			}
			r := normalizeOne(t, tt.node, e)
			tt.check(t, &r)
		})
	}
}

// TestTCPPeriodicDeltas: periodic entries of one connection count the
// increase of its cumulative counters, open it once, and its final entry
// counts only the rest and ends the tracking: with Envoy's stream_id, and
// without one (older Envoys, keyed by the connection's addresses), where
// the final entry used to count every byte and the opening a second time
// and leave the connection tracked.
func TestTCPPeriodicDeltas(t *testing.T) {
	for _, streamID := range []string{"s-1", ""} {
		t.Run("stream_id="+streamID, func(t *testing.T) {
			node := istioNode(t, "sidecar", "reviews-v1-5b64f47978-6mfqc", "default", "reviews-v1", "reviews", "v1", "rv")
			conns := NewConnTable(10, time.Minute)
			entry := func(typ datav3.AccessLogType, sent, recv uint64) *datav3.TCPAccessLogEntry {
				return &datav3.TCPAccessLogEntry{
					CommonProperties: &datav3.AccessLogCommon{
						UpstreamCluster: "outbound|27017||mongodb.default.svc.cluster.local", StreamId: streamID, AccessLogType: typ,
						StartTime:               timestamppb.New(start),
						DownstreamRemoteAddress: sock("10.0.0.7", 41234),
						DownstreamLocalAddress:  sock("10.96.0.20", 27017),
						UpstreamRemoteAddress:   sock("10.0.0.9", 27017),
					},
					ConnectionProperties: &datav3.ConnectionProperties{SentBytes: sent, ReceivedBytes: recv},
				}
			}
			msg := func(first bool, e *datav3.TCPAccessLogEntry) []byte {
				m := &alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{
					TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{LogEntry: []*datav3.TCPAccessLogEntry{e}},
				}}
				if first {
					m.Identifier = &alsv3.StreamAccessLogsMessage_Identifier{Node: node}
				}
				return marshal(t, m)
			}
			s1 := NewStream(Config{}, conns)
			r1, _, err := s1.Decode(msg(true, entry(datav3.AccessLogType_TcpPeriodic, 100, 40)), nil, testNow)
			require.NoError(t, err)
			assert.True(t, r1[0].TCPOpened)
			assert.False(t, r1[0].TCPClosed)
			assert.Equal(t, [2]uint64{100, 40}, [2]uint64{r1[0].TCPSentBytes, r1[0].TCPReceivedBytes})
			assert.Equal(t, ProtocolTCP, r1[0].Protocol)
			// The gRPC stream reconnects: the connection's next entries arrive on a
			// new stream and are still counted as deltas.
			s2 := NewStream(Config{}, conns)
			r2, _, err := s2.Decode(msg(true, entry(datav3.AccessLogType_TcpPeriodic, 250, 40)), nil, testNow)
			require.NoError(t, err)
			assert.False(t, r2[0].TCPOpened)
			assert.Equal(t, [2]uint64{150, 0}, [2]uint64{r2[0].TCPSentBytes, r2[0].TCPReceivedBytes})
			r3, _, err := s2.Decode(msg(false, entry(datav3.AccessLogType_TcpConnectionEnd, 300, 90)), nil, testNow)
			require.NoError(t, err)
			assert.True(t, r3[0].TCPClosed)
			assert.False(t, r3[0].TCPOpened, "opened once, by the first periodic entry")
			assert.True(t, r3[0].Final)
			assert.Equal(t, [2]uint64{50, 50}, [2]uint64{r3[0].TCPSentBytes, r3[0].TCPReceivedBytes})
			assert.Equal(t, 0, conns.Len(), "the final entry forgets the connection")
		})
	}
}

func TestBadInput(t *testing.T) {
	good := marshal(t, httpMsg(nil, baseEntry("outbound|9080||reviews.default.svc.cluster.local")))
	tests := []struct {
		name     string
		msgs     [][]byte
		wantErr  error
		rejected RejectReason
	}{
		{"malformed protobuf", [][]byte{{0x0a, 0xff, 0xff}}, ErrMalformed, 255},
		{"entries before the identifier", [][]byte{good}, ErrNoIdentifier, RejectNoIdentifier},
		// identifier{node{metadata: Struct with a truncated field}}
		{"bad node metadata", [][]byte{{0x0a, 0x06, 0x0a, 0x04, 0x1a, 0x02, 0x0a, 0x05}}, ErrBadIdentifier, RejectBadIdentifier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewStream(Config{}, nil)
			var err error
			var out Outcome
			for _, m := range tt.msgs {
				_, out, err = st.Decode(m, nil, testNow)
			}
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, tt.wantErr, "got %v", err)
			if tt.rejected != 255 {
				assert.Equal(t, out.Entries, out.Rejected[tt.rejected])
			}
		})
	}
	// An entry without common_properties is rejected and counted; the rest
	// of the message is processed.
	node := istioNode(t, "sidecar", "a-1", "default", "a", "a", "v1", "a")
	m := httpMsg(node, baseEntry("outbound|80||b.default.svc.cluster.local"), &datav3.HTTPAccessLogEntry{})
	recs, out, err := NewStream(Config{}, nil).Decode(marshal(t, m), nil, testNow)
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	assert.Equal(t, 1, out.Rejected[RejectNoCommonProperties])
	assert.Equal(t, out.Entries, out.Processed+out.RejectedTotal())
}

func TestInternBound(t *testing.T) {
	node := istioNode(t, "sidecar", "a-1", "default", "a", "a", "v1", "a")
	st := NewStream(Config{MaxInterned: 8}, nil)
	for i := range 20 {
		e := baseEntry("outbound|80||svc" + string(rune('a'+i)) + ".default.svc.cluster.local")
		var m *alsv3.StreamAccessLogsMessage
		if i == 0 {
			m = httpMsg(node, e)
		} else {
			m = httpMsg(nil, e)
		}
		_, _, err := st.Decode(marshal(t, m), nil, testNow)
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, len(st.strs), 8)
	assert.Positive(t, st.InternResets[ResetStrings])
}

func TestWorkloadFromPod(t *testing.T) {
	for pod, want := range map[string]string{
		"productpage-v1-d66dcfdc5-kh6v7":        "productpage-v1",
		"istio-ingressgateway-699c7dc774-hjxq5": "istio-ingressgateway",
		"web-0":                                 "web-0",
		"ds-x7k2p":                              "ds",
		"standalone":                            "standalone",
	} {
		assert.Equal(t, want, workloadFromPod(pod), pod)
	}
}

// TestInternBoundSameRecords checks that a stream whose intern table is
// cleared over and over (and its recent-cluster and SPIFFE-id memos with
// it) normalises exactly as one that never clears it, with clusters and
// SANs that are not valid UTF-8 among them.
func TestInternBoundSameRecords(t *testing.T) {
	node := istioNode(t, "sidecar", "reviews-v1-1", "default", "reviews-v1", "reviews", "v1", "bookinfo-reviews")
	clusters := []string{
		"outbound|9080||a.default.svc.cluster.local", "outbound|9080||b.default.svc.cluster.local",
		"outbound|9080||INVALIDX.default.svc.cluster.local", "inbound|9080||", "PassthroughCluster",
		"my-plain-cluster", "INVALIDX-plain", "outbound_.9080_._.c.default.svc.cluster.local",
	}
	sans := []string{"spiffe://cluster.local/ns/default/sa/a", "spiffe://cluster.local/ns/INVALIDX/sa/b", "spiffe://cluster.local/ns/x/sa/c"}
	uri := func(s string) *datav3.TLSProperties_CertificateProperties {
		return &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: s}},
		}}
	}
	small := NewStream(Config{MaxInterned: 3}, nil)
	large := NewStream(Config{}, nil)
	for i := range 80 {
		e := baseEntry(clusters[i%len(clusters)])
		e.CommonProperties.TlsProperties = &datav3.TLSProperties{
			LocalCertificateProperties: uri(sans[(i/2)%len(sans)]),
			PeerCertificateProperties:  uri(sans[(i/3)%len(sans)]),
		}
		n := node
		if i > 0 {
			n = nil
		}
		// proto.Marshal refuses invalid UTF-8: put it in after encoding.
		b := bytes.ReplaceAll(marshal(t, httpMsg(n, e)), []byte("INVALIDX"), []byte("\xffNVALIDX"))
		rs, _, err := small.Decode(b, nil, testNow)
		require.NoError(t, err)
		rl, _, err := large.Decode(b, nil, testNow)
		require.NoError(t, err)
		require.Equal(t, rl, rs, "message %d", i)
	}
	assert.Positive(t, small.InternResets[ResetStrings])
	assert.Zero(t, large.InternResets)
}
