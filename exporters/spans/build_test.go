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
	r.Details.RouteName = []byte("cart-grpc") // a VirtualService route's name
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
	assert.Equal(t, "cart.shop.svc.cluster.local:8080/*", client.Name, "no path in span names")
	assert.Equal(t, "/cart/42", client.Attrs[AttrURLPath], "the path without query is an attribute")
	assert.NotContains(t, client.Attrs, "url.query")
	assert.Equal(t, "default", client.Attrs[AttrRouteName])
	assert.NotContains(t, client.Attrs, AttrHTTPRoute, "Istio's generic route names name no route")
	assert.Equal(t, "cart.shop", client.Attrs[AttrServerAddress])
	assert.Equal(t, int64(8080), client.Attrs[AttrServerPort])
	assert.Equal(t, ptrace.SpanKindServer, server.Kind)
	assert.Equal(t, "cart", server.Service)
	assert.Equal(t, client.SpanID, server.ParentID)
	assert.Equal(t, "mutual_tls", server.Attrs[AttrSecurityPolicy])
	assert.Equal(t, client.Name, server.Name, "both reports of a hop have one name")

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
	assert.Equal(t, "cart.shop.svc.cluster.local:8080/*", grpc.Name, "the cluster's port, not the authority's")
	assert.Equal(t, "/hipstershop.CartService/GetCart", grpc.Attrs[AttrURLPath])
	assert.Equal(t, "cart-grpc", grpc.Attrs[AttrHTTPRoute])
	assert.Equal(t, "cart-grpc", grpc.Attrs[AttrRouteName])

	assert.Equal(t, ptrace.SpanKindServer, incomplete.Kind, "a waypoint reports a server span")
	assert.Equal(t, true, incomplete.Attrs[AttrDurationUnknown])
	assert.True(t, incomplete.Error)
	assert.Equal(t, "cart.shop.svc.cluster.local:8080/*", incomplete.Name)
	p := incomplete.Attrs[AttrURLPath].(string)
	assert.True(t, utf8.ValidString(p))
	assert.LessOrEqual(t, len(p), MaxNameLen)
	assert.Greater(t, len(p), MaxNameLen-2, "cut at a rune boundary, not shorter")
	assert.True(t, strings.HasPrefix(p, "/\uFFFD/éé"), p)

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
	assert.Equal(t, "cart.shop.svc.cluster.local:8080/*", s.Name())
	up, _ := s.Attributes().Get(AttrURLPath)
	assert.Equal(t, "/cart/42", up.Str())
	assert.Equal(t, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", s.TraceState().AsRaw())
}

// Span names are "<destination service host>:<port>/*", as Istio names the
// proxy spans of a catch-all route, whatever the request's path.
func TestAppendName(t *testing.T) {
	const host = "reviews.default.svc.cluster.local"
	long := strings.Repeat("h", MaxNameLen)
	tests := []struct {
		name      string
		reporter  accesslog.Reporter
		host      string // r.Service.Host
		cluster   string
		authority string
		localPort uint32
		want      string
	}{
		{"outbound cluster", accesslog.ReporterSource, host, "outbound|9080||" + host, "reviews:9080", 41234, host + ":9080/*"},
		{"outbound cluster with subset", accesslog.ReporterSource, host, "outbound|9080|v2|" + host, "reviews", 0, host + ":9080/*"},
		{"outbound cluster wins over the authority", accesslog.ReporterSource, host, "outbound|9080||" + host, "reviews:8080", 0, host + ":9080/*"},
		{"SNI-DNAT outbound cluster", accesslog.ReporterSource, host, "outbound_.9080_.v1_." + host, "", 0, host + ":9080/*"},
		{"inbound cluster", accesslog.ReporterDestination, host, "inbound|9080||", "reviews:8080", 15006, host + ":9080/*"},
		{"inbound cluster of old releases", accesslog.ReporterDestination, host, "inbound|9080|http|" + host, "", 0, host + ":9080/*"},
		{"waypoint cluster", accesslog.ReporterWaypoint, host, "inbound-vip|9080|http|" + host, "", 15008, host + ":9080/*"},
		{"authority with port", accesslog.ReporterSource, "httpbin.org", "PassthroughCluster", "httpbin.org:8000", 0, "httpbin.org:8000/*"},
		{"IPv6 authority with port", accesslog.ReporterSource, "cart", "cart", "[fd00::9]:7070", 0, "cart:7070/*"},
		{"authority without port", accesslog.ReporterSource, "httpbin.org", "PassthroughCluster", "httpbin.org", 0, "httpbin.org/*"},
		{"client: no local port", accesslog.ReporterSource, "httpbin.org", "", "httpbin.org", 41234, "httpbin.org/*"},
		{"server side: local port", accesslog.ReporterDestination, host, "", "reviews", 9080, host + ":9080/*"},
		{"waypoint: local port", accesslog.ReporterWaypoint, host, "", "", 9080, host + ":9080/*"},
		{"server side: no port at all", accesslog.ReporterDestination, host, "", "", 0, host + "/*"},
		{"Istio cluster without a port", accesslog.ReporterSource, host, "outbound|http||" + host, "reviews:9080", 0, host + ":9080/*"},
		{"invalid ports ignored", accesslog.ReporterDestination, host, "outbound|99999||x", "reviews:0", 70000, host + "/*"},
		{"unknown service", accesslog.ReporterSource, "unknown", "outbound|9080||" + host, "", 0, "unknown:9080/*"},
		{"no service", accesslog.ReporterDestination, "", "inbound|9080||", "", 0, "unknown:9080/*"},
		{"no service, no port", accesslog.ReporterSource, "", "", "", 0, "unknown/*"},
		{"invalid UTF-8 repaired", accesslog.ReporterSource, "a\xffb", "", "a:80", 0, "a\uFFFDb:80/*"},
		{"long host cut", accesslog.ReporterSource, long, "outbound|9080||x", "", 0, long},
		{"long host cut on a rune boundary", accesslog.ReporterSource, "x" + strings.Repeat("é", MaxNameLen/2), "", "", 0, "x" + strings.Repeat("é", MaxNameLen/2-1)},
		{"long invalid host repaired, then cut", accesslog.ReporterSource, strings.Repeat("a\xff", MaxNameLen/2), "", "", 0, strings.Repeat("a\uFFFD", MaxNameLen/4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := edgeRecords()[0]
			r.Reporter, r.Service.Host = tt.reporter, tt.host
			r.Details.UpstreamCluster, r.Details.Authority, r.Details.LocalPort = []byte(tt.cluster), []byte(tt.authority), tt.localPort
			for _, path := range []string{"/reviews/0", "/reviews/1?user=7#x", "", "/\xff" + strings.Repeat("p", 2*MaxNameLen)} {
				r.Details.Path = []byte(path)
				got := AppendName([]byte("prefix"), &r)
				require.Equal(t, "prefix", string(got[:6]), "appends")
				assert.Equal(t, tt.want, string(got[6:]), "path %q", path)
				assert.True(t, utf8.Valid(got[6:]))
				assert.LessOrEqual(t, len(got)-6, MaxNameLen)
			}
		})
	}
}

// The route name is an attribute (http.route) when it names a route, and
// the path one (url.path, without query, cut at MaxNameLen); neither is in
// the name.
func TestSpanRouteAndPathAttributes(t *testing.T) {
	tests := []struct {
		route, path  string
		wantRoute    any // nil: absent
		wantPath     any
		wantNameHost string
	}{
		{"reviews-v2", "/reviews/42?user=jason", "reviews-v2", "/reviews/42", "cart.shop.svc.cluster.local:8080/*"},
		{"default", "/a#frag", nil, "/a", "cart.shop.svc.cluster.local:8080/*"},
		{"allow_any", "/", nil, "/", "cart.shop.svc.cluster.local:8080/*"},
		{"block_all", "?only=query", nil, nil, "cart.shop.svc.cluster.local:8080/*"},
		{"", "/x", nil, "/x", "cart.shop.svc.cluster.local:8080/*"},
		{"r\xff", "/\xff" + strings.Repeat("a", 2*MaxNameLen), "r\uFFFD", "/\uFFFD" + strings.Repeat("a", MaxNameLen-4), "cart.shop.svc.cluster.local:8080/*"},
	}
	for _, tt := range tests {
		r := edgeRecords()[0]
		r.Details.RouteName, r.Details.Path = []byte(tt.route), []byte(tt.path)
		v := views(buildAll(keepAll(), []accesslog.Record{r}))
		require.Len(t, v, 1)
		assert.Equal(t, tt.wantNameHost, v[0].Name, tt.path)
		assert.Equal(t, tt.wantRoute, v[0].Attrs[AttrHTTPRoute], tt.route)
		assert.Equal(t, tt.wantPath, v[0].Attrs[AttrURLPath], tt.path)
		assert.NotContains(t, v[0].Attrs, "url.query")
	}
}

func TestClusterPort(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"outbound|9080||reviews.default.svc.cluster.local", 9080},
		{"outbound|9080|v1|reviews.default.svc.cluster.local", 9080},
		{"inbound|9080||", 9080},
		{"inbound|8080|http|cart.shop.svc.cluster.local", 8080},
		{"inbound-vip|9080|http|reviews.default.svc.cluster.local", 9080},
		{"outbound_.9080_.v1_.reviews.default.svc.cluster.local", 9080},
		{"outbound|65535||x", 65535},
		{"outbound|65536||x", 0},
		{"outbound|0||x", 0},
		{"outbound||x", 0},
		{"outbound|9080", 0},
		{"outbound_.9080", 0},
		{"inbound|", 0},
		{"PassthroughCluster", 0},
		{"InboundPassthroughClusterIpv4", 0},
		{"reviews|9080|x", 0},
		{"", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, clusterPort([]byte(tt.in)), tt.in)
	}
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
