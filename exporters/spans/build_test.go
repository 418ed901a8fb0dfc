package spans

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// edgeRecords are hand-made records for what the captures lack.
func edgeRecords() []accesslog.Record {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	base := func() accesslog.Record {
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Protocol: accesslog.ProtocolHTTP, Reporter: accesslog.ReporterSource, Final: true,
			Source:      accesslog.Workload{Name: "web-v1", Namespace: "shop", CanonicalService: "web", CanonicalRevision: "v1", Principal: "spiffe://cluster.local/ns/shop/sa/web"},
			Destination: accesslog.Workload{Name: "cart-v2", Namespace: "shop", CanonicalService: "cart", CanonicalRevision: "v2", Principal: "spiffe://cluster.local/ns/shop/sa/cart"},
			Service:     accesslog.Service{Host: "cart.shop.svc.cluster.local", Name: "cart", Namespace: "shop"},
			SourceFrom:  accesslog.FromNodeMetadata, DestinationFrom: accesslog.FromPeerMetadata, ServiceFrom: accesslog.FromClusterName,
			ResponseCode: 200, GRPCStatus: -1, Security: accesslog.SecurityUnknown,
			StartUnixNano: start, DurationNanos: 12_345_678, RequestBytes: 512, ResponseBytes: 2048,
			NodeID: "sidecar~10.0.0.5~web-v1-abc.shop~shop.svc.cluster.local",
		}
		r.Details = accesslog.Details{
			RequestID: []byte("4bf92f35-77b3-4da6-a3ce-929d0e0e4736"), Method: "GET", Scheme: []byte("http"),
			Authority: []byte("cart.shop:8080"), Path: []byte("/cart/42?session=secret#frag"), UserAgent: []byte("curl/8.5.0"),
			UpstreamCluster: []byte("outbound|8080||cart.shop.svc.cluster.local"), RouteName: []byte("default"),
			ResponseDetails: []byte("via_upstream"), PeerAddress: []byte("10.0.0.9"), PeerPort: 8080,
			LocalAddress: []byte("10.0.0.5"), LocalPort: 41234, HTTPVersion: "1.1", Attempts: 1,
		}
		return r
	}
	var out []accesslog.Record

	r := base() // W3C with tracestate
	r.Trace = accesslog.TraceContext{
		Format: accesslog.TraceW3C, TraceID: [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID: [8]byte{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7}, Sampled: true, HasSampled: true,
	}
	r.Details.Tracestate = []byte("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
	out = append(out, r)

	r = base() // the server side of the same hop, mTLS
	r.Reporter, r.Security = accesslog.ReporterDestination, accesslog.SecurityMutualTLS
	r.SourceFrom, r.DestinationFrom = accesslog.FromPeerMetadata, accesslog.FromNodeMetadata
	r.Trace = out[0].Trace
	r.Trace.SpanID = [8]byte{0x51}
	r.Details.Tracestate = out[0].Details.Tracestate
	r.Details.PeerAddress, r.Details.PeerPort = []byte("10.0.0.5"), 41234
	r.Details.LocalAddress, r.Details.LocalPort = []byte("10.0.0.9"), 8080
	r.Details.UpstreamCluster = []byte("inbound|8080||")
	r.DurationNanos = 10_000_000
	out = append(out, r)

	r = base() // gRPC failing with UNAVAILABLE after a retry, B3 single header with parent
	r.Protocol, r.GRPCStatus, r.ResponseCode = accesslog.ProtocolGRPC, 14, 200
	r.Flags = accesslog.FlagUpstreamConnectionFailure | accesslog.FlagUpstreamRetryLimitExceeded
	r.Trace = accesslog.TraceContext{Format: accesslog.TraceB3Single, TraceID: [16]byte{8: 0xa1, 15: 0x07}, SpanID: [8]byte{0xb3, 1}, ParentSpanID: [8]byte{0xb3}}
	r.Details.Method, r.Details.Path, r.Details.Authority = "POST", []byte("/hipstershop.CartService/GetCart"), []byte("[fd00::9]:7070")
	r.Details.ResponseDetails = []byte("upstream_reset_before_response_started{connection_failure}")
	r.Details.HTTPVersion, r.Details.Attempts = "2", 2
	r.RequestMessages, r.ResponseMessages = 1, 0
	out = append(out, r)

	r = base() // incomplete request (no duration, no response), invalid UTF-8 and an over-long path, waypoint
	r.Reporter = accesslog.ReporterWaypoint
	r.ResponseCode, r.DurationNanos = 0, -1
	r.Details.Authority = nil
	r.Details.Path = []byte("/\xff\xfe/" + strings.Repeat("é", 200))
	r.Details.ResponseDetails = nil
	out = append(out, r)

	r = base() // 503 from the application, no trace context: synthetic trace from a non-UUID request id
	r.ResponseCode = 503
	r.Details.RequestID = []byte("req-0001")
	r.Details.ResponseDetails = []byte("via_upstream")
	out = append(out, r)
	return out
}

func TestGoldenSpans(t *testing.T) {
	tests := []struct {
		name string
		recs func(t *testing.T) []accesslog.Record
	}{
		{"envoy-ingress", func(t *testing.T) []accesslog.Record { return captureRecords(t, "envoy-ingress.json") }},
		{"envoy-ingress2sidecar", func(t *testing.T) []accesslog.Record { return captureRecords(t, "envoy-ingress2sidecar.json") }},
		{"envoy-mesh-client-sidecar", func(t *testing.T) []accesslog.Record { return captureRecords(t, "envoy-mesh-client-sidecar.json") }},
		{"envoy-mesh-server-sidecar", func(t *testing.T) []accesslog.Record { return captureRecords(t, "envoy-mesh-server-sidecar.json") }},
		{"bookinfo", func(t *testing.T) []accesslog.Record {
			return trafficRecords(t, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 21, Requests: 6}))
		}},
		{"edge-cases", func(*testing.T) []accesslog.Record { return edgeRecords() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := tt.recs(t)
			td := buildAll(keepAll(), recs)
			require.Positive(t, td.SpanCount())
			raw, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
			require.NoError(t, err)
			var got bytes.Buffer
			require.NoError(t, json.Indent(&got, raw, "", "  "))
			got.WriteByte('\n')

			// What an OTLP exporter sends must be valid protobuf.
			pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
			require.NoError(t, err)
			back, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(pb)
			require.NoError(t, err)
			assert.Equal(t, td.SpanCount(), back.SpanCount())

			path := filepath.Join("testdata", tt.name+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, got.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create it")
			assert.Equal(t, string(want), got.String())
		})
	}
}

func TestSpanShape(t *testing.T) {
	recs := edgeRecords()
	var v []spanView
	for i := range recs {
		one := views(buildAll(keepAll(), recs[i:i+1]))
		require.Len(t, one, 1)
		v = append(v, one[0])
	}
	client, server, grpc, incomplete, synthetic := v[0], v[1], v[2], v[3], v[4]
	assert.Equal(t, ptrace.SpanKindClient, client.Kind)
	assert.Equal(t, "web", client.Service)
	assert.Equal(t, "cart.shop:8080/cart/42", client.Name, "no query in span names")
	assert.Equal(t, "/cart/42", client.Attrs[AttrURLPath])
	assert.Equal(t, "cart.shop", client.Attrs[AttrServerAddress])
	assert.Equal(t, int64(8080), client.Attrs[AttrServerPort])
	assert.Equal(t, ptrace.SpanKindServer, server.Kind)
	assert.Equal(t, "cart", server.Service)
	assert.Equal(t, client.SpanID, server.ParentID)
	assert.Equal(t, "mutual_tls", server.Attrs[AttrSecurityPolicy])

	assert.True(t, grpc.Error)
	assert.Equal(t, "grpc", grpc.Attrs[AttrRPCSystem])
	assert.Equal(t, "hipstershop.CartService", grpc.Attrs[AttrRPCService])
	assert.Equal(t, "GetCart", grpc.Attrs[AttrRPCMethod])
	assert.Equal(t, int64(14), grpc.Attrs[AttrGRPCStatus])
	assert.Equal(t, "fd00::9", grpc.Attrs[AttrServerAddress])
	assert.Equal(t, int64(7070), grpc.Attrs[AttrServerPort])
	assert.Equal(t, "UF,URX", grpc.Attrs[AttrResponseFlags])
	assert.Equal(t, int64(1), grpc.Attrs[AttrResendCount])
	assert.Equal(t, "rate", grpc.Attrs[AttrSampledBy])

	assert.Equal(t, ptrace.SpanKindServer, incomplete.Kind, "a waypoint reports a server span")
	assert.Equal(t, true, incomplete.Attrs[AttrDurationUnknown])
	assert.True(t, incomplete.Error)
	assert.True(t, utf8.ValidString(incomplete.Name))
	assert.LessOrEqual(t, len(incomplete.Name), MaxNameLen)
	assert.True(t, strings.HasPrefix(incomplete.Name, "cart.shop.svc.cluster.local/"), incomplete.Name)

	assert.True(t, synthetic.Error)
	assert.Equal(t, true, synthetic.Attrs[AttrSynthetic])

	// Zero-length span for an incomplete request.
	td := buildAll(keepAll(), recs[3:4])
	s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	assert.Equal(t, s.StartTimestamp(), s.EndTimestamp())
	assert.Equal(t, "no response", s.Status().Message())
	// Borrowed bytes are copied: scribbling over them changes nothing.
	td = buildAll(keepAll(), recs[:1])
	for i := range recs[0].Details.Path {
		recs[0].Details.Path[i] = 'X'
	}
	s = td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	assert.Equal(t, "cart.shop:8080/cart/42", s.Name())
	p, _ := s.Attributes().Get(AttrURLPath)
	assert.Equal(t, "/cart/42", p.Str())
	assert.Equal(t, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", s.TraceState().AsRaw())
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in   string
		host string
		port uint32
	}{
		{"", "", 0},
		{"a", "a", 0},
		{"a:80", "a", 80},
		{"a:0", "a:0", 0},
		{"a:65536", "a:65536", 0},
		{"a:x", "a:x", 0},
		{"[::1]:9080", "::1", 9080},
		{"[::1]", "::1", 0},
		{"[::1", "[::1", 0},
		{"::1", "::1", 0},
		{"10.0.0.1:8080", "10.0.0.1", 8080},
	}
	for _, tt := range tests {
		h, p := splitHostPort([]byte(tt.in))
		assert.Equal(t, tt.host, string(h), tt.in)
		assert.Equal(t, tt.port, p, tt.in)
	}
}
