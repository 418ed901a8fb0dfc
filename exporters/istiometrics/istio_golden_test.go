package istiometrics

import (
	"strconv"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlens/meshlens/accesslog"
)

// Istio's own expectations for its stats filter (istio/proxy
// testdata/metric/*.yaml.tmpl, driven by test/envoye2e/stats_plugin and
// tcp_metadata_exchange; istio/proxy@86a72d03) as meshlens test cases: the
// access-log entries each scenario's proxies would send (node metadata of
// the scenario's templates, the cluster Istio would name for the cluster
// metadata the scenario sets, peer filter state where metadata exchange
// runs, mTLS where the scenario has it) and the exact label set of the
// golden. Where meshlens differs, the case names the label, meshlens's
// value and why; docs/metrics.md lists the same table.

// Node metadata of testdata/client_node_metadata.json.tmpl and
// server_node_metadata.json.tmpl (the keys the stats filter reads).
func goldenClientNode(t testing.TB) *corev3.Node {
	return goldenNode(t, "sidecar~10.52.0.34~productpage-v1-84975bc778-pxz2w.default~default.svc.cluster.local", map[string]any{
		"NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "client-cluster",
		"SERVICE_ACCOUNT": "bookinfo-productpage", "INSTANCE_IPS": "10.52.0.34,fe80::a075:11ff:fe5e:f1cd",
		"NAME": "productpage-v1-84975bc778-pxz2w",
		"LABELS": map[string]any{
			"app": "productpage", "version": "v1", "pod-template-hash": "84975bc778", "role": "client",
			"service.istio.io/canonical-name": "productpage-v1", "service.istio.io/canonical-revision": "version-1",
		},
	})
}

func goldenServerNode(t testing.TB) *corev3.Node {
	return goldenNode(t, "sidecar~127.0.0.2~ratings-v1-84975bc778-pxz2w.default~default.svc.cluster.local", map[string]any{
		"NAMESPACE": "default", "WORKLOAD_NAME": "ratings-v1", "CLUSTER_ID": "server-cluster",
		"SERVICE_ACCOUNT": "bookinfo-ratings", "NAME": "ratings-v1-84975bc778-pxz2w",
		"LABELS": map[string]any{
			"app": "ratings", "version": "v1", "pod-template-hash": "84975bc778", "role": "server",
			"service.istio.io/canonical-name": "ratings", "service.istio.io/canonical-revision": "version-1",
		},
	})
}

// goldenWaypointNode is server_waypoint_proxy_node_metadata.json.tmpl.
func goldenWaypointNode(t testing.TB) *corev3.Node {
	return goldenNode(t, "waypoint~127.0.0.2~waypoint-5d9f7b4b7c-abcde.default~default.svc.cluster.local", map[string]any{
		"NAMESPACE": "default", "CLUSTER_ID": "server-cluster",
	})
}

func goldenNode(t testing.TB, id string, md map[string]any) *corev3.Node {
	t.Helper()
	s, err := structpb.NewStruct(md)
	require.NoError(t, err)
	return &corev3.Node{Id: id, Cluster: "test-cluster", Metadata: s}
}

// goldenPeer is what metadata exchange carries of a node (F4): its
// workload, namespace, cluster, canonical labels, app and version; no
// identity (the scenarios' nodes have no IDENTITY).
func goldenPeer(t testing.TB, workload, canonical, app string) *anypb.Any {
	t.Helper()
	s, err := structpb.NewStruct(map[string]any{
		"type": "deployment", "workload": workload, "namespace": "default",
		"cluster": map[string]string{"productpage-v1": "client-cluster", "ratings-v1": "server-cluster"}[workload],
		"service": canonical, "revision": "version-1", "app": app, "version": "v1",
	})
	require.NoError(t, err)
	a, err := anypb.New(s)
	require.NoError(t, err)
	return a
}

func sanProps(local, peer string) *datav3.TLSProperties {
	uri := func(u string) *datav3.TLSProperties_CertificateProperties {
		if u == "" {
			return nil
		}
		return &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: u}},
		}}
	}
	return &datav3.TLSProperties{LocalCertificateProperties: uri(local), PeerCertificateProperties: uri(peer)}
}

const (
	clientSAN = "spiffe://cluster.local/ns/default/sa/client"
	serverSAN = "spiffe://cluster.local/ns/default/sa/server"
)

// goldenLabels is the label set of a golden file, in Istio's order.
type goldenLabels map[string]string

// Labels 2–20 of the goldens' series between productpage-v1 (F1) and
// ratings-v1 (F2) with metadata exchange and the cluster metadata
// {host: server.default.svc.cluster.local, name: server, namespace: default}.
func exchanged() goldenLabels {
	return goldenLabels{
		"source_workload": "productpage-v1", "source_canonical_service": "productpage-v1", "source_canonical_revision": "version-1",
		"source_workload_namespace": "default", "source_principal": "unknown", "source_app": "productpage", "source_version": "v1",
		"source_cluster":       "client-cluster",
		"destination_workload": "ratings-v1", "destination_workload_namespace": "default", "destination_principal": "unknown",
		"destination_app": "ratings", "destination_version": "v1", "destination_service": "server.default.svc.cluster.local",
		"destination_canonical_service": "ratings", "destination_canonical_revision": "version-1",
		"destination_service_name": "server", "destination_service_namespace": "default", "destination_cluster": "server-cluster",
	}
}

func (g goldenLabels) with(kv ...string) goldenLabels {
	out := goldenLabels{}
	for k, v := range g {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func httpGolden(g goldenLabels, reporter, code, grpc, security string) goldenLabels {
	protocol := "http"
	if grpc != "" {
		protocol = "grpc"
	}
	return g.with("reporter", reporter, "request_protocol", protocol, "response_code", code,
		"grpc_response_status", grpc, "response_flags", "-", "connection_security_policy", security)
}

func tcpGolden(g goldenLabels, reporter, security string) goldenLabels {
	return g.with("reporter", reporter, "request_protocol", "tcp", "response_flags", "-", "connection_security_policy", security)
}

// goldenEntry is one scenario's access-log entry.
type goldenEntry struct {
	node      func(testing.TB) *corev3.Node
	tcp       bool
	cluster   string
	authority string
	code      uint32
	grpc      string // grpc-status trailer; "" for plain HTTP
	peerKey   string // "upstream_peer" / "downstream_peer" / "" (no exchange)
	peer      func(testing.TB) *anypb.Any
	// upstream is the waypoint's second peer object (upstream_peer).
	upstream func(testing.TB) *anypb.Any
	tls      *datav3.TLSProperties
}

func (g goldenEntry) message(t testing.TB) []byte {
	t.Helper()
	c := &datav3.AccessLogCommon{
		StartTime: timestamppb.New(now.Add(-time.Second)), Duration: durationpb.New(3 * time.Millisecond),
		UpstreamCluster: g.cluster, TlsProperties: g.tls, StreamId: "golden-1",
		DownstreamRemoteAddress: sockAddr("127.0.0.1", 40000), DownstreamLocalAddress: sockAddr("127.0.0.2", 9080),
		UpstreamRemoteAddress:       sockAddr("127.0.0.3", 9080),
		DownstreamWireBytesReceived: 6, DownstreamWireBytesSent: 12,
	}
	if g.peerKey != "" {
		c.FilterStateObjects = map[string]*anypb.Any{g.peerKey: g.peer(t)}
		if g.upstream != nil {
			c.FilterStateObjects["upstream_peer"] = g.upstream(t)
		}
	}
	m := &alsv3.StreamAccessLogsMessage{Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: g.node(t), LogName: "golden"}}
	if g.tcp {
		c.AccessLogType = datav3.AccessLogType_TcpConnectionEnd
		m.LogEntries = &alsv3.StreamAccessLogsMessage_TcpLogs{TcpLogs: &alsv3.StreamAccessLogsMessage_TCPAccessLogEntries{
			LogEntry: []*datav3.TCPAccessLogEntry{{CommonProperties: c}},
		}}
	} else {
		c.AccessLogType = datav3.AccessLogType_DownstreamEnd
		e := &datav3.HTTPAccessLogEntry{
			CommonProperties: c, ProtocolVersion: datav3.HTTPAccessLogEntry_HTTP2,
			Request:  &datav3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Authority: g.authority, Path: "/"},
			Response: &datav3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(g.code)},
		}
		if g.grpc != "" {
			e.Request.RequestHeaders = map[string]string{"content-type": "application/grpc"}
			e.Response.ResponseTrailers = map[string]string{"grpc-status": g.grpc}
		}
		m.LogEntries = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{
			LogEntry: []*datav3.HTTPAccessLogEntry{e},
		}}
	}
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

func sockAddr(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// goldenCase is one golden file as meshlens reproduces it.
type goldenCase struct {
	golden string // testdata/metric/<golden>.yaml.tmpl (and its scenario)
	family string
	cfg    accesslog.Config // the scenario's stats filter configuration
	entry  goldenEntry
	want   goldenLabels
	// differs lists the labels where meshlens deliberately says another
	// value than the golden: label → {meshlens value, reason}.
	differs map[string][2]string
}

// The ALS of a server-side sidecar carries no cluster metadata; meshlens
// names the service <canonical>.<namespace>.svc.<domain> (docs/metrics.md).
// The goldens' fixture names its Service "server" and its canonical
// service "ratings" on purpose; a mesh where they match is exact.
var serverServiceDiffers = map[string][2]string{
	"destination_service":      {"ratings.default.svc.cluster.local", "no cluster metadata in the access log: the service is named after the canonical service"},
	"destination_service_name": {"ratings", "as destination_service"},
}

var disableOutbound = accesslog.Config{DisableHostHeaderFallback: accesslog.HostHeaderFallback{OutboundSidecar: ptr(true)}}

func ptr[T any](v T) *T { return &v }

func goldenCases() []goldenCase {
	clientPeer := func(t testing.TB) *anypb.Any { return goldenPeer(t, "ratings-v1", "ratings", "ratings") }
	serverPeer := func(t testing.TB) *anypb.Any { return goldenPeer(t, "productpage-v1", "productpage-v1", "productpage") }
	const outbound = "outbound|9080||server.default.svc.cluster.local"
	const host = "127.0.0.1:20562" // the scenarios' Host header: 127.0.0.1:<ClientPort>
	client := goldenEntry{node: goldenClientNode, cluster: outbound, authority: host, code: 200, peerKey: "upstream_peer", peer: clientPeer}
	server := goldenEntry{node: goldenServerNode, cluster: "inbound|9080||", authority: host, code: 200, peerKey: "downstream_peer", peer: serverPeer}
	with := func(e goldenEntry, edit func(*goldenEntry)) goldenEntry { edit(&e); return e }
	tcpClient := with(client, func(e *goldenEntry) {
		e.tcp, e.cluster, e.authority = true, "outbound|9080|tcp|server.default.svc.cluster.local", ""
	})
	tcpServer := with(server, func(e *goldenEntry) {
		e.tcp, e.cluster, e.authority, e.tls = true, "inbound|9080|tcp|server.default.svc.cluster.local", "", sanProps(serverSAN, clientSAN)
	})
	tcpClientLabels := exchanged().with("source_principal", clientSAN, "destination_principal", serverSAN)
	return []goldenCase{
		{
			golden: "client_request_total (S1 TestStatsPayload/Default)", family: RequestsTotal, entry: client,
			want: httpGolden(exchanged(), "source", "200", "", "unknown"),
		},
		{
			golden: "client_request_total, gRPC (S5 TestStatsGrpc)", family: RequestsTotal,
			entry: with(client, func(e *goldenEntry) { e.grpc = "7" }),
			want:  httpGolden(exchanged(), "source", "200", "7", "unknown"),
		},
		{
			golden: "server_request_total (S1)", family: RequestsTotal, entry: server,
			want: httpGolden(exchanged(), "destination", "200", "", "none"), differs: serverServiceDiffers,
		},
		{
			golden: "server_request_total, gRPC (S5)", family: RequestsTotal,
			entry: with(server, func(e *goldenEntry) { e.grpc = "7" }),
			want:  httpGolden(exchanged(), "destination", "200", "7", "none"), differs: serverServiceDiffers,
		},
		{
			golden: "server_request_total, 403 (S8 TestStats403Failure)", family: RequestsTotal,
			entry: with(server, func(e *goldenEntry) { e.code = 403 }),
			want:  httpGolden(exchanged(), "destination", "403", "", "none"), differs: serverServiceDiffers,
		},
		{
			golden: "host_header_fallback (S3 UseHostHeader: a cluster without metadata, fallback on)", family: RequestsTotal,
			entry: with(client, func(e *goldenEntry) { e.cluster = "host_header" }),
			want: httpGolden(exchanged().with("destination_service", host, "destination_service_name", host),
				"source", "200", "", "unknown"),
		},
		{
			golden: "client_disable_host_header_fallback (S4)", family: RequestsTotal, cfg: disableOutbound,
			entry: with(client, func(e *goldenEntry) { e.cluster = "host_header" }),
			want: httpGolden(exchanged().with("destination_service", "unknown", "destination_service_name", "unknown"),
				"source", "200", "", "unknown"),
		},
		{
			golden: "server_disable_host_header_fallback (S4)", family: RequestsTotal, entry: server,
			want: httpGolden(exchanged().with("destination_service", "ratings", "destination_service_name", "ratings"),
				"destination", "200", "", "none"),
			differs: map[string][2]string{"destination_service": {"ratings.default.svc.cluster.local", "the FQDN the inbound cluster's metadata names in a real mesh; the access log cannot tell a cluster without metadata from one with"}},
		},
		{
			golden: "server_waypoint_proxy_request_total (S11)", family: RequestsTotal,
			entry: goldenEntry{
				node: goldenWaypointNode, cluster: "inbound-vip|9080|http|server.default.svc.cluster.local", authority: host, code: 200,
				peerKey: "downstream_peer", peer: serverPeer, upstream: clientPeer,
			},
			want: httpGolden(exchanged(), "waypoint", "200", "", "none"),
		},
		{
			golden: "tcp_client_connection_open (T1 TestTCPMetadataExchange)", family: TCPConnectionsOpened,
			entry: tcpClient, want: tcpGolden(tcpClientLabels, "source", "unknown"),
			differs: map[string][2]string{
				"source_principal":      {"unknown", "a client's own certificate is not in the access log (its TLS properties are the downstream's)"},
				"destination_principal": {"unknown", "the upstream certificate is not in the access log; the peer object's identity is used when logged"},
			},
		},
		{
			golden: "tcp_client_sent_bytes / received_bytes / connection_close (T1)", family: TCPSentBytes,
			entry: tcpClient, want: tcpGolden(tcpClientLabels, "source", "unknown"),
			differs: map[string][2]string{
				"source_principal":      {"unknown", "as tcp_client_connection_open"},
				"destination_principal": {"unknown", "as tcp_client_connection_open"},
			},
		},
		{
			golden: "tcp_server_connection_open / close / sent / received (T1)", family: TCPConnectionsOpened, entry: tcpServer,
			want: tcpGolden(tcpClientLabels, "destination", "mutual_tls"),
		},
		{
			golden: "tcp_server_connection_open_without_mx (T4, T5)", family: TCPConnectionsOpened,
			entry: with(tcpServer, func(e *goldenEntry) { e.peerKey = "" }),
			want: tcpGolden(tcpClientLabels.with(
				"source_workload", "unknown", "source_canonical_service", "unknown", "source_canonical_revision", "latest",
				"source_app", "unknown", "source_version", "unknown", "source_cluster", "unknown"), "destination", "mutual_tls"),
		},
		{
			golden: "tcp_client_sent_bytes_unknown (T7; its destination_service_namespace corrected as the filter computes it)", family: TCPSentBytes,
			entry: with(tcpClient, func(e *goldenEntry) { e.peerKey, e.cluster = "", outbound }),
			want: tcpGolden(exchanged().with(
				"destination_workload", "unknown", "destination_workload_namespace", "unknown", "destination_principal", "unknown",
				"destination_app", "unknown", "destination_version", "unknown", "destination_canonical_service", "unknown",
				"destination_canonical_revision", "latest", "destination_cluster", "unknown"), "source", "unknown"),
			differs: map[string][2]string{
				"destination_workload_namespace": {"default", "the cluster names the service's namespace: meshlens's stand-in for Istio's endpoint metadata (ADR 0003)"},
				"destination_canonical_service":  {"server", "as destination_workload_namespace"},
			},
		},
	}
}

// TestIstioGoldens checks every golden: the entry gives exactly one series
// in the family, whose labels are the golden's except where the case says
// why meshlens differs.
func TestIstioGoldens(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.golden, func(t *testing.T) {
			st := accesslog.NewStream(tc.cfg, accesslog.NewConnTable(16, time.Minute))
			recs, out, err := st.Decode(tc.entry.message(t), nil, now)
			require.NoError(t, err)
			require.Equal(t, 1, out.Processed)
			a := New(DefaultConfig())
			a.ConsumeRecords(recs, nil, now)
			fam := gather(t, a.Collector())[tc.family]
			require.NotNil(t, fam, "family %s", tc.family)
			require.Len(t, fam.GetMetric(), 1)
			got := goldenLabels{}
			for _, l := range fam.GetMetric()[0].GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			want := tc.want.with()
			for k, d := range tc.differs {
				require.Contains(t, want, k, "a difference names a label of the golden")
				require.NotEqual(t, want[k], d[0], "a difference differs")
				want[k] = d[0]
			}
			assert.Equal(t, want, got)
		})
	}
}

// TestInboundHostHeadersMakeNoSeries: 10,000 requests with distinct Host
// headers at one inbound sidecar are one series, as in Istio (fallback off
// for inbound); the client side, where Istio's fallback is on, names the
// Host header only when its cluster names no service.
func TestInboundHostHeadersMakeNoSeries(t *testing.T) {
	st := accesslog.NewStream(accesslog.Config{}, accesslog.NewConnTable(16, time.Minute))
	a := New(DefaultConfig())
	var recs []accesslog.Record
	for i := range 10_000 {
		e := goldenEntry{node: goldenServerNode, cluster: "inbound|9080||", authority: "shop-" + strconv.Itoa(i) + ".example.com", code: 200}
		var err error
		recs, _, err = st.Decode(e.message(t), recs[:0], now)
		require.NoError(t, err)
		a.ConsumeRecords(recs, nil, now)
	}
	fam := gather(t, a.Collector())[RequestsTotal]
	require.Len(t, fam.GetMetric(), 1)
	assert.Equal(t, "ratings.default.svc.cluster.local", label(fam.GetMetric()[0], "destination_service"))
	assert.InDelta(t, 10_000, fam.GetMetric()[0].GetCounter().GetValue(), 0)
}
