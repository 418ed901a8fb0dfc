package envoystats

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type L = map[string]string

// TestExtractTags pins the Prometheus name and labels Envoy's
// /stats/prometheus prints for real stat names (default tag rules, plus the
// documented Istio refinements).
func TestExtractTags(t *testing.T) {
	tests := []struct {
		stat   string
		name   string
		labels L
	}{
		// Istio sidecar clusters: FQDN kept whole, with or without Istio's ";".
		{
			"cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total", "envoy_cluster_upstream_rq_total",
			L{"envoy_cluster_name": "outbound|9080||reviews.default.svc.cluster.local"},
		},
		{
			"cluster.outbound|9080||reviews.default.svc.cluster.local;.upstream_rq_total", "envoy_cluster_upstream_rq_total",
			L{"envoy_cluster_name": "outbound|9080||reviews.default.svc.cluster.local"},
		},
		{
			"cluster.inbound|9080||;.upstream_cx_active", "envoy_cluster_upstream_cx_active",
			L{"envoy_cluster_name": "inbound|9080||"},
		},
		{
			"cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_503", "envoy_cluster_upstream_rq",
			L{"envoy_cluster_name": "outbound|9080|v2|reviews.default.svc.cluster.local", "envoy_response_code": "503"},
		},
		// Envoy default: a non-FQDN cluster name ends at the first dot.
		{
			"cluster.outbound|443||www.google.com.upstream_cx_total", "envoy_cluster_google_com_upstream_cx_total",
			L{"envoy_cluster_name": "outbound|443||www"},
		},
		{
			"cluster.xds-grpc.upstream_rq_200", "envoy_cluster_upstream_rq",
			L{"envoy_cluster_name": "xds-grpc", "envoy_response_code": "200"},
		},
		{
			"cluster.xds-grpc.upstream_rq_2xx", "envoy_cluster_upstream_rq_xx",
			L{"envoy_cluster_name": "xds-grpc", "envoy_response_code_class": "2"},
		},
		{"cluster.service_stats.update_attempt", "envoy_cluster_update_attempt", L{"envoy_cluster_name": "service_stats"}},
		{"cluster.service_stats.upstream_cx_connect_ms", "envoy_cluster_upstream_cx_connect_ms", L{"envoy_cluster_name": "service_stats"}},
		{
			"cluster.xds-grpc.circuit_breakers.default.cx_open", "envoy_cluster_circuit_breakers_default_cx_open",
			L{"envoy_cluster_name": "xds-grpc"},
		},
		{
			"cluster.grpc_backend.grpc.Greeter.SayHello.success", "envoy_cluster_grpc_success",
			L{"envoy_cluster_name": "grpc_backend", "envoy_grpc_bridge_service": "Greeter", "envoy_grpc_bridge_method": "SayHello"},
		},
		{
			"cluster.backend.ssl.ciphers.ECDHE-RSA-AES128-GCM-SHA256", "envoy_cluster_ssl_ciphers",
			L{"envoy_cluster_name": "backend", "cipher_suite": "ECDHE-RSA-AES128-GCM-SHA256"},
		},
		// HTTP connection managers.
		{
			"http.inbound_0.0.0.0_9080.downstream_rq_2xx", "envoy_http_downstream_rq_xx",
			L{"envoy_http_conn_manager_prefix": "inbound_0.0.0.0_9080", "envoy_response_code_class": "2"},
		},
		{
			"http.inbound_0.0.0.0_9080;.downstream_rq_total", "envoy_http_downstream_rq_total",
			L{"envoy_http_conn_manager_prefix": "inbound_0.0.0.0_9080"},
		},
		{
			"http.outbound_0.0.0.0_9080.downstream_rq_404", "envoy_http_downstream_rq",
			L{"envoy_http_conn_manager_prefix": "outbound_0.0.0.0_9080", "envoy_response_code": "404"},
		},
		{
			"http.ingress_http.downstream_rq_completed", "envoy_http_downstream_rq_completed",
			L{"envoy_http_conn_manager_prefix": "ingress_http"},
		},
		{"http.async-client.rq_total", "envoy_http_rq_total", L{"envoy_http_conn_manager_prefix": "async-client"}},
		{
			"http.admin.downstream_rq_4xx", "envoy_http_downstream_rq_xx",
			L{"envoy_http_conn_manager_prefix": "admin", "envoy_response_code_class": "4"},
		},
		{
			"http.ingress_http.user_agent.ios.downstream_rq_total", "envoy_http_user_agent_downstream_rq_total",
			L{"envoy_http_conn_manager_prefix": "ingress_http", "envoy_http_user_agent": "ios"},
		},
		{
			"http.ingress_http.fault.backend.delays_injected", "envoy_http_fault_delays_injected",
			L{"envoy_http_conn_manager_prefix": "ingress_http", "envoy_fault_downstream_cluster": "backend"},
		},
		{
			"http.ingress_http.rds.local_route.config_reload", "envoy_http_rds_config_reload",
			L{"envoy_http_conn_manager_prefix": "ingress_http", "envoy_rds_route_config": "local_route"},
		},
		{
			"http.ingress_http.dynamodb.operation.GetItem.upstream_rq_total", "envoy_http_dynamodb_operation_upstream_rq_total",
			L{"envoy_http_conn_manager_prefix": "ingress_http", "envoy_dynamo_operation": "GetItem"},
		},
		{
			"http.ingress_http.dynamodb.table.locations.upstream_rq_time", "envoy_http_dynamodb_table_upstream_rq_time",
			L{"envoy_http_conn_manager_prefix": "ingress_http", "envoy_dynamo_table": "locations"},
		},
		// Listeners.
		{
			"listener.0.0.0.0_15006.downstream_cx_total", "envoy_listener_downstream_cx_total",
			L{"envoy_listener_address": "0.0.0.0_15006"},
		},
		{
			"listener.[__]_15006.downstream_cx_active", "envoy_listener_downstream_cx_active",
			L{"envoy_listener_address": "[__]_15006"},
		},
		{
			"listener.0.0.0.0_80.http.ingress_http.downstream_rq_5xx", "envoy_listener_http_downstream_rq_xx",
			L{"envoy_listener_address": "0.0.0.0_80", "envoy_http_conn_manager_prefix": "ingress_http", "envoy_response_code_class": "5"},
		},
		{
			"listener.0.0.0.0_443.ssl.cipher.TLS_AES_128_GCM_SHA256", "envoy_listener_ssl_cipher",
			L{"envoy_listener_address": "0.0.0.0_443", "envoy_ssl_cipher": "TLS_AES_128_GCM_SHA256"},
		},
		{"listener.admin.downstream_cx_total", "envoy_listener_admin_downstream_cx_total", L{}},
		{
			"listener_manager.worker_0.dispatcher.loop_duration_us", "envoy_listener_manager_dispatcher_loop_duration_us",
			L{"envoy_worker_id": "worker_0"},
		},
		{"listener_manager.total_listeners_active", "envoy_listener_manager_total_listeners_active", L{}},
		// TCP / UDP / network filters.
		{"tcp.outbound_tcp.downstream_cx_total", "envoy_tcp_downstream_cx_total", L{"envoy_tcp_prefix": "outbound_tcp"}},
		{
			"tcp.outbound|3306||mysql.default.svc.cluster.local.upstream_flush_total", "envoy_tcp_upstream_flush_total",
			L{"envoy_tcp_prefix": "outbound|3306||mysql.default.svc.cluster.local"},
		},
		{"udp.dns.downstream_sess_total", "envoy_udp_downstream_sess_total", L{"envoy_udp_prefix": "dns"}},
		{"auth.clientssl.edge.update_success", "envoy_auth_clientssl_update_success", L{"envoy_clientssl_prefix": "edge"}},
		{"ratelimit.rl.over_limit", "envoy_ratelimit_over_limit", L{"envoy_ratelimit_prefix": "rl"}},
		{"mongo.mongo_proxy.cmd.insert.total", "envoy_mongo_cmd_total", L{"envoy_mongo_prefix": "mongo_proxy", "envoy_mongo_cmd": "insert"}},
		{"redis.egress_redis.command.get.total", "envoy_redis_command_get_total", L{"envoy_redis_prefix": "egress_redis"}},
		{
			"http_local_rate_limiter.http_local_rate_limit.rate_limited", "envoy_http_local_rate_limit_rate_limited",
			L{"envoy_local_http_ratelimit_prefix": "http_local_rate_limiter"},
		},
		// Virtual hosts.
		{
			"vhost.backend.vcluster.other.upstream_rq_503", "envoy_vhost_vcluster_upstream_rq",
			L{"envoy_virtual_host": "backend", "envoy_virtual_cluster": "other", "envoy_response_code": "503"},
		},
		{
			"vhost.backend.route.r1.upstream_rq_200", "envoy_vhost_route_upstream_rq",
			L{"envoy_virtual_host": "backend", "envoy_route": "r1", "envoy_response_code": "200"},
		},
		// Untagged.
		{"server.live", "envoy_server_live", L{}},
		{"server.memory_heap_size", "envoy_server_memory_heap_size", L{}},
		{"cluster_manager.cds.update_attempt", "envoy_cluster_manager_cds_update_attempt", L{}},
		{"cluster_manager.active_clusters", "envoy_cluster_manager_active_clusters", L{}},
		{"runtime.deprecated_feature_use", "envoy_runtime_deprecated_feature_use", L{}},
		{"wasm.envoy.wasm.runtime.null.active", "envoy_wasm_envoy_wasm_runtime_null_active", L{}},
	}
	for _, tc := range tests {
		t.Run(tc.stat, func(t *testing.T) {
			ex, ok := extractTags(tc.stat)
			require.True(t, ok)
			assert.Equal(t, tc.name, ex.promName)
			got := L{}
			for _, tag := range ex.tags {
				got[tag.label] = tag.value
			}
			assert.Equal(t, tc.labels, got)
		})
	}
}

func TestExtractTagsHelp(t *testing.T) {
	tests := map[string]string{
		"cluster.xds-grpc.upstream_rq_200":            "Envoy stat cluster.<envoy_cluster_name>.upstream_rq_<envoy_response_code>",
		"http.inbound_0.0.0.0_9080.downstream_rq_2xx": "Envoy stat http.<envoy_http_conn_manager_prefix>.downstream_rq_<envoy_response_code_class>xx",
		"server.live": "Envoy stat server.live",
	}
	for stat, want := range tests {
		ex, ok := extractTags(stat)
		require.True(t, ok)
		assert.Equal(t, want, ex.help, stat)
	}
}

func TestExtractTagsInvalid(t *testing.T) {
	for _, stat := range []string{"", "bad\xffname"} {
		_, ok := extractTags(stat)
		assert.False(t, ok, "%q", stat)
	}
}

func TestSanitizeLabelName(t *testing.T) {
	tests := map[string]string{
		"envoy.cluster_name": "envoy_cluster_name",
		"cipher_suite":       "cipher_suite",
		"9lives":             "_9lives",
		"__name__":           "tag__name__",
		"a-b:c":              "a_b_c",
		"":                   "",
	}
	for in, want := range tests {
		assert.Equal(t, want, sanitizeLabelName(in), in)
	}
}

func TestIsIstioCustom(t *testing.T) {
	assert.True(t, isIstioCustom("istiocustom.istio_requests_total.reporter.source.source_workload.productpage-v1"))
	assert.True(t, isIstioCustom("reporter=.=source;.;source_workload=.=productpage-v1;.;istio_requests_total"))
	assert.False(t, isIstioCustom("istio.wasm.whatever"))
	assert.False(t, isIstioCustom("server.live"))
}
