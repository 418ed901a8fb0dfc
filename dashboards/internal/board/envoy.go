package board

// Envoy's own stats as meshlens re-exports them from the Metrics Service
// (exporters/envoystats in the root module): Envoy's tag-extracted names
// with the envoy_ prefix, the extracted tags as labels (envoy_cluster_name,
// envoy_response_code_class, envoy_http_conn_manager_prefix, …) and the
// reporting proxy's node labels (namespace, workload, pod, node_id,
// node_cluster). docs/metrics.md, "Envoy stats".
const (
	envoyServerLive       = "envoy_server_live"
	envoyServerMemory     = "envoy_server_memory_allocated"
	envoyServerUptime     = "envoy_server_uptime"
	envoyActiveClusters   = "envoy_cluster_manager_active_clusters"
	envoyUpstreamRq       = "envoy_cluster_upstream_rq_total"
	envoyUpstreamRqXX     = "envoy_cluster_upstream_rq_xx"
	envoyUpstreamRqActive = "envoy_cluster_upstream_rq_active"
	envoyUpstreamCxActive = "envoy_cluster_upstream_cx_active"
	envoyConnectFail      = "envoy_cluster_upstream_cx_connect_fail"
	envoyRetry            = "envoy_cluster_upstream_rq_retry"
	envoyRetryLimit       = "envoy_cluster_upstream_rq_retry_limit_exceeded"
	envoyDownstreamRq     = "envoy_http_downstream_rq_total"
	envoyDownstreamRqXX   = "envoy_http_downstream_rq_xx"
	envoyDownstreamCx     = "envoy_listener_downstream_cx_active"
)

// envoy is the proxies themselves, from the stats they send over the
// Metrics Service: which are live, what their clusters (upstream) and
// listeners (downstream) see, connection failures and retries, memory.
// Every namespace and workload by default: the mesh's proxies at a glance.
func envoy() spec {
	scope := []string{re("namespace", "$namespace"), re("workload", "$workload")}
	all := func(more ...string) []string { return with(scope, more...) }
	vars := append(baseVars(),
		variable{
			name: "namespace", label: "Namespace", multi: true, all: true, allValue: ".*",
			query: labelValues(sel(envoyServerLive), "namespace"),
			desc:  "Namespaces of the reporting proxies (their Istio node metadata; empty without it).",
		},
		variable{
			name: "workload", label: "Workload", multi: true, all: true, allValue: ".*",
			query: labelValues(sel(envoyServerLive, re("namespace", "$namespace")), "workload"),
			desc:  "Workloads of the reporting proxies (without Istio metadata: the node cluster).",
		},
	)
	upstream := sumRate("", envoyUpstreamRq, scope...)
	return spec{
		file:  "meshlens-envoy.json",
		uid:   "meshlens-envoy",
		title: "meshlens / Envoy proxies",
		desc:  "Envoy's own stats, sent over the Metrics Service and re-exported by meshlens as envoy_*: proxies, upstream clusters, downstream listeners, failures, memory.",
		vars:  vars,
		rows: []row{
			{title: "Proxies", panels: []panel{
				statPanel("Proxies live", "Proxies whose server.live stat is 1 (sending stats, not draining).", unitShort,
					q(sumBy("", sel(envoyServerLive, scope...)), "live")),
				statPanel("Upstream requests", "Requests per second the proxies sent to their upstream clusters.", unitReqps,
					q(upstream, "upstream")),
				statPanel("Upstream 5xx", "Upstream responses per second that were 5xx (Envoy's upstream_rq_5xx, including the 503s "+
					"Envoy generates itself on connection failure).", unitReqps,
					q(orZero(sumRate("", envoyUpstreamRqXX, all(eq("envoy_response_code_class", "5"))...)), "5xx")),
				statPanel("Connection failures", "Upstream connections per second that failed to connect.", unitCps,
					q(orZero(sumRate("", envoyConnectFail, scope...)), "connect failures")),
			}},
			{title: "Upstream (clusters)", panels: []panel{
				timeseriesPanel("Upstream requests by cluster", "Requests per second by upstream cluster (outbound|port||host, PassthroughCluster…).", unitReqps,
					q(sumRate("envoy_cluster_name", envoyUpstreamRq, scope...), "{{envoy_cluster_name}}")),
				timeseriesPanel("Upstream responses by code class", "Upstream responses per second by status class (2 = 2xx…).", unitReqps,
					q(sumRate("envoy_response_code_class", envoyUpstreamRqXX, scope...), "{{envoy_response_code_class}}xx")).stacked(),
				timeseriesPanel("Active upstream requests and connections", "Requests in flight and connections open to upstream clusters now.", unitShort,
					q(sumBy("", sel(envoyUpstreamRqActive, scope...)), "requests"),
					q(sumBy("", sel(envoyUpstreamCxActive, scope...)), "connections")),
				timeseriesPanel("Connection failures and retries", "Upstream connection failures, retries, and requests that ran out of "+
					"retries, per second.", unitCps,
					q(orZero(sumRate("", envoyConnectFail, scope...)), "connect failures"),
					q(orZero(sumRate("", envoyRetry, scope...)), "retries"),
					q(orZero(sumRate("", envoyRetryLimit, scope...)), "retry limit exceeded")),
			}},
			{title: "Downstream (listeners)", panels: []panel{
				timeseriesPanel("Downstream requests by listener", "Requests per second the proxies received, by HTTP connection manager "+
					"(inbound_0.0.0.0_<port> on a sidecar).", unitReqps,
					q(sumRate("envoy_http_conn_manager_prefix", envoyDownstreamRq, scope...), "{{envoy_http_conn_manager_prefix}}")),
				timeseriesPanel("Downstream responses by code class", "Responses per second the proxies sent, by status class.", unitReqps,
					q(sumRate("envoy_response_code_class", envoyDownstreamRqXX, scope...), "{{envoy_response_code_class}}xx")).stacked(),
				timeseriesPanel("Downstream connections", "Connections open on the proxies' listeners now.", unitShort,
					q(sumBy("", sel(envoyDownstreamCx, scope...)), "open")),
			}},
			{title: "Server", panels: []panel{
				timeseriesPanel("Memory allocated", "Memory Envoy has allocated, by workload.", unitBytes,
					q(sumBy("workload", sel(envoyServerMemory, scope...)), "{{workload}}")),
				timeseriesPanel("Uptime", "Time since the youngest proxy of each workload started (a drop is a restart).", unitSeconds,
					q("min by (workload) ("+sel(envoyServerUptime, scope...)+")", "{{workload}}")),
				timeseriesPanel("Clusters", "Upstream clusters each workload's proxies know (cluster_manager.active_clusters).", unitShort,
					q("max by (workload) ("+sel(envoyActiveClusters, scope...)+")", "{{workload}}")),
			}},
		},
	}
}
