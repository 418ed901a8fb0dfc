package board

// service is one destination service: its clients, the workloads that
// serve it, how its requests end and how long they take.
func service() spec {
	scope := []string{eq("reporter", "$reporter"), eq("destination_service", "$service")}
	all := func(more ...string) []string { return with(scope, more...) }
	vars := append(baseVars(), reporterVar(),
		byTraffic("namespace", "Namespace", "Namespace of the service; the busiest first.", "destination_service_namespace",
			counted{sel(requestsTotal, eq("reporter", "$reporter")), "destination_service_namespace"}),
		byTraffic("service", "Service", "The destination service (FQDN); the busiest first.", "destination_service",
			counted{sel(requestsTotal, eq("reporter", "$reporter"), eq("destination_service_namespace", "$namespace")), "destination_service"}),
		jaegerServiceVar("destination_canonical_service",
			traffic("destination_canonical_service", counted{sel(requestsTotal, scope...), "destination_canonical_service"})),
	)
	total := sumRate("", requestsTotal, scope...)
	const (
		client = "source_workload, source_workload_namespace"
		server = "destination_workload, destination_workload_namespace"
	)
	return spec{
		file:  "meshlens-service.json",
		uid:   "meshlens-service",
		title: "meshlens / Service",
		desc:  "One destination service: requests by client workload and by serving workload, response codes and flags, latency and sizes.",
		vars:  vars,
		rows: []row{
			{title: "Service", panels: []panel{
				statPanel("Request rate", "Requests per second to the service.", unitReqps, q(total, "requests")),
				successStat("Success rate", "Share of requests that did not end in a 5xx response; red below 95 %, yellow below 99 %.",
					q(ratio(sumRate("", requestsTotal, all(not5xx)...), total), "success")),
				statPanel("Server errors", "Requests per second that ended in a 5xx response.", unitReqps,
					q(orZero(sumRate("", requestsTotal, all(server5xx)...)), "5xx")),
				statPanel("Latency", "Median, 90th and 99th percentile request duration.", unitMs,
					q(quantile("0.50", "", durationBucket, scope...), "p50"),
					q(quantile("0.90", "", durationBucket, scope...), "p90"),
					q(quantile("0.99", "", durationBucket, scope...), "p99")),
			}},
			{title: "Inbound by client workload", panels: []panel{
				timeseriesPanel("Requests by client and response code", "Requests per second by calling workload and response code.", unitReqps,
					q(sumRate(client+", response_code", requestsTotal, scope...), "{{source_workload}}.{{source_workload_namespace}} {{response_code}}")),
				timeseriesPanel("Success rate by client", "Share of each calling workload's requests that did not end in a 5xx response.", unitPercent,
					q(ratio(sumRate(client, requestsTotal, all(not5xx)...), sumRate(client, requestsTotal, scope...)),
						"{{source_workload}}.{{source_workload_namespace}}")).ratio(),
				latency("Latency by client", "Median and 99th percentile request duration by calling workload; the points are exemplars linking to traces.",
					qx(quantile("0.50", client, durationBucket, scope...), "p50 {{source_workload}}.{{source_workload_namespace}}"),
					qx(quantile("0.99", client, durationBucket, scope...), "p99 {{source_workload}}.{{source_workload_namespace}}")),
				timeseriesPanel("Throughput by client", "Request and response bytes per second by calling workload.", unitBps,
					q(sumRate(client, requestBytesSum, scope...), "request {{source_workload}}.{{source_workload_namespace}}"),
					q(sumRate(client, responseBytesSum, scope...), "response {{source_workload}}.{{source_workload_namespace}}")),
			}},
			{title: "Inbound by serving workload", panels: []panel{
				timeseriesPanel("Requests by serving workload and response code", "Requests per second by destination workload and response code.", unitReqps,
					q(sumRate(server+", response_code", requestsTotal, scope...), "{{destination_workload}}.{{destination_workload_namespace}} {{response_code}}")),
				timeseriesPanel("Success rate by serving workload", "Share of each serving workload's requests that did not end in a 5xx response.", unitPercent,
					q(ratio(sumRate(server, requestsTotal, all(not5xx)...), sumRate(server, requestsTotal, scope...)),
						"{{destination_workload}}.{{destination_workload_namespace}}")).ratio(),
				latency("Latency by serving workload", "Median and 99th percentile request duration by destination workload; the points are exemplars linking to traces.",
					qx(quantile("0.50", server, durationBucket, scope...), "p50 {{destination_workload}}.{{destination_workload_namespace}}"),
					qx(quantile("0.99", server, durationBucket, scope...), "p99 {{destination_workload}}.{{destination_workload_namespace}}")),
				timeseriesPanel("Throughput by serving workload", "Request and response bytes per second by destination workload.", unitBps,
					q(sumRate(server, requestBytesSum, scope...), "request {{destination_workload}}.{{destination_workload_namespace}}"),
					q(sumRate(server, responseBytesSum, scope...), "response {{destination_workload}}.{{destination_workload_namespace}}")),
			}},
			{title: "Response codes and flags", panels: []panel{
				timeseriesPanel("Requests by response code and gRPC status",
					"Requests per second by HTTP response code and, for gRPC, grpc_response_status (empty for plain HTTP).", unitReqps,
					q(sumRate("response_code, grpc_response_status", requestsTotal, scope...), "{{response_code}} {{grpc_response_status}}")).stacked(),
				timeseriesPanel("Requests by response flag", "Requests per second by Envoy response flag (\"-\": none).", unitReqps,
					q(sumRate("response_flags", requestsTotal, scope...), "{{response_flags}}")).stacked(),
				timeseriesPanel("Proxy-generated vs application errors",
					"Proxy: requests with an Envoy response flag (response_flags != \"-\"). Application: 5xx responses and gRPC errors "+
						"without a response flag.", unitReqps,
					q(orZero(sumRate("", requestsTotal, all(proxyFlagged)...)), "proxy (response flag set)"),
					q(orZero(appErrors(scope)), "application (5xx or gRPC error)")),
				timeseriesPanel("Requests by protocol and security", "Requests per second by request_protocol and connection_security_policy.", unitReqps,
					q(sumRate("request_protocol, connection_security_policy", requestsTotal, scope...), "{{request_protocol}} {{connection_security_policy}}")),
			}},
			{title: "Span metrics (what Jaeger's Monitor tab shows)", panels: spanPanels()},
			{title: "Latency and sizes", panels: []panel{
				heatmapPanel("Latency distribution", "Requests per second in each duration bucket; the points are exemplars linking to traces.", unitMs,
					q(sumRate("le", durationBucket, scope...), "{{le}}")),
				timeseriesPanel("Request size", "Median and 99th percentile request size (downstream wire bytes).", unitBytes,
					q(quantile("0.50", "", requestBytesB, scope...), "p50"),
					q(quantile("0.99", "", requestBytesB, scope...), "p99")),
				timeseriesPanel("Response size", "Median and 99th percentile response size (downstream wire bytes).", unitBytes,
					q(quantile("0.50", "", responseBytesB, scope...), "p50"),
					q(quantile("0.99", "", responseBytesB, scope...), "p99")),
			}},
		},
	}
}

// spanPanels read the span metrics (traces_span_metrics_*) of the
// dashboard's Jaeger service: the requests its spans stand for, their
// errors and duration, by operation (span_name) and kind (server: requests
// it served; client: requests it made), what Jaeger's Monitor tab plots.
func spanPanels() []panel {
	svc := eq("service_name", "$jaeger_service")
	const by = "span_kind, span_name"
	calls := sumRate(by, spanCalls, svc)
	return []panel{
		timeseriesPanel("Span calls by operation", "Requests per second of the service's spans by span kind and name "+
			"(traces_span_metrics_calls_total, from every request, sampled or not).", unitReqps,
			q(calls, "{{span_kind}} {{span_name}}")),
		timeseriesPanel("Span error rate by operation", "Share of the service's spans with an error status, by span kind and name.", unitPercent,
			q(ratioOrZero(sumRate(by, spanCalls, svc, eq("status_code", "STATUS_CODE_ERROR")), calls), "{{span_kind}} {{span_name}}")).ratio(),
		timeseriesPanel("Span duration by operation", "95th percentile duration of the service's spans by span kind and name "+
			"(traces_span_metrics_duration_milliseconds).", unitMs,
			q(quantile("0.95", by, spanDurationBucket, svc), "p95 {{span_kind}} {{span_name}}")).tracesOf("${jaeger_service}"),
	}
}
