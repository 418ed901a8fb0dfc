package deploy

import (
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/config/metrics/v3"
	grpcalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/grpc/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
)

// What meshlens needs the proxies to log (docs/getting-started-envoy.md and
// /work/shared/reference/envoy-als.md §8, §10). The Istio and Envoy Gateway
// files are checked against the same lists.
var (
	wantRequestHeaders  = []string{"content-type", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid", "x-b3-sampled", "b3"}
	wantResponseHeaders = []string{"grpc-status"}
	wantFilterState     = []string{"upstream_peer", "downstream_peer", "envoy.filters.http.grpc_stats"}
	wantTCPFilterState  = []string{"upstream_peer", "downstream_peer"}
)

// The extension types the files use. Importing their packages registers
// them, so that protojson can resolve every typed_config.
var (
	_ = (*routerv3.Router)(nil)
	_ = (*grpcstatsv3.FilterConfig)(nil)
)

const (
	envoyDir          = "envoy/"
	meshlensCluster   = "meshlens"
	httpGRPCLogger    = "envoy.access_loggers.http_grpc"
	tcpGRPCLogger     = "envoy.access_loggers.tcp_grpc"
	metricsServiceSnk = "envoy.stat_sinks.metrics_service"
	hcmFilter         = "envoy.filters.network.http_connection_manager"
	tcpProxyFilter    = "envoy.filters.network.tcp_proxy"
)

// loadBootstrap parses and fully validates a bootstrap file.
func loadBootstrap(t *testing.T, path string) *bootstrapv3.Bootstrap {
	t.Helper()
	var b bootstrapv3.Bootstrap
	if err := yamlToProto(readFile(t, path), &b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, err := range checkProto(&b) {
		t.Errorf("%s: %v", path, err)
	}
	return &b
}

// snippetItems decodes the list under key in a snippet file into messages
// of type T (a new T per item from newT), validating each.
func snippetItems[T proto.Message](t *testing.T, path, key string, newT func() T) []T {
	t.Helper()
	var top map[string]any
	if err := strictYAML(readFile(t, path), &top); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	items, ok := top[key].([]any)
	if !ok || len(items) == 0 {
		t.Fatalf("%s: want a non-empty list under %q", path, key)
	}
	var out []T
	for i, it := range items {
		b, err := jsonMarshal(it)
		if err != nil {
			t.Fatal(err)
		}
		m := newT()
		if err := yamlToProto(b, m); err != nil {
			t.Fatalf("%s: %s[%d]: %v", path, key, i, err)
		}
		for _, err := range checkProto(m) {
			t.Errorf("%s: %s[%d]: %v", path, key, i, err)
		}
		out = append(out, m)
	}
	return out
}

func checkHTTPLogger(t *testing.T, where string, al *accesslogv3.AccessLog) {
	t.Helper()
	if al.GetName() != httpGRPCLogger {
		t.Errorf("%s: access log %q, want %s", where, al.GetName(), httpGRPCLogger)
		return
	}
	c := unpack[*grpcalsv3.HttpGrpcAccessLogConfig](t, al.GetTypedConfig())
	checkCommon(t, where, c.GetCommonConfig(), wantFilterState)
	if m := missing(c.GetAdditionalRequestHeadersToLog(), wantRequestHeaders); len(m) > 0 {
		t.Errorf("%s: additional_request_headers_to_log misses %v", where, m)
	}
	if m := missing(c.GetAdditionalResponseHeadersToLog(), wantResponseHeaders); len(m) > 0 {
		t.Errorf("%s: additional_response_headers_to_log misses %v", where, m)
	}
	if m := missing(c.GetAdditionalResponseTrailersToLog(), wantResponseHeaders); len(m) > 0 {
		t.Errorf("%s: additional_response_trailers_to_log misses %v", where, m)
	}
}

func checkTCPLogger(t *testing.T, where string, al *accesslogv3.AccessLog) {
	t.Helper()
	if al.GetName() != tcpGRPCLogger {
		t.Errorf("%s: access log %q, want %s", where, al.GetName(), tcpGRPCLogger)
		return
	}
	c := unpack[*grpcalsv3.TcpGrpcAccessLogConfig](t, al.GetTypedConfig())
	checkCommon(t, where, c.GetCommonConfig(), wantTCPFilterState)
}

func checkCommon(t *testing.T, where string, c *grpcalsv3.CommonGrpcAccessLogConfig, filterState []string) {
	t.Helper()
	if c.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("%s: transport_api_version %s, want V3", where, c.GetTransportApiVersion())
	}
	if got := c.GetGrpcService().GetEnvoyGrpc().GetClusterName(); got != meshlensCluster {
		t.Errorf("%s: grpc_service.envoy_grpc.cluster_name %q, want %q", where, got, meshlensCluster)
	}
	if m := missing(c.GetFilterStateObjectsToLog(), filterState); len(m) > 0 {
		t.Errorf("%s: filter_state_objects_to_log misses %v", where, m)
	}
}

func checkStatsSink(t *testing.T, where string, s *metricsv3.StatsSink) {
	t.Helper()
	if s.GetName() != metricsServiceSnk {
		t.Errorf("%s: stats sink %q, want %s", where, s.GetName(), metricsServiceSnk)
		return
	}
	c := unpack[*metricsv3.MetricsServiceConfig](t, s.GetTypedConfig())
	if c.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		t.Errorf("%s: transport_api_version %s, want V3", where, c.GetTransportApiVersion())
	}
	if got := c.GetGrpcService().GetEnvoyGrpc().GetClusterName(); got != meshlensCluster {
		t.Errorf("%s: grpc_service.envoy_grpc.cluster_name %q, want %q", where, got, meshlensCluster)
	}
	if c.GetReportCountersAsDeltas().GetValue() {
		t.Errorf("%s: report_counters_as_deltas is on, but meshlens's envoy_stats::counters_as_deltas defaults to false", where)
	}
}

// checkMeshlensCluster checks that the cluster speaks HTTP/2 (gRPC) and
// returns its port.
func checkMeshlensCluster(t *testing.T, where string, c *clusterv3.Cluster) uint32 {
	t.Helper()
	if c.GetName() != meshlensCluster {
		t.Fatalf("%s: cluster %q, want %q", where, c.GetName(), meshlensCluster)
	}
	a, ok := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if !ok {
		t.Fatalf("%s: cluster meshlens has no HttpProtocolOptions: gRPC needs HTTP/2", where)
	}
	po := unpack[*upstreamhttpv3.HttpProtocolOptions](t, a)
	if po.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		t.Errorf("%s: cluster meshlens is not explicitly HTTP/2", where)
	}
	eps := c.GetLoadAssignment().GetEndpoints()
	if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
		t.Fatalf("%s: cluster meshlens: want one endpoint", where)
	}
	return eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetPortValue()
}

func TestEnvoySnippets(t *testing.T) {
	http := snippetItems(t, envoyDir+"snippets/http-access-log.yaml", "access_log", func() *accesslogv3.AccessLog { return new(accesslogv3.AccessLog) })
	tcp := snippetItems(t, envoyDir+"snippets/tcp-access-log.yaml", "access_log", func() *accesslogv3.AccessLog { return new(accesslogv3.AccessLog) })
	sinks := snippetItems(t, envoyDir+"snippets/stats-sink.yaml", "stats_sinks", func() *metricsv3.StatsSink { return new(metricsv3.StatsSink) })
	clusters := snippetItems(t, envoyDir+"snippets/meshlens-cluster.yaml", "clusters", func() *clusterv3.Cluster { return new(clusterv3.Cluster) })
	if len(http) != 1 || len(tcp) != 1 || len(sinks) != 1 || len(clusters) != 1 {
		t.Fatalf("want one item per snippet, got %d %d %d %d", len(http), len(tcp), len(sinks), len(clusters))
	}
	checkHTTPLogger(t, "http-access-log.yaml", http[0])
	checkTCPLogger(t, "tcp-access-log.yaml", tcp[0])
	checkStatsSink(t, "stats-sink.yaml", sinks[0])
	if port := checkMeshlensCluster(t, "meshlens-cluster.yaml", clusters[0]); port != meshlensGRPCPort {
		t.Errorf("meshlens-cluster.yaml: port %d, want meshlens's gRPC port %d", port, meshlensGRPCPort)
	}
	// The stats-sink snippet is a partial bootstrap: it must parse as one.
	var partial bootstrapv3.Bootstrap
	if err := yamlToProto(readFile(t, envoyDir+"snippets/stats-sink.yaml"), &partial); err != nil {
		t.Fatalf("stats-sink.yaml as a bootstrap: %v", err)
	}
}

// TestEnvoyBootstrap parses envoy.yaml as a v3 Bootstrap, validates it, and
// checks that it wires every listener to meshlens with the snippets
// unchanged.
func TestEnvoyBootstrap(t *testing.T) {
	b := loadBootstrap(t, envoyDir+"envoy.yaml")

	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		clusters[c.GetName()] = c
	}
	ml, ok := clusters[meshlensCluster]
	if !ok {
		t.Fatal("no cluster meshlens")
	}
	checkMeshlensCluster(t, "envoy.yaml", ml)

	snipCluster := snippetItems(t, envoyDir+"snippets/meshlens-cluster.yaml", "clusters", func() *clusterv3.Cluster { return new(clusterv3.Cluster) })[0]
	if !proto.Equal(ml, snipCluster) {
		t.Error("envoy.yaml: cluster meshlens differs from snippets/meshlens-cluster.yaml")
	}
	snipSink := snippetItems(t, envoyDir+"snippets/stats-sink.yaml", "stats_sinks", func() *metricsv3.StatsSink { return new(metricsv3.StatsSink) })[0]
	if len(b.GetStatsSinks()) != 1 || !proto.Equal(b.GetStatsSinks()[0], snipSink) {
		t.Error("envoy.yaml: stats_sinks differ from snippets/stats-sink.yaml")
	}
	if b.GetStatsFlushInterval().AsDuration().Seconds() != 5 {
		t.Errorf("envoy.yaml: stats_flush_interval %s, want 5s as in the snippet", b.GetStatsFlushInterval().AsDuration())
	}
	snipHTTP := snippetItems(t, envoyDir+"snippets/http-access-log.yaml", "access_log", func() *accesslogv3.AccessLog { return new(accesslogv3.AccessLog) })[0]
	snipTCP := snippetItems(t, envoyDir+"snippets/tcp-access-log.yaml", "access_log", func() *accesslogv3.AccessLog { return new(accesslogv3.AccessLog) })[0]

	var nHCM, nTCP int
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				where := "envoy.yaml: listener " + l.GetName()
				switch f.GetName() {
				case hcmFilter:
					nHCM++
					hcm := unpack[*hcmv3.HttpConnectionManager](t, f.GetTypedConfig())
					if len(hcm.GetAccessLog()) != 1 || !proto.Equal(hcm.GetAccessLog()[0], snipHTTP) {
						t.Errorf("%s: access_log differs from snippets/http-access-log.yaml", where)
					}
					checkHTTPFilters(t, where, hcm)
					for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
						for _, r := range vh.GetRoutes() {
							if c := r.GetRoute().GetCluster(); clusters[c] == nil {
								t.Errorf("%s: route to unknown cluster %q", where, c)
							}
						}
					}
				case tcpProxyFilter:
					nTCP++
					tp := unpack[*tcpproxyv3.TcpProxy](t, f.GetTypedConfig())
					if len(tp.GetAccessLog()) != 1 || !proto.Equal(tp.GetAccessLog()[0], snipTCP) {
						t.Errorf("%s: access_log differs from snippets/tcp-access-log.yaml", where)
					}
					if clusters[tp.GetCluster()] == nil {
						t.Errorf("%s: unknown cluster %q", where, tp.GetCluster())
					}
				default:
					t.Errorf("%s: unexpected filter %s", where, f.GetName())
				}
			}
		}
	}
	if nHCM == 0 || nTCP == 0 {
		t.Errorf("want at least one HTTP connection manager and one tcp_proxy, got %d and %d", nHCM, nTCP)
	}
}

// checkHTTPFilters: the grpc_stats filter must put its counts in the filter
// state that the access log sends, and the router must come last.
func checkHTTPFilters(t *testing.T, where string, hcm *hcmv3.HttpConnectionManager) {
	t.Helper()
	fs := hcm.GetHttpFilters()
	if len(fs) == 0 || fs[len(fs)-1].GetName() != "envoy.filters.http.router" {
		t.Errorf("%s: the last HTTP filter must be envoy.filters.http.router", where)
	}
	found := false
	for _, f := range fs {
		if f.GetName() == "envoy.filters.http.grpc_stats" {
			found = true
			if !unpack[*grpcstatsv3.FilterConfig](t, f.GetTypedConfig()).GetEmitFilterState() {
				t.Errorf("%s: grpc_stats must set emit_filter_state: true", where)
			}
		}
	}
	if !found {
		t.Errorf("%s: no envoy.filters.http.grpc_stats filter: istio_request_messages_total would stay empty", where)
	}
}

// TestEnvoyValidationCatchesTypos makes sure the checks above are not
// vacuous: broken copies of the snippet must fail.
func TestEnvoyValidationCatchesTypos(t *testing.T) {
	good := string(readFile(t, envoyDir+"snippets/http-access-log.yaml"))
	for name, edit := range map[string][2]string{
		"misspelt field":   {"transport_api_version", "transport_api_vers"},
		"misspelt type":    {"grpc.v3.HttpGrpcAccessLogConfig", "grpc.v3.HttpGrpcAccesLogConfig"},
		"bad enum":         {"transport_api_version: V3", "transport_api_version: V4"},
		"bad duration":     {"buffer_flush_interval: 1s", "buffer_flush_interval: soon"},
		"violates a rule":  {"cluster_name: meshlens", `cluster_name: ""`},
		"deprecated value": {"transport_api_version: V3", "transport_api_version: V2"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := strings.Replace(good, edit[0], edit[1], 1)
			if bad == good {
				t.Fatalf("edit %q not applied", edit[0])
			}
			var top struct {
				AccessLog []map[string]any `json:"access_log"`
			}
			if err := strictYAML([]byte(bad), &top); err != nil {
				return // caught
			}
			j, err := jsonMarshal(top.AccessLog[0])
			if err != nil {
				t.Fatal(err)
			}
			var al accesslogv3.AccessLog
			if err := yamlToProto(j, &al); err != nil {
				return // caught
			}
			if errs := checkProto(&al); len(errs) > 0 {
				return // caught
			}
			t.Errorf("a snippet with a %s passed validation", name)
		})
	}
}
