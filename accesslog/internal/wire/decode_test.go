package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlens/meshlens/internal/captures"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Wire builders for hand-made messages.

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func msgField(num protowire.Number, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, cat(parts...))
}

func strField(num protowire.Number, s string) []byte {
	return msgField(num, []byte(s))
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func fixed64Field(num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
}

func fixed32Field(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), v)
}

func groupField(num protowire.Number, parts ...[]byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.StartGroupType)
	b = append(b, cat(parts...)...)
	return protowire.AppendTag(b, num, protowire.EndGroupType)
}

// unknowns is a run of unknown fields of every wire type, using field
// numbers no message here defines.
func unknowns() []byte {
	return cat(
		varintField(1000, 1<<40),
		fixed64Field(1001, 7),
		fixed32Field(1002, 7),
		strField(1003, "x"),
		groupField(1004, varintField(1, 1), groupField(2, strField(3, "y")), fixed32Field(1<<30, 1)),
	)
}

// httpMsg is a StreamAccessLogsMessage with http_logs holding the entries.
func httpMsg(entries ...[]byte) []byte {
	var parts [][]byte
	for _, e := range entries {
		parts = append(parts, msgField(1, e))
	}
	return msgField(2, parts...)
}

// common is an HTTPAccessLogEntry / TCPAccessLogEntry field 1.
func common(parts ...[]byte) []byte { return msgField(1, parts...) }

// decodeAndCheck decodes b, checks it against proto.Unmarshal through the
// oracle, and returns the view.
func decodeAndCheck(t *testing.T, b []byte) *Message {
	t.Helper()
	var pm alsv3.StreamAccessLogsMessage
	require.NoError(t, proto.Unmarshal(b, &pm), "proto.Unmarshal")
	m := dirtyMessage(t)
	require.NoError(t, DecodeAccessLogs(b, m))
	x := expectFromProto(&pm)
	require.Empty(t, x.unpredictable)
	if d := diffViews(m, &x); len(d) > 0 {
		t.Fatalf("view differs from proto.Unmarshal:\n%s", strings.Join(d, "\n"))
	}
	return m
}

// dirtyMessage returns a Message that already holds decoded entries, so
// that tests also check that reused entries are reset.
func dirtyMessage(t *testing.T) *Message {
	t.Helper()
	m := &Message{}
	require.NoError(t, DecodeAccessLogs(mustMarshal(t, istioBatch(4)), m))
	require.Len(t, m.Entries, 4)
	return m
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

func mustAny(t testing.TB, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	require.NoError(t, err)
	return a
}

func mustStruct(t testing.TB, v map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(v)
	require.NoError(t, err)
	return s
}

func sock(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func uriSAN(s string) *accesslogv3.TLSProperties_CertificateProperties_SubjectAltName {
	return &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
		San: &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: s},
	}
}

func dnsSAN(s string) *accesslogv3.TLSProperties_CertificateProperties_SubjectAltName {
	return &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
		San: &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName_Dns{Dns: s},
	}
}

// fullMessage sets every field the decoder reads, and many it skips.
func fullMessage(t testing.TB) *alsv3.StreamAccessLogsMessage {
	md := mustStruct(t, map[string]any{"NAMESPACE": "default", "LABELS": map[string]any{"app": "reviews"}})
	flags := &accesslogv3.ResponseFlags{
		FailedLocalHealthcheck: true, UpstreamOverflow: true, RateLimited: true,
		UnauthorizedDetails:   &accesslogv3.ResponseFlags_Unauthorized{Reason: accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE},
		DownstreamRemoteReset: true,
	}
	return &alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{
			Node: &corev3.Node{
				Id: "sidecar~10.0.0.1~reviews-v1-abc.default~default.svc.cluster.local", Cluster: "reviews.default",
				Metadata: md, Locality: &corev3.Locality{Region: "eu"}, UserAgentName: "envoy",
				UserAgentVersionType: &corev3.Node_UserAgentBuildVersion{UserAgentBuildVersion: &corev3.BuildVersion{}},
			},
			LogName: "http_envoy_accesslog",
		},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: []*accesslogv3.HTTPAccessLogEntry{{
				CommonProperties: &accesslogv3.AccessLogCommon{
					SampleRate:              0.5,
					DownstreamRemoteAddress: sock("10.0.0.2", 40000),
					DownstreamLocalAddress: &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{
						Path: "/var/run/sock", Mode: 0o600,
					}}},
					DownstreamDirectRemoteAddress: &corev3.Address{Address: &corev3.Address_EnvoyInternalAddress{
						EnvoyInternalAddress: &corev3.EnvoyInternalAddress{
							AddressNameSpecifier: &corev3.EnvoyInternalAddress_ServerListenerName{ServerListenerName: "internal_listener"},
							EndpointId:           "ep",
						},
					}},
					UpstreamRemoteAddress: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
						Address: "svc", PortSpecifier: &corev3.SocketAddress_NamedPort{NamedPort: "http"},
					}}},
					UpstreamLocalAddress: sock("::1", 5),
					TlsProperties: &accesslogv3.TLSProperties{
						TlsVersion:     accesslogv3.TLSProperties_TLSv1_3,
						TlsCipherSuite: wrapperspb.UInt32(0x1301),
						TlsSniHostname: "outbound_.9080_._.reviews.default.svc.cluster.local",
						LocalCertificateProperties: &accesslogv3.TLSProperties_CertificateProperties{
							SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
								dnsSAN("a.example"), uriSAN("spiffe://cluster.local/ns/default/sa/reviews"), uriSAN("second"),
							},
							Subject: "CN=reviews",
						},
						PeerCertificateProperties: &accesslogv3.TLSProperties_CertificateProperties{
							SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
								uriSAN("spiffe://cluster.local/ns/default/sa/productpage"),
							},
							Issuer: "CN=ca",
						},
						TlsSessionId: "abcd", Ja3Fingerprint: "ja3",
					},
					StartTime:                      &timestamppb.Timestamp{Seconds: 1700000000, Nanos: 123456789},
					TimeToLastRxByte:               &durationpb.Duration{Nanos: 1000},
					TimeToFirstUpstreamTxByte:      &durationpb.Duration{Nanos: 2000},
					TimeToLastDownstreamTxByte:     &durationpb.Duration{Seconds: 1, Nanos: 5},
					UpstreamCluster:                "outbound|9080||reviews.default.svc.cluster.local",
					ResponseFlags:                  flags,
					Metadata:                       &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"istio_authn": md}},
					UpstreamTransportFailureReason: "tls handshake",
					RouteName:                      "default",
					FilterStateObjects: map[string]*anypb.Any{
						FilterStateUpstream: mustAny(t, mustStruct(t, map[string]any{
							"workload": "reviews-v1", "name": "reviews-v1-abc", "namespace": "default", "cluster": "Kubernetes",
							"service": "reviews", "revision": "v1", "app": "reviews", "version": "v1",
							"identity": "spiffe://cluster.local/ns/default/sa/reviews", "type": "deployment",
							"labels": map[string]any{"x": []any{1.0, "y", nil, true}},
						})),
						FilterStateDownstream: {TypeUrl: "type.googleapis.com/google.protobuf.BytesValue", Value: []byte{1, 2}},
						FilterStateGRPCStats:  mustAny(t, &grpcstatsv3.FilterObject{RequestMessageCount: 3, ResponseMessageCount: 4}),
						"wasm.upstream_peer":  {TypeUrl: "x", Value: []byte("flatbuffer")},
					},
					CustomTags:                       map[string]string{"k": "v"},
					Duration:                         &durationpb.Duration{Seconds: 2, Nanos: 3},
					UpstreamRequestAttemptCount:      2,
					ConnectionTerminationDetails:     "details",
					StreamId:                         "stream-1",
					IntermediateLogEntry:             true, //nolint:staticcheck // SA1019: deprecated field Envoy still writes; the decoder must read it
					DownstreamTransportFailureReason: "dtfr",
					DownstreamWireBytesSent:          1,
					DownstreamWireBytesReceived:      2,
					UpstreamWireBytesSent:            3,
					UpstreamWireBytesReceived:        4,
					AccessLogType:                    accesslogv3.AccessLogType_DownstreamEnd,
				},
				ProtocolVersion: accesslogv3.HTTPAccessLogEntry_HTTP2,
				Request: &accesslogv3.HTTPRequestProperties{
					RequestMethod: corev3.RequestMethod_POST, Scheme: "https", Authority: "reviews:9080",
					Port: wrapperspb.UInt32(9080), Path: "/reviews/0?x=1", UserAgent: "curl/8", Referer: "r",
					ForwardedFor: "10.0.0.9", RequestId: "6f1c2f3e-8a3b-4a4e-9d5c-0b6f3c2d1e0f", OriginalPath: "/o",
					RequestHeadersBytes: 300, RequestBodyBytes: 12,
					RequestHeaders: map[string]string{
						"Content-Type": "application/grpc", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
						"tracestate": "a=b", "b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
						"x-b3-traceid": "80f198ee56343ba864fe8b2a57d3eff7", "X-B3-SpanId": "e457b5a2e4d86bd1",
						"x-b3-parentspanid": "05e3ac9a4f6e3b90", "x-b3-sampled": "1", "other": "ignored",
					},
					UpstreamHeaderBytesSent: 1, DownstreamHeaderBytesReceived: 2,
				},
				Response: &accesslogv3.HTTPResponseProperties{
					ResponseCode: wrapperspb.UInt32(200), ResponseHeadersBytes: 100, ResponseBodyBytes: 5,
					ResponseHeaders:     map[string]string{"grpc-status": "0", "x": "y"},
					ResponseTrailers:    map[string]string{"Grpc-Status": "14"},
					ResponseCodeDetails: "via_upstream", UpstreamHeaderBytesReceived: 1, DownstreamHeaderBytesSent: 2,
				},
			}},
		}},
	}
}

func TestDecodeFullMessage(t *testing.T) {
	msg := fullMessage(t)
	b := mustMarshal(t, msg)
	m := decodeAndCheck(t, b)

	// Spot checks against literal values, independent of the oracle.
	assert.True(t, m.Identifier.Present)
	assert.Equal(t, "reviews.default", string(m.Identifier.Node.Cluster))
	assert.Equal(t, "http_envoy_accesslog", string(m.Identifier.LogName))
	assert.True(t, m.HTTP)
	require.Len(t, m.Entries, 1)
	e := &m.Entries[0]
	assert.False(t, e.TCP)
	assert.Equal(t, Address{Kind: AddressSocket, Host: []byte("10.0.0.2"), Port: 40000}, e.DownstreamRemote)
	assert.Equal(t, Address{Kind: AddressPipe, Host: []byte("/var/run/sock")}, e.DownstreamLocal)
	assert.Equal(t, Address{Kind: AddressInternal, Host: []byte("internal_listener")}, e.DownstreamDirectRemote)
	assert.Equal(t, Address{Kind: AddressSocket, Host: []byte("svc")}, e.UpstreamRemote)
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/reviews", string(e.LocalURISAN))
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/productpage", string(e.PeerURISAN))
	assert.Equal(t, uint32(4), e.TLSVersion)
	assert.Equal(t, int64(1700000000123456789), e.StartTime)
	assert.Equal(t, int64(1000), e.TimeToLastRxByte)
	assert.Equal(t, int64(1e9+5), e.TimeToLastDownstreamTxByte)
	assert.Equal(t, int64(2e9+3), e.Duration)
	assert.Equal(t, uint32(1<<1|1<<8|1<<12|1<<13|1<<28), e.ResponseFlags)
	require.NotNil(t, e.UpstreamPeer)
	assert.True(t, e.UpstreamPeer.Present)
	assert.Equal(t, "reviews-v1", string(e.UpstreamPeer.Workload))
	assert.Equal(t, "deployment", string(e.UpstreamPeer.Type))
	assert.Equal(t, "spiffe://cluster.local/ns/default/sa/reviews", string(e.UpstreamPeer.Identity))
	assert.Nil(t, e.DownstreamPeer)
	assert.Equal(t, uint32(1), e.FilterStateUnknownKinds)
	assert.True(t, e.HasGRPCStats)
	assert.Equal(t, [2]uint64{3, 4}, [2]uint64{e.GRPCRequestMessages, e.GRPCResponseMessages})
	assert.True(t, e.HasWireBytes)
	assert.Equal(t, uint32(6), e.AccessLogType)
	assert.Equal(t, uint32(3), e.ProtocolVersion)
	assert.Equal(t, uint32(3), e.Method)
	assert.Equal(t, "application/grpc", string(e.ContentType))
	assert.Equal(t, "e457b5a2e4d86bd1", string(e.B3SpanID))
	assert.Equal(t, "1", string(e.B3Sampled))
	assert.True(t, e.HasResponseCode)
	assert.Equal(t, uint32(200), e.ResponseCode)
	assert.Equal(t, "0", string(e.GRPCStatusHeader))
	assert.Equal(t, "14", string(e.GRPCStatusTrailer))

	// Node metadata is the raw Struct.
	var md structpb.Struct
	require.NoError(t, proto.Unmarshal(m.Identifier.Node.Metadata, &md))
	assert.True(t, proto.Equal(msg.GetIdentifier().GetNode().GetMetadata(), &md))

	// Views alias the input and cannot be appended into it.
	assert.Equal(t, 0, cap(e.Path)-len(e.Path))
}

func TestDecodeTCPMessage(t *testing.T) {
	msg := &alsv3.StreamAccessLogsMessage{
		LogEntries: &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{
			LogEntry: []*accesslogv3.TCPAccessLogEntry{
				{
					CommonProperties: &accesslogv3.AccessLogCommon{
						UpstreamCluster: "inbound|3306||", AccessLogType: accesslogv3.AccessLogType_TcpConnectionEnd,
						DownstreamWireBytesReceived: 10,
					},
					ConnectionProperties: &accesslogv3.ConnectionProperties{ReceivedBytes: 100, SentBytes: 200},
				},
				{},
			},
		}},
	}
	m := decodeAndCheck(t, mustMarshal(t, msg))
	assert.False(t, m.HTTP)
	assert.False(t, m.Identifier.Present)
	require.Len(t, m.Entries, 2)
	assert.True(t, m.Entries[0].TCP)
	assert.Equal(t, uint64(100), m.Entries[0].TCPReceivedBytes)
	assert.Equal(t, uint64(200), m.Entries[0].TCPSentBytes)
	assert.Equal(t, Entry{TCP: true}, m.Entries[1])
}

func TestDecodeEmpty(t *testing.T) {
	m := decodeAndCheck(t, nil)
	assert.Equal(t, Identifier{}, m.Identifier)
	assert.Empty(t, m.Entries)
	assert.False(t, m.HTTP)

	m = decodeAndCheck(t, httpMsg())
	assert.True(t, m.HTTP)
	assert.Empty(t, m.Entries)
}

// TestProtoSemantics checks hand-made encodings that exercise protobuf's
// merge, oneof, map and unknown-field rules: each is checked against
// proto.Unmarshal (through the oracle) and against literal expectations.
func TestProtoSemantics(t *testing.T) {
	for _, tc := range semanticCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := decodeAndCheck(t, tc.wire)
			tc.check(t, m)
		})
	}
}

// semanticCase is a hand-made encoding and checks of its view.
type semanticCase struct {
	name  string
	wire  []byte
	check func(t *testing.T, m *Message)
}

// semanticCases are the cases of TestProtoSemantics (also fuzz seeds).
func semanticCases() []semanticCase {
	structAny := func(fields ...[]byte) []byte {
		return cat(strField(1, "type.googleapis.com/google.protobuf.Struct"), msgField(2, fields...))
	}
	structEntry := func(key string, value ...[]byte) []byte {
		return msgField(1, strField(1, key), msgField(2, value...))
	}
	filterState := func(key string, anyFields ...[]byte) []byte {
		return msgField(21, strField(1, key), msgField(2, anyFields...))
	}
	header := func(field protowire.Number, k, v string) []byte {
		return msgField(field, strField(1, k), strField(2, v))
	}
	// Struct values.
	strVal := func(s string) []byte { return strField(3, s) }
	numVal := func(f uint64) []byte { return fixed64Field(2, f) }

	return []semanticCase{
		{
			name: "common_properties twice merges",
			wire: httpMsg(cat(
				common(strField(15, "a"), strField(19, "route")),
				common(strField(15, "b"), varintField(24, 3)),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, "b", string(e.UpstreamCluster))
				assert.Equal(t, "route", string(e.RouteName))
				assert.Equal(t, uint32(3), e.UpstreamRequestAttemptCount)
			},
		},
		{
			name: "request and response twice merge",
			wire: httpMsg(cat(
				msgField(3, strField(5, "/a"), header(13, "traceparent", "t1"), varintField(1, 1)),
				msgField(3, strField(3, "host"), header(13, "x-b3-sampled", "0")),
				msgField(4, msgField(1, varintField(1, 503))),
				msgField(4, msgField(1), strField(6, "details")),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, "/a", string(e.Path))
				assert.Equal(t, "host", string(e.Authority))
				assert.Equal(t, "t1", string(e.Traceparent))
				assert.Equal(t, "0", string(e.B3Sampled))
				assert.Equal(t, uint32(1), e.Method)
				assert.True(t, e.HasResponseCode)
				assert.Equal(t, uint32(503), e.ResponseCode)
				assert.Equal(t, "details", string(e.ResponseCodeDetails))
			},
		},
		{
			name: "http_logs twice appends",
			wire: cat(httpMsg(common(strField(15, "1"))), httpMsg(common(strField(15, "2")), nil)),
			check: func(t *testing.T, m *Message) {
				require.Len(t, m.Entries, 3)
				assert.True(t, m.HTTP)
				assert.Equal(t, "2", string(m.Entries[1].UpstreamCluster))
				assert.Equal(t, Entry{}, m.Entries[2])
			},
		},
		{
			name: "tcp_logs after http_logs replaces the oneof",
			wire: cat(httpMsg(common(strField(15, "h"))), msgField(3, msgField(1, common(strField(15, "t"))))),
			check: func(t *testing.T, m *Message) {
				require.Len(t, m.Entries, 1)
				assert.False(t, m.HTTP)
				assert.True(t, m.Entries[0].TCP)
				assert.Equal(t, "t", string(m.Entries[0].UpstreamCluster))
			},
		},
		{
			name: "http_logs after tcp_logs replaces the oneof",
			wire: cat(msgField(3, msgField(1), msgField(1)), httpMsg(common(strField(15, "h")))),
			check: func(t *testing.T, m *Message) {
				require.Len(t, m.Entries, 1)
				assert.True(t, m.HTTP)
				assert.False(t, m.Entries[0].TCP)
			},
		},
		{
			name: "known fields with the wrong wire type are unknown",
			wire: cat(
				varintField(1, 5), // identifier as varint
				varintField(2, 5), // http_logs as varint: does not set the oneof
				msgField(3, msgField(1)),
				fixed32Field(3, 1), // tcp_logs as fixed32
				msgField(3, msgField(1,
					fixed64Field(1, 1), // common_properties as fixed64
					msgField(1, varintField(15, 1), msgField(24, []byte("x")), msgField(27), fixed64Field(2, 9),
						groupField(5, varintField(1, 1)), fixed32Field(16, 1), varintField(21, 1), varintField(26, 1)),
					varintField(2, 7),
				)),
			),
			check: func(t *testing.T, m *Message) {
				assert.False(t, m.Identifier.Present)
				assert.False(t, m.HTTP)
				require.Len(t, m.Entries, 2)
				assert.Equal(t, Entry{TCP: true}, m.Entries[0])
				assert.Equal(t, Entry{TCP: true, HasCommon: true}, m.Entries[1])
			},
		},
		{
			name: "unknown fields everywhere",
			wire: cat(unknowns(),
				msgField(1, unknowns(), msgField(1, unknowns(), strField(1, "id"), unknowns()), unknowns()),
				httpMsg(cat(unknowns(),
					common(unknowns(),
						msgField(2, unknowns(), msgField(1, unknowns(), strField(2, "h"), unknowns(), varintField(3, 80))),
						msgField(3, msgField(2, unknowns(), strField(1, "/p"))),
						msgField(4, unknowns(), msgField(5, unknowns(), msgField(1, unknowns(), strField(1, "u"))), strField(3, "sni")),
						msgField(5, unknowns(), varintField(1, 2)),
						msgField(16, unknowns(), varintField(3, 1), msgField(13, unknowns(), varintField(1, 1))),
						msgField(21, unknowns(), strField(1, "upstream_peer"), msgField(2, unknowns(), strField(1, "google.protobuf.Struct"),
							msgField(2, unknowns(), msgField(1, unknowns(), strField(1, "app"), msgField(2, unknowns(), strVal("a")))))),
						unknowns()),
					msgField(3, unknowns(), header(13, "b3", "1"), unknowns()),
					msgField(4, unknowns(), msgField(1, unknowns(), varintField(1, 7)), msgField(5, unknowns(), strField(1, "grpc-status"), unknowns(), strField(2, "2"))),
					unknowns())),
				unknowns()),
			check: func(t *testing.T, m *Message) {
				assert.Equal(t, "id", string(m.Identifier.Node.ID))
				e := m.Entries[0]
				assert.Equal(t, Address{Kind: AddressSocket, Host: []byte("h"), Port: 80}, e.DownstreamRemote)
				assert.Equal(t, "/p", string(e.DownstreamLocal.Host))
				assert.Equal(t, "u", string(e.PeerURISAN))
				assert.Equal(t, int64(2e9), e.StartTime)
				assert.Equal(t, uint32(1<<3|1<<13), e.ResponseFlags)
				require.NotNil(t, e.UpstreamPeer)
				assert.Equal(t, "a", string(e.UpstreamPeer.App))
				assert.Equal(t, "1", string(e.B3))
				assert.Equal(t, uint32(7), e.ResponseCode)
				assert.Equal(t, "2", string(e.GRPCStatusTrailer))
			},
		},
		{
			name: "address oneof merge and replace",
			wire: httpMsg(common(
				// socket then socket merges
				msgField(2, msgField(1, strField(2, "a"), varintField(3, 1))),
				msgField(2, msgField(1, varintField(3, 2))),
				// socket then pipe replaces
				msgField(3, msgField(1, strField(2, "a"), varintField(3, 1)), msgField(2, varintField(2, 0o600))),
				// pipe then socket replaces: the host is gone
				msgField(13, msgField(2, strField(1, "/p")), msgField(1, varintField(3, 9))),
				// port_value then named_port: port 0
				msgField(14, msgField(1, varintField(3, 9), strField(4, "http"))),
				// internal, merged twice
				msgField(20, msgField(3, strField(1, "l1"), strField(2, "ep")), msgField(3, strField(2, "ep2"))),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, Address{Kind: AddressSocket, Host: []byte("a"), Port: 2}, e.DownstreamRemote)
				assert.Equal(t, Address{Kind: AddressPipe}, e.DownstreamLocal)
				assert.Equal(t, Address{Kind: AddressSocket, Port: 9}, e.UpstreamRemote)
				assert.Equal(t, Address{Kind: AddressSocket}, e.UpstreamLocal)
				assert.Equal(t, Address{Kind: AddressInternal, Host: []byte("l1")}, e.DownstreamDirectRemote)
			},
		},
		{
			name: "timestamps and durations merge field by field",
			wire: httpMsg(common(
				msgField(5, varintField(1, 5)), msgField(5, varintField(2, 7)),
				msgField(23, varintField(1, 1), varintField(2, 9)), msgField(23, varintField(2, 0)),
				msgField(6), // present but zero
				msgField(12, varintField(1, uint64(1<<64-1)), varintField(2, uint64(1<<64-1))), // -1s -1ns
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, int64(5e9+7), e.StartTime)
				assert.Equal(t, int64(1e9), e.Duration)
				assert.True(t, e.HasTimeToLastRxByte)
				assert.Equal(t, int64(0), e.TimeToLastRxByte)
				assert.Equal(t, int64(-1e9-1), e.TimeToLastDownstreamTxByte)
			},
		},
		{
			name: "response flags last wins",
			wire: httpMsg(common(
				msgField(16, varintField(1, 1), varintField(2, 1), varintField(28, 2), msgField(13, varintField(1, 1))),
				msgField(16, varintField(2, 0), msgField(13)),
				msgField(16, varintField(29, 1)), // unknown flag
			)),
			check: func(t *testing.T, m *Message) {
				assert.Equal(t, uint32(1<<1|1<<28|1<<13), m.Entries[0].ResponseFlags)
			},
		},
		{
			name: "unauthorized reason other than EXTERNAL_SERVICE",
			wire: httpMsg(common(msgField(16, msgField(13, varintField(1, 1))), msgField(16, msgField(13, varintField(1, 2))))),
			check: func(t *testing.T, m *Message) {
				assert.Equal(t, uint32(0), m.Entries[0].ResponseFlags)
			},
		},
		{
			name: "first URI SAN",
			wire: httpMsg(common(
				msgField(4,
					// local: uri then dns in one SAN (dns wins), then an
					// empty uri, then another uri.
					msgField(4, msgField(1, strField(1, "x"), strField(2, "d")), msgField(1, strField(1, "")), msgField(1, strField(1, "y"))),
					// peer: dns SAN, then a SAN with uri twice (last wins).
					msgField(5, msgField(1, strField(2, "d")), msgField(1, strField(1, "p1"), strField(1, "p2"))),
				),
				// merged certificate properties append SANs: the first stays.
				msgField(4, msgField(5, msgField(1, strField(1, "later"))), varintField(1, 3)),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.True(t, e.HasTLS)
				assert.Empty(t, e.LocalURISAN)
				assert.Equal(t, "p2", string(e.PeerURISAN))
				assert.Equal(t, uint32(3), e.TLSVersion)
			},
		},
		{
			name: "filter state map: duplicate keys, merged Any, bad payloads",
			wire: httpMsg(common(
				// upstream: a Struct, then replaced by bytes: unknown
				filterState(FilterStateUpstream, structAny(structEntry("app", strVal("a")))),
				filterState(FilterStateUpstream, strField(1, "type.googleapis.com/google.protobuf.BytesValue")),
				// downstream: bytes, then replaced by a Struct whose Any
				// is split over two value fields, with a duplicate key and
				// a value whose kind changes.
				filterState(FilterStateDownstream, strField(2, "fb")),
				msgField(21, strField(1, FilterStateDownstream),
					msgField(2, strField(1, "type.googleapis.com/google.protobuf.Struct")),
					msgField(2, msgField(2,
						structEntry("name", strVal("n1")), structEntry("name", strVal("n2")),
						structEntry("app", strVal("a"), numVal(0)),
						structEntry("version", numVal(0), strVal("v")),
						structEntry("cluster", strVal("c1")), msgField(1, strField(1, "cluster"), msgField(2, strVal("c2")), msgField(2)),
						structEntry("namespace"), // no kind
						structEntry("service", msgField(5, structEntry("k", msgField(6, msgField(1, strVal("x")))))),
						msgField(1, msgField(2, strVal("no key"))),
						structEntry("labels", msgField(6)),
					))),
				// grpc stats: valid, then with a bad type
				filterState(FilterStateGRPCStats, strField(1, "type.googleapis.com/"+typeGRPCStatsObject), msgField(2, varintField(1, 5), varintField(2, 6))),
				filterState("other", strField(1, "junk")),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Nil(t, e.UpstreamPeer)
				require.NotNil(t, e.DownstreamPeer)
				peer := *e.DownstreamPeer
				assert.NotEmpty(t, peer.Raw, "the encoded Struct is kept for caching")
				assert.NotZero(t, peer.Memo, "a parsed peer is memoised for the message")
				peer.Raw, peer.Memo = nil, 0
				assert.Equal(t, Peer{Present: true, Name: []byte("n2"), Version: []byte("v"), Cluster: []byte("c2")}, peer)
				assert.Equal(t, uint32(1), e.FilterStateUnknownKinds)
				assert.True(t, e.HasGRPCStats)
				assert.Equal(t, uint64(5), e.GRPCRequestMessages)
				assert.Equal(t, uint64(6), e.GRPCResponseMessages)
			},
		},
		{
			name: "filter state: malformed Struct and grpc stats are not errors",
			wire: httpMsg(common(
				filterState(FilterStateUpstream, structAny(structEntry("app", msgField(5, []byte{0x80})))),
				filterState(FilterStateDownstream, strField(1, "google.protobuf.Struct"), strField(2, "\x0a\x05")),
				filterState(FilterStateGRPCStats, strField(1, typeGRPCStatsObject), strField(2, "\x08")),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Nil(t, e.UpstreamPeer)
				assert.Nil(t, e.DownstreamPeer)
				assert.Equal(t, uint32(2), e.FilterStateUnknownKinds)
				assert.False(t, e.HasGRPCStats)
			},
		},
		{
			name: "filter state: type URLs",
			wire: httpMsg(common(
				filterState(FilterStateUpstream, strField(1, "xgoogle.protobuf.Struct")),
				filterState(FilterStateDownstream, strField(1, "a/b/google.protobuf.Struct")),
				filterState(FilterStateGRPCStats, strField(1, "foo."+typeGRPCStatsObject)),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Nil(t, e.UpstreamPeer)
				require.NotNil(t, e.DownstreamPeer)
				assert.True(t, e.DownstreamPeer.Present)
				assert.Equal(t, uint32(1), e.FilterStateUnknownKinds)
				assert.False(t, e.HasGRPCStats)
			},
		},
		{
			name: "map entries without key or value",
			wire: httpMsg(cat(
				common(msgField(21, strField(1, FilterStateUpstream)), msgField(21)),
				msgField(3, msgField(13, strField(1, "traceparent")), msgField(13, strField(2, "v"))),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Nil(t, e.UpstreamPeer)
				assert.Equal(t, uint32(1), e.FilterStateUnknownKinds)
			},
		},
		{
			name: "headers: case-insensitive, last wins",
			wire: httpMsg(cat(
				msgField(3, header(13, "traceparent", "1"), header(13, "traceparent", "2"),
					msgField(13, strField(1, "b3"), strField(2, "x"), strField(2, "y")),
					header(13, "X-B3-PARENTSPANID", "p"), header(13, "tracestate", "s"), header(13, "x-b3-traceid", "t"),
					header(13, "content-typ", "no"), header(13, "grpc-status", "no")),
				msgField(4, header(4, "GRPC-STATUS", "1"), header(4, "grpc-status", "2"), header(5, "traceparent", "no")),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, "2", string(e.Traceparent))
				assert.Equal(t, "y", string(e.B3))
				assert.Equal(t, "p", string(e.B3ParentSpanID))
				assert.Equal(t, "s", string(e.Tracestate))
				assert.Equal(t, "t", string(e.B3TraceID))
				assert.Empty(t, e.ContentType)
				assert.Empty(t, e.GRPCStatusTrailer)
				// "GRPC-STATUS" and "grpc-status" are different map keys;
				// the decoder keeps the last on the wire.
				assert.Equal(t, "2", string(e.GRPCStatusHeader))
			},
		},
		{
			name: "response code wrapper with value zero",
			wire: httpMsg(msgField(4, msgField(1))),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.True(t, e.HasResponse)
				assert.True(t, e.HasResponseCode)
				assert.Equal(t, uint32(0), e.ResponseCode)
				assert.False(t, e.HasRequest)
			},
		},
		{
			name: "scalars: last wins, truncation to 32 bits, zero wire bytes",
			wire: httpMsg(cat(
				varintField(2, 1), varintField(2, 1<<32+3),
				common(varintField(24, 1<<33+2), varintField(27, 1), varintField(27, 0), varintField(33, 1<<40+5),
					varintField(29, 0), varintField(30, 0)),
			)),
			check: func(t *testing.T, m *Message) {
				e := m.Entries[0]
				assert.Equal(t, uint32(3), e.ProtocolVersion)
				assert.Equal(t, uint32(2), e.UpstreamRequestAttemptCount)
				assert.False(t, e.IntermediateLogEntry)
				assert.Equal(t, uint32(5), e.AccessLogType)
				assert.False(t, e.HasWireBytes) // proto3: zero is absent
			},
		},
		{
			name: "identifier twice merges; node metadata twice is merged",
			wire: cat(
				msgField(1, msgField(1, strField(1, "a"), msgField(3, msgField(1, strField(1, "K1"), msgField(2, strVal("1"))))), strField(2, "log")),
				msgField(1, msgField(1, strField(2, "c"), strField(5, "1.17.0"), msgField(3, msgField(1, strField(1, "K2"), msgField(2, strVal("2")))))),
				msgField(1, msgField(1, msgField(3, msgField(1, strField(1, "K1"), msgField(2, strVal("3")))), varintField(5, 1))),
			),
			check: func(t *testing.T, m *Message) {
				id := m.Identifier
				assert.True(t, id.Present)
				assert.Equal(t, "a", string(id.Node.ID))
				assert.Equal(t, "c", string(id.Node.Cluster))
				assert.Equal(t, "log", string(id.LogName))
				assert.Equal(t, "1.17.0", string(id.Node.BuildVersion))
				var s structpb.Struct
				require.NoError(t, proto.Unmarshal(id.Node.Metadata, &s))
				assert.Equal(t, map[string]any{"K1": "3", "K2": "2"}, s.AsMap())
			},
		},
		{
			name: "non-minimal varints and long tags",
			wire: []byte{
				0x92, 0x80, 0x80, 0x00, // field 2, bytes, tag in 4 bytes
				0x85, 0x80, 0x00, // length 5 in 3 bytes
				0x0a, 0x03, // log_entry, 3 bytes:
				0x10, 0x83, 0x00, // protocol_version 3 in 2 bytes
			},
			check: func(t *testing.T, m *Message) {
				require.Len(t, m.Entries, 1)
				assert.Equal(t, uint32(3), m.Entries[0].ProtocolVersion)
			},
		},
		{
			name: "groups with large inner field numbers and deep nesting",
			wire: cat(
				groupField(7, varintField(1<<29, 1), varintField(1<<31-1, 2)),
				nestedGroups(9, 10001), // the most protowire accepts
				httpMsg(nil),
			),
			check: func(t *testing.T, m *Message) {
				assert.True(t, m.HTTP)
			},
		},
	}
}

// nestedGroups returns depth groups of field num nested in each other.
func nestedGroups(num protowire.Number, depth int) []byte {
	var b []byte
	for i := 0; i < depth; i++ {
		b = protowire.AppendTag(b, num, protowire.StartGroupType)
	}
	for i := 0; i < depth; i++ {
		b = protowire.AppendTag(b, num, protowire.EndGroupType)
	}
	return b
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases() {
		t.Run(tc.name, func(t *testing.T) {
			checkDecodeError(t, tc.wire, tc.want, tc.context)
		})
	}
}

// errorCase is a malformed encoding, the error it must produce and a part
// of the error message.
type errorCase struct {
	name    string
	wire    []byte
	want    error
	context string
}

// errorCases are the cases of TestDecodeErrors (also fuzz seeds).
func errorCases() []errorCase {
	bigTag := protowire.AppendVarint(nil, uint64(maxFieldNumber+1)<<3|2)
	return []errorCase{
		{"truncated tag", []byte{0x80}, ErrTruncated, ""},
		{"truncated varint", []byte{0x28, 0x80}, ErrTruncated, ""},
		{"truncated fixed64", []byte{0x29, 1, 2, 3}, ErrTruncated, ""},
		{"truncated fixed32", []byte{0x2d, 1, 2, 3}, ErrTruncated, ""},
		{"truncated length", []byte{0x0a}, ErrTruncated, "field 1: wire:"},
		{"length beyond buffer", []byte{0x0a, 0x05, 'a'}, ErrLength, "field 1: wire:"},
		{"unknown length beyond buffer", []byte{0x2a, 0x05, 'a'}, ErrLength, ""},
		{"huge length", cat([]byte{0x12}, protowire.AppendVarint(nil, 1<<64-1)), ErrLength, "field 2: wire:"},
		{"negative length as int", cat([]byte{0x12}, protowire.AppendVarint(nil, 1<<63)), ErrLength, "field 2: wire:"},
		{"varint tenth byte", []byte{0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, ErrVarintOverflow, ""},
		{"varint eleven bytes", []byte{0x28, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x00}, ErrVarintOverflow, ""},
		{"tag overflow", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, ErrVarintOverflow, ""},
		{"field number zero", []byte{0x02, 0x00}, ErrFieldNumber, ""},
		{"field number zero varint", []byte{0x00}, ErrFieldNumber, ""},
		{"field number too large", cat(bigTag, []byte{0}), ErrFieldNumber, ""},
		{"tag beyond int32", protowire.AppendVarint(nil, 1<<40), ErrFieldNumber, ""},
		{"wire type 6", []byte{0x0e}, ErrWireType, ""},
		{"wire type 7", []byte{0x3f}, ErrWireType, ""},
		{"end group at top level", []byte{0x0c}, ErrGroup, ""},
		{"end group in a message", httpMsg([]byte{0x0c}), ErrGroup, "decode log_entry[0]"},
		{"unterminated group", []byte{0x0b}, ErrGroup, ""},
		{"unterminated known-number group", []byte{0x13, 0x08, 0x01}, ErrGroup, ""},
		{"mismatched end group", []byte{0x0b, 0x14}, ErrGroup, ""},
		{"group with reserved wire type", []byte{0x0b, 0x0e, 0x0c}, ErrWireType, ""},
		{"group with field number zero", []byte{0x0b, 0x00, 0x0c}, ErrFieldNumber, ""},
		{"group with truncated value", []byte{0x0b, 0x08}, ErrTruncated, ""},
		{"group with bad length", []byte{0x0b, 0x0a, 0x05, 0x00, 0x0c}, ErrLength, ""},
		{"groups nested too deeply", nestedGroups(9, 10002), ErrDepth, ""},
		{"truncated sub-message in group", groupField(1, []byte{0x0a, 0x05}), ErrLength, ""},
	}
}

// checkDecodeError checks that b fails to decode with want (and with
// ErrMalformed), that the message contains context, and that proto.Unmarshal
// rejects b too.
func checkDecodeError(t *testing.T, b []byte, want error, context string) {
	t.Helper()
	m := dirtyMessage(t)
	err := DecodeAccessLogs(b, m)
	require.Error(t, err)
	require.ErrorIs(t, err, want)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), context)
	var pm alsv3.StreamAccessLogsMessage
	require.Error(t, proto.Unmarshal(b, &pm), "proto.Unmarshal accepts what the decoder rejects")
	// The message can be reused after an error.
	require.NoError(t, DecodeAccessLogs(httpMsg(), m))
	assert.Empty(t, m.Entries)
}

// TestDecodeNestedErrors puts a truncated varint (a field-1 varint tag with
// no value) at the bottom of every sub-message the decoder reads, and checks
// the error and its context.
func TestDecodeNestedErrors(t *testing.T) {
	bad := []byte{0x08}
	entry := func(parts ...[]byte) []byte { return httpMsg(cat(parts...)) }
	cp := func(parts ...[]byte) []byte { return entry(common(parts...)) }
	tests := []struct {
		name    string
		wire    []byte
		context string
	}{
		{"identifier", msgField(1, bad), "decode identifier: field 1: wire:"},
		{"node", msgField(1, msgField(1, bad)), "decode identifier: decode node: field 1: wire:"},
		{"http_logs", msgField(2, bad), "decode http_logs: field 1: wire:"},
		{"tcp_logs", msgField(3, bad), "decode tcp_logs: field 1: wire:"},
		{"http entry", httpMsg(bad), "decode http_logs: decode log_entry[0]: field 1: wire:"},
		{"second entry", httpMsg(nil, bad), "decode log_entry[1]: field 1: wire:"},
		{"tcp entry", msgField(3, msgField(1, bad)), "decode tcp_logs: decode log_entry[0]: field 1: wire:"},
		{"tcp common", msgField(3, msgField(1, common(bad))), "decode tcp_logs: decode log_entry[0]: decode common_properties: field 1: wire:"},
		{"connection_properties", msgField(3, msgField(1, msgField(2, bad))), "decode connection_properties: field 1: wire:"},
		{"common_properties", cp(bad), "decode http_logs: decode log_entry[0]: decode common_properties: field 1: wire:"},
		{"socket_address", cp(msgField(2, msgField(1, bad))), "decode common_properties: decode downstream_remote_address: decode socket_address: field 1: wire:"},
		{"pipe", cp(msgField(3, msgField(2, bad))), "decode downstream_local_address: decode pipe: field 1: wire:"},
		{"envoy_internal_address", cp(msgField(20, msgField(3, bad))), "decode downstream_direct_remote_address: decode envoy_internal_address: field 1: wire:"},
		{"address", cp(msgField(13, bad)), "decode upstream_remote_address: field 1: wire:"},
		{"upstream_local_address", cp(msgField(14, msgField(1, bad))), "decode upstream_local_address: decode socket_address:"},
		{"tls_properties", cp(msgField(4, bad)), "decode tls_properties: field 1: wire:"},
		{"local_certificate_properties", cp(msgField(4, msgField(4, bad))), "decode tls_properties: decode local_certificate_properties: field 1: wire:"},
		{"subject_alt_name", cp(msgField(4, msgField(5, msgField(1, bad)))), "decode peer_certificate_properties: decode subject_alt_name: field 1: wire:"},
		{"start_time", cp(msgField(5, bad)), "decode start_time: field 1: wire:"},
		{"time_to_last_rx_byte", cp(msgField(6, bad)), "decode time_to_last_rx_byte: field 1: wire:"},
		{"time_to_last_downstream_tx_byte", cp(msgField(12, bad)), "decode time_to_last_downstream_tx_byte: field 1: wire:"},
		{"duration", cp(msgField(23, bad)), "decode duration: field 1: wire:"},
		{"response_flags", cp(msgField(16, bad)), "decode response_flags: field 1: wire:"},
		{"unauthorized_details", cp(msgField(16, msgField(13, bad))), "decode response_flags: decode unauthorized_details: field 1: wire:"},
		{"filter_state_objects", cp(msgField(21, bad)), "decode filter_state_objects: field 1: wire:"},
		{"filter state Any", cp(msgField(21, msgField(2, bad))), "decode filter_state_objects: decode value: field 1: wire:"},
		{"request", entry(msgField(3, bad)), "decode log_entry[0]: decode request: field 1: wire:"},
		{"request_headers", entry(msgField(3, msgField(13, bad))), "decode request: decode request_headers: field 1: wire:"},
		{"response", entry(msgField(4, bad)), "decode log_entry[0]: decode response: field 1: wire:"},
		{"response_code", entry(msgField(4, msgField(1, bad))), "decode response: decode response_code: field 1: wire:"},
		{"response_headers", entry(msgField(4, msgField(4, bad))), "decode response: decode response_headers: field 1: wire:"},
		{"response_trailers", entry(msgField(4, msgField(5, bad))), "decode response: decode response_trailers: field 1: wire:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkDecodeError(t, tc.wire, ErrTruncated, tc.context)
		})
	}

	// A bad length prefix for each length-delimited field the decoder reads.
	lengthPaths := []struct {
		name    string
		prefix  func([]byte) []byte
		fields  []protowire.Number
		context string
	}{
		{"identifier", func(b []byte) []byte { return msgField(1, b) }, []protowire.Number{1, 2}, "decode identifier"},
		{"node", func(b []byte) []byte { return msgField(1, msgField(1, b)) }, []protowire.Number{1, 2, 3, 5}, "decode node"},
		{"entries", func(b []byte) []byte { return msgField(2, b) }, []protowire.Number{1}, "decode http_logs"},
		{"tcp entry", func(b []byte) []byte { return msgField(3, msgField(1, b)) }, []protowire.Number{1, 2}, "decode log_entry[0]"},
		{"http entry", func(b []byte) []byte { return httpMsg(b) }, []protowire.Number{1, 3, 4}, "decode log_entry[0]"},
		{"common", func(b []byte) []byte { return cp(b) }, []protowire.Number{2, 3, 4, 5, 6, 12, 13, 14, 15, 16, 18, 19, 20, 21, 23, 26}, "decode common_properties"},
		{"address", func(b []byte) []byte { return cp(msgField(2, b)) }, []protowire.Number{1, 2, 3}, "decode downstream_remote_address"},
		{"socket", func(b []byte) []byte { return cp(msgField(2, msgField(1, b))) }, []protowire.Number{2, 4}, "decode socket_address"},
		{"pipe", func(b []byte) []byte { return cp(msgField(2, msgField(2, b))) }, []protowire.Number{1}, "decode pipe"},
		{"tls", func(b []byte) []byte { return cp(msgField(4, b)) }, []protowire.Number{3, 4, 5}, "decode tls_properties"},
		{"cert", func(b []byte) []byte { return cp(msgField(4, msgField(4, b))) }, []protowire.Number{1}, "decode local_certificate_properties"},
		{"san", func(b []byte) []byte { return cp(msgField(4, msgField(4, msgField(1, b)))) }, []protowire.Number{1, 2}, "decode subject_alt_name"},
		{"flags", func(b []byte) []byte { return cp(msgField(16, b)) }, []protowire.Number{13}, "decode response_flags"},
		{"filter state", func(b []byte) []byte { return cp(msgField(21, b)) }, []protowire.Number{1, 2}, "decode filter_state_objects"},
		{"any", func(b []byte) []byte { return cp(msgField(21, msgField(2, b))) }, []protowire.Number{1, 2}, "decode value"},
		{"request", func(b []byte) []byte { return entry(msgField(3, b)) }, []protowire.Number{2, 3, 5, 6, 8, 9, 13}, "decode request"},
		{"request header", func(b []byte) []byte { return entry(msgField(3, msgField(13, b))) }, []protowire.Number{1, 2}, "decode request_headers"},
		{"response", func(b []byte) []byte { return entry(msgField(4, b)) }, []protowire.Number{1, 4, 5, 6}, "decode response"},
		{"response header", func(b []byte) []byte { return entry(msgField(4, msgField(4, b))) }, []protowire.Number{1, 2}, "decode response_headers"},
	}
	for _, p := range lengthPaths {
		for _, f := range p.fields {
			b := p.prefix(cat(protowire.AppendTag(nil, f, protowire.BytesType), []byte{0x7f}))
			t.Run(fmt.Sprintf("length/%s/%d", p.name, f), func(t *testing.T) {
				checkDecodeError(t, b, ErrLength, p.context)
			})
		}
	}

	// A truncated varint for each varint field the decoder reads.
	varintPaths := []struct {
		name   string
		prefix func([]byte) []byte
		fields []protowire.Number
	}{
		{"http entry", func(b []byte) []byte { return httpMsg(b) }, []protowire.Number{2}},
		{"connection", func(b []byte) []byte { return msgField(3, msgField(1, msgField(2, b))) }, []protowire.Number{1, 2}},
		{"common", func(b []byte) []byte { return cp(b) }, []protowire.Number{24, 27, 29, 30, 31, 32, 33}},
		{"socket", func(b []byte) []byte { return cp(msgField(2, msgField(1, b))) }, []protowire.Number{3}},
		{"timestamp", func(b []byte) []byte { return cp(msgField(5, b)) }, []protowire.Number{1, 2}},
		{"tls", func(b []byte) []byte { return cp(msgField(4, b)) }, []protowire.Number{1}},
		{"flags", func(b []byte) []byte { return cp(msgField(16, b)) }, []protowire.Number{1, 12, 14, 28}},
		{"unauthorized", func(b []byte) []byte { return cp(msgField(16, msgField(13, b))) }, []protowire.Number{1}},
		{"request", func(b []byte) []byte { return entry(msgField(3, b)) }, []protowire.Number{1, 11, 12}},
		{"response", func(b []byte) []byte { return entry(msgField(4, b)) }, []protowire.Number{2, 3}},
		{"response code", func(b []byte) []byte { return entry(msgField(4, msgField(1, b))) }, []protowire.Number{1}},
	}
	for _, p := range varintPaths {
		for _, f := range p.fields {
			b := p.prefix(cat(protowire.AppendTag(nil, f, protowire.VarintType), []byte{0x80}))
			t.Run(fmt.Sprintf("varint/%s/%d", p.name, f), func(t *testing.T) {
				checkDecodeError(t, b, ErrTruncated, "")
			})
		}
	}
}

// TestTruncations decodes every prefix of a full message: each must either
// fail like proto.Unmarshal or, where it happens to be a valid message,
// agree with it.
func TestTruncations(t *testing.T) {
	b := mustMarshal(t, fullMessage(t))
	var m Message
	for n := 0; n < len(b); n++ {
		prefix := b[:n]
		err := DecodeAccessLogs(prefix, &m)
		var pm alsv3.StreamAccessLogsMessage
		perr := proto.Unmarshal(prefix, &pm)
		if err != nil {
			require.Error(t, perr, "prefix %d: decoder: %v", n, err)
			require.ErrorIs(t, err, ErrMalformed)
			continue
		}
		if perr == nil {
			x := expectFromProto(&pm)
			if d := diffViews(&m, &x); len(d) > 0 {
				t.Fatalf("prefix %d: %s", n, strings.Join(d, "\n"))
			}
		}
	}
}

func TestReuseResetsEntries(t *testing.T) {
	m := dirtyMessage(t)
	first := &m.Entries[0]
	require.NoError(t, DecodeAccessLogs(httpMsg(nil, common(strField(15, "c"))), m))
	require.Len(t, m.Entries, 2)
	assert.Same(t, first, &m.Entries[0], "backing array reused")
	assert.Equal(t, Entry{}, m.Entries[0])
	assert.Equal(t, Entry{HasCommon: true, UpstreamCluster: []byte("c")}, m.Entries[1])
	assert.Equal(t, Identifier{}, m.Identifier)
}

func TestDecodeAllocations(t *testing.T) {
	batch := mustMarshal(t, istioBatch(100))
	withID := mustMarshal(t, fullMessage(t))
	// node.metadata twice takes the scratch path.
	mergedMetadata := msgField(1, msgField(1, msgField(3, strField(1, "a")), msgField(3, strField(1, "b"))))
	for name, b := range map[string][]byte{"istio batch": batch, "full message": withID, "merged metadata": mergedMetadata} {
		t.Run(name, func(t *testing.T) {
			var m Message
			require.NoError(t, DecodeAccessLogs(b, &m))
			allocs := testing.AllocsPerRun(100, func() {
				if err := DecodeAccessLogs(b, &m); err != nil {
					t.Fatal(err)
				}
			})
			assert.Zero(t, allocs)
		})
	}
}

// sample is one real message in binary form.
type sample struct {
	name string
	msg  *alsv3.StreamAccessLogsMessage
	wire []byte
}

// loadSamples parses every real JSON sample (internal/captures) with
// protojson and encodes it.
func loadSamples(tb testing.TB) []sample {
	tb.Helper()
	sampleDir := captures.Dir(tb, "als")
	var out []sample
	add := func(pattern string, entry bool) {
		files, err := filepath.Glob(filepath.Join(sampleDir, pattern))
		require.NoError(tb, err)
		require.NotEmpty(tb, files, "no samples match %s", pattern)
		for _, f := range files {
			data, err := os.ReadFile(f)
			require.NoError(tb, err)
			msg := &alsv3.StreamAccessLogsMessage{}
			opts := protojson.UnmarshalOptions{DiscardUnknown: true}
			if entry {
				le := &accesslogv3.HTTPAccessLogEntry{}
				require.NoError(tb, opts.Unmarshal(data, le), f)
				msg.LogEntries = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
					LogEntry: []*accesslogv3.HTTPAccessLogEntry{le},
				}}
			} else {
				require.NoError(tb, opts.Unmarshal(data, msg), f)
			}
			out = append(out, sample{name: filepath.Base(f), msg: msg, wire: mustMarshal(tb, msg)})
		}
	}
	add("skywalking/clean-json/*.json", false)
	add("envoy/*.strict.json", false)
	add("envoy/unit-test-entries/strict-json/*.json", true)
	return out
}

func TestRealSamples(t *testing.T) {
	samples := loadSamples(t)
	require.Len(t, samples, 12)
	entries := 0
	for _, s := range samples {
		t.Run(s.name, func(t *testing.T) {
			m := decodeAndCheck(t, s.wire)
			entries += len(m.Entries)
			// A few direct checks against the getters.
			assert.Equal(t, s.msg.GetIdentifier().GetLogName(), string(m.Identifier.LogName))
			if hl := s.msg.GetHttpLogs(); hl != nil {
				require.Len(t, m.Entries, len(hl.GetLogEntry()))
				for i, le := range hl.GetLogEntry() {
					e := &m.Entries[i]
					assert.Equal(t, le.GetCommonProperties().GetUpstreamCluster(), string(e.UpstreamCluster))
					assert.Equal(t, le.GetRequest().GetPath(), string(e.Path))
					assert.Equal(t, le.GetResponse().GetResponseCode().GetValue(), e.ResponseCode)
					assert.Equal(t, le.GetCommonProperties().GetStartTime().AsTime().UnixNano(), e.StartTime)
				}
			}
		})
	}
	assert.Positive(t, entries)

	// The pipe sample has a pipe address and filter state of other kinds.
	for _, s := range samples {
		if strings.HasPrefix(s.name, "pipe-address") {
			var m Message
			require.NoError(t, DecodeAccessLogs(s.wire, &m))
			assert.Equal(t, Address{Kind: AddressPipe, Host: []byte("/foo")}, m.Entries[0].DownstreamLocal)
			assert.Zero(t, m.Entries[0].FilterStateUnknownKinds)
		}
		if strings.HasPrefix(s.name, "tls13") {
			var m Message
			require.NoError(t, DecodeAccessLogs(s.wire, &m))
			assert.Equal(t, "localSan1", string(m.Entries[0].LocalURISAN))
			assert.Equal(t, "peerSan1", string(m.Entries[0].PeerURISAN))
			assert.Equal(t, "sni", string(m.Entries[0].SNI))
		}
	}
}

// TestStructDepth checks that a deeply nested peer Struct is accepted or
// rejected at the same depth as proto.Unmarshal.
func TestStructDepth(t *testing.T) {
	nested := func(levels int) []byte {
		// Struct{fields: {"k": Value{struct_value: ...}}}
		var s []byte
		for i := 0; i < levels; i++ {
			s = msgField(1, strField(1, "k"), msgField(2, msgField(5, s)))
		}
		return s
	}
	accepted := 0
	for _, levels := range []int{3332, 3333, 3334, 3335} {
		payload := nested(levels)
		var s structpb.Struct
		perr := proto.Unmarshal(payload, &s)
		b := httpMsg(common(msgField(21, strField(1, FilterStateUpstream),
			msgField(2, strField(1, "type.googleapis.com/google.protobuf.Struct"), msgField(2, payload)))))
		var m Message
		require.NoError(t, DecodeAccessLogs(b, &m))
		assert.Equal(t, perr == nil, m.Entries[0].UpstreamPeer != nil, "levels %d: proto error %v", levels, perr)
		if perr == nil {
			accepted++
		}
	}
	assert.Equal(t, 2, accepted, "the boundary is inside the tested range")
}

func TestHasTypeName(t *testing.T) {
	for url, want := range map[string]bool{
		"google.protobuf.Struct":                         true,
		"type.googleapis.com/google.protobuf.Struct":     true,
		"/google.protobuf.Struct":                        true,
		"type.googleapis.com/google.protobuf.StructX":    false,
		"type.googleapis.com/xgoogle.protobuf.Struct":    false,
		"oogle.protobuf.Struct":                          false,
		"":                                               false,
		"type.googleapis.com/google.protobuf.Struct/foo": false,
	} {
		assert.Equal(t, want, hasTypeName([]byte(url), typeStruct), url)
		assert.Equal(t, want, typeName(url) == typeStruct, url)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrTruncated, ErrLength, ErrVarintOverflow, ErrFieldNumber, ErrWireType, ErrGroup, ErrDepth}
	for i, a := range all {
		require.ErrorIs(t, a, ErrMalformed)
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
	require.NotErrorIs(t, ErrMalformed, ErrTruncated)
	assert.True(t, bytes.HasPrefix([]byte(ErrTruncated.Error()), []byte("wire: ")))
}

// checkAgainstProto checks the fuzz property for one input: the decoder
// fails only where proto.Unmarshal fails, and agrees with it where
// proto.Unmarshal succeeds.
func checkAgainstProto(t *testing.T, b []byte, m *Message) {
	t.Helper()
	err := DecodeAccessLogs(b, m)
	var pm alsv3.StreamAccessLogsMessage
	perr := proto.Unmarshal(b, &pm)
	if err != nil {
		require.ErrorIs(t, err, ErrMalformed)
		require.Error(t, perr, "decoder rejects what proto.Unmarshal accepts: %v\n%x", err, b)
		return
	}
	if perr != nil {
		return
	}
	x := expectFromProto(&pm)
	if x.unpredictable != "" {
		return
	}
	if d := diffViews(m, &x); len(d) > 0 {
		t.Fatalf("view differs from proto.Unmarshal for %x:\n%s", b, strings.Join(d, "\n"))
	}
}

// TestByteMutations is a small deterministic fuzz run for CI: every byte of
// real-looking messages is replaced by a few values.
func TestByteMutations(t *testing.T) {
	inputs := [][]byte{mustMarshal(t, fullMessage(t)), mustMarshal(t, istioBatch(1))}
	var m Message
	for _, in := range inputs {
		b := make([]byte, len(in))
		for i := range in {
			for _, c := range []byte{0x00, 0x80, 0xff, in[i] ^ 0x01, in[i] ^ 0x08} {
				copy(b, in)
				b[i] = c
				checkAgainstProto(t, b, &m)
			}
		}
	}
}

// TestStageOneHandOff checks messages whose fields start in the usual order
// and then continue out of order, repeated or unknown, which the decoder
// handles in two stages.
func TestStageOneHandOff(t *testing.T) {
	full := fullMessage(t)
	cp := mustMarshal(t, full.GetHttpLogs().GetLogEntry()[0].GetCommonProperties())
	req := mustMarshal(t, full.GetHttpLogs().GetLogEntry()[0].GetRequest())
	resp := mustMarshal(t, full.GetHttpLogs().GetLogEntry()[0].GetResponse())
	extras := [][]byte{
		nil,
		unknowns(),
		msgField(2, msgField(1, strField(2, "again"))),
		strField(15, "cluster-again"),
		varintField(1, 5),
		msgField(13, strField(1, "traceparent"), strField(2, "late")),
		msgField(4, strField(1, "GRPC-STATUS"), strField(2, "9")),
		groupField(3, varintField(1, 1)),
	}
	var m Message
	for _, x := range extras {
		for _, b := range [][]byte{
			httpMsg(cat(msgField(1, cp, x))),
			httpMsg(cat(msgField(1, x, cp))),
			httpMsg(cat(msgField(3, req, x))),
			httpMsg(cat(msgField(4, resp, x))),
			httpMsg(cat(msgField(1, cp), x, msgField(3, req))),
		} {
			checkAgainstProto(t, b, &m)
		}
	}
}

// TestPeerMemo checks that the distinct peer encodings of a message are
// numbered (the first MaxPeerMemo of them) and parsed into the same fields
// as a fresh decode.
func TestPeerMemo(t *testing.T) {
	var msg alsv3.StreamAccessLogsMessage
	logs := &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{}
	distinct := MaxPeerMemo + 2
	for i := range 2 * distinct {
		st, err := structpb.NewStruct(map[string]any{"workload": fmt.Sprintf("w%d", i%distinct), "namespace": "ns"})
		require.NoError(t, err)
		a := new(anypb.Any) // map order fixed: one encoding per peer
		require.NoError(t, anypb.MarshalFrom(a, st, proto.MarshalOptions{Deterministic: true}))
		logs.LogEntry = append(logs.LogEntry, &accesslogv3.HTTPAccessLogEntry{CommonProperties: &accesslogv3.AccessLogCommon{
			FilterStateObjects: map[string]*anypb.Any{FilterStateDownstream: a},
		}})
	}
	msg.LogEntries = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: logs}
	b, err := proto.Marshal(&msg)
	require.NoError(t, err)
	var m Message
	require.NoError(t, DecodeAccessLogs(b, &m))
	require.Len(t, m.Entries, 2*distinct)
	var out []string
	checkPeerMemo(&m, &out)
	assert.Empty(t, out)
	for i := range m.Entries {
		p := m.Entries[i].DownstreamPeer
		require.NotNil(t, p, "entry %d", i)
		assert.True(t, p.Present)
		assert.Equal(t, fmt.Sprintf("w%d", i%distinct), string(p.Workload), "entry %d", i)
		assert.Equal(t, "ns", string(p.Namespace))
		if i%distinct < MaxPeerMemo {
			assert.Equal(t, uint8(i%distinct+1), p.Memo, "entry %d", i)
		} else {
			assert.Zero(t, p.Memo, "entry %d: beyond the memo", i)
		}
	}
	// The memo starts afresh with each message.
	require.NoError(t, DecodeAccessLogs(b, &m))
	assert.Equal(t, uint8(1), m.Entries[0].DownstreamPeer.Memo)
}

// TestPeerMemoSameFingerprint checks that two peers whose encodings have the
// same length and the same first and last eight bytes (the memo's
// fingerprint) are still told apart.
func TestPeerMemoSameFingerprint(t *testing.T) {
	var raws [][]byte
	logs := &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{}
	for _, app := range []string{"x1", "x2", "x1", "x2"} {
		st, err := structpb.NewStruct(map[string]any{"app": app, "workload": "wwwwwwwwwwww"})
		require.NoError(t, err)
		a := new(anypb.Any)
		require.NoError(t, anypb.MarshalFrom(a, st, proto.MarshalOptions{Deterministic: true}))
		raws = append(raws, a.GetValue())
		logs.LogEntry = append(logs.LogEntry, &accesslogv3.HTTPAccessLogEntry{CommonProperties: &accesslogv3.AccessLogCommon{
			FilterStateObjects: map[string]*anypb.Any{FilterStateUpstream: a},
		}})
	}
	require.Equal(t, peerFingerprint(raws[0]), peerFingerprint(raws[1]), "the test needs colliding fingerprints")
	require.NotEqual(t, raws[0], raws[1])
	b, err := proto.Marshal(&alsv3.StreamAccessLogsMessage{LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: logs}})
	require.NoError(t, err)
	var m Message
	require.NoError(t, DecodeAccessLogs(b, &m))
	require.Len(t, m.Entries, 4)
	for i, want := range []struct {
		app  string
		memo uint8
	}{{"x1", 1}, {"x2", 2}, {"x1", 1}, {"x2", 2}} {
		p := m.Entries[i].UpstreamPeer
		require.NotNil(t, p)
		assert.Equal(t, want.app, string(p.App), "entry %d", i)
		assert.Equal(t, want.memo, p.Memo, "entry %d", i)
	}
}

// TestPeerMemoRandom decodes a series of random messages into one reused
// Message and checks each against proto.Unmarshal: 1–90 distinct peers per
// message (beyond the memo), invalid Structs, other type URLs, and the same
// filter-state key twice in one entry (the later replaces the earlier). It
// also checks that entries of a message share a *Peer exactly when their
// encodings are identical and memoised, and that nothing is carried over
// from the previous message.
func TestPeerMemoRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 32))
	structAny := func(fields ...[]byte) []byte {
		return cat(strField(1, "type.googleapis.com/google.protobuf.Struct"), msgField(2, fields...))
	}
	strEntry := func(key, val string) []byte {
		return msgField(1, strField(1, key), msgField(2, strField(3, val)))
	}
	peerValue := func(n int) []byte {
		switch {
		case n%17 == 16: // a Struct proto.Unmarshal rejects
			return structAny(msgField(1, strField(1, "app"), msgField(2, msgField(5, []byte{0x80}))))
		case n%13 == 12: // not a Struct
			return cat(strField(1, "type.googleapis.com/google.protobuf.BytesValue"), msgField(2, strField(1, "x")))
		}
		// Same length for many n, so that fingerprints collide often.
		return structAny(
			strEntry("app", fmt.Sprintf("app-%03d", n%7)),
			strEntry("workload", fmt.Sprintf("w-%03d", n)),
			strEntry("namespace", "ns"),
		)
	}
	var m Message
	for msg := range 60 {
		distinct := 1 + rng.IntN(90)
		entries := make([][]byte, 1+rng.IntN(120))
		for i := range entries {
			var fs [][]byte
			for range 1 + rng.IntN(3) { // the same key may come twice or thrice
				key := FilterStateUpstream
				if rng.IntN(2) == 0 {
					key = FilterStateDownstream
				}
				fs = append(fs, msgField(21, strField(1, key), msgField(2, peerValue(msg%3*1000+rng.IntN(distinct)))))
			}
			entries[i] = common(fs...)
		}
		b := httpMsg(entries...)
		var pm alsv3.StreamAccessLogsMessage
		require.NoError(t, proto.Unmarshal(b, &pm))
		require.NoError(t, DecodeAccessLogs(b, &m), "message %d", msg)
		x := expectFromProto(&pm)
		require.Empty(t, x.unpredictable)
		if d := diffViews(&m, &x); len(d) > 0 {
			t.Fatalf("message %d (%d distinct peers): view differs from proto.Unmarshal:\n%s", msg, distinct, strings.Join(d, "\n"))
		}
		byRaw := map[string]*Peer{}
		for i := range m.Entries {
			for _, p := range []*Peer{m.Entries[i].UpstreamPeer, m.Entries[i].DownstreamPeer} {
				if p == nil || p.Memo == 0 {
					continue
				}
				if q, ok := byRaw[string(p.Raw)]; ok {
					assert.Same(t, q, p, "message %d entry %d: one memoised peer per encoding", msg, i)
				}
				byRaw[string(p.Raw)] = p
			}
		}
	}
}

// TestPeerMemoFreshPerMessage checks that a message's memo starts empty:
// peers seen in the previous message, in another order, are numbered in
// the order of this message and parsed into its own peer storage.
func TestPeerMemoFreshPerMessage(t *testing.T) {
	peer := func(i int) []byte {
		return msgField(21, strField(1, FilterStateUpstream), msgField(2,
			strField(1, "type.googleapis.com/google.protobuf.Struct"),
			msgField(2, msgField(1, strField(1, "workload"), msgField(2, strField(3, fmt.Sprintf("w%d", i)))))))
	}
	var a, b [][]byte
	for i := range 5 {
		a = append(a, common(peer(i)))
		b = append(b, common(peer(4-i)))
	}
	var m Message
	require.NoError(t, DecodeAccessLogs(httpMsg(a...), &m))
	require.NoError(t, DecodeAccessLogs(httpMsg(b...), &m))
	for i := range b {
		p := m.Entries[i].UpstreamPeer
		require.NotNil(t, p)
		assert.Equal(t, fmt.Sprintf("w%d", 4-i), string(p.Workload), "entry %d", i)
		assert.Equal(t, uint8(i+1), p.Memo, "entry %d: numbered in this message's order", i)
		assert.Same(t, &m.peers[i], p, "entry %d: this message's storage", i)
	}
}
