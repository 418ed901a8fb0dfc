package board

// overview is the mesh at a glance: how much traffic, how much of it
// succeeds, how fast, which services carry it and which fail, and whether
// failures come from the proxies or from the applications.
func overview() spec {
	scope := []string{eq("reporter", "$reporter"), re("destination_service_namespace", "$namespace")}
	all := func(more ...string) []string { return with(scope, more...) }
	vars := append(baseVars(), reporterVar(), variable{
		name: "namespace", label: "Namespace", multi: true, all: true, allValue: ".*",
		query: labelValues(sel(requestsTotal, eq("reporter", "$reporter")), "destination_service_namespace"),
		desc:  "Namespaces of the destination services.",
	}, jaegerServiceVar("destination_canonical_service",
		traffic("destination_canonical_service", counted{sel(requestsTotal, scope...), "destination_canonical_service"})))
	total := sumRate("", requestsTotal, scope...)
	return spec{
		file:  "meshlens-overview.json",
		uid:   "meshlens-overview",
		title: "meshlens / Mesh overview",
		desc:  "Request rate, success, latency, top services and where errors come from, for the whole mesh (Istio standard metrics from meshlens).",
		vars:  vars,
		rows: []row{
			{title: "Mesh", panels: []panel{
				statPanel("Request rate", "Requests per second over all services, as reported by the selected reporter.", unitReqps,
					q(total, "requests")),
				successStat("Success rate", "Share of requests that did not end in a 5xx response (Istio's definition of success); "+
					"red below 95 %, yellow below 99 %.",
					q(ratio(sumRate("", requestsTotal, all(not5xx)...), total), "success")),
				statPanel("Server errors", "Requests per second that ended in a 5xx response.", unitReqps,
					q(orZero(sumRate("", requestsTotal, all(server5xx)...)), "5xx")),
				statPanel("Latency", "Median, 90th and 99th percentile request duration over all services.", unitMs,
					q(quantile("0.50", "", durationBucket, scope...), "p50"),
					q(quantile("0.90", "", durationBucket, scope...), "p90"),
					q(quantile("0.99", "", durationBucket, scope...), "p99")),
			}},
			{title: "Traffic and latency", panels: []panel{
				timeseriesPanel("Requests by response code", "Requests per second by HTTP response code (0: no response was sent).", unitReqps,
					q(sumRate("response_code", requestsTotal, scope...), "{{response_code}}")).stacked(),
				timeseriesPanel("Success rate", "Share of requests that did not end in a 5xx response.", unitPercent,
					q(ratio(sumRate("", requestsTotal, all(not5xx)...), total), "success")).ratio(),
				latency("Request latency", "Median, 90th and 99th percentile request duration over all services. "+
					"The points are exemplars: recent requests with their trace_id; click one to open its trace.",
					qx(quantile("0.50", "", durationBucket, scope...), "p50"),
					qx(quantile("0.90", "", durationBucket, scope...), "p90"),
					qx(quantile("0.99", "", durationBucket, scope...), "p99")),
				timeseriesPanel("Requests by protocol", "Requests per second by request_protocol (http, grpc).", unitReqps,
					q(sumRate("request_protocol", requestsTotal, scope...), "{{request_protocol}}")).stacked(),
			}},
			{title: "Top services", panels: []panel{
				tablePanel("Top services by traffic", "The ten destination services with the most requests per second.", unitReqps,
					qi(topk("10", sumRate("destination_service", requestsTotal, scope...)))),
				tablePanel("Top services by errors", "The ten destination services with the most 5xx responses per second.", unitReqps,
					qi(topk("10", orNone(sumRate("destination_service", requestsTotal, all(server5xx)...), "destination_service")))),
				tablePanel("Slowest services", "The ten destination services with the highest 99th percentile latency.", unitMs,
					qi(topk("10", quantile("0.99", "destination_service", durationBucket, scope...)))),
			}},
			{title: "Errors: proxy or application", panels: []panel{
				timeseriesPanel("Proxy-generated vs application errors",
					"Proxy: requests on which Envoy set a response flag (response_flags != \"-\": no healthy upstream, connection "+
						"failure, timeout, no route…); the application never answered, or the proxy cut it off. Application: 5xx "+
						"responses and gRPC errors without any response flag, returned by the service itself.", unitReqps,
					q(orZero(sumRate("", requestsTotal, all(proxyFlagged)...)), "proxy (response flag set)"),
					q(orZero(appErrors(scope)), "application (5xx or gRPC error)")),
				timeseriesPanel("Proxy-generated errors by flag", "Requests per second with an Envoy response flag, by flag and destination service.", unitReqps,
					q(orNone(sumRate("response_flags, destination_service", requestsTotal, all(proxyFlagged)...), "response_flags"), "{{response_flags}} {{destination_service}}")),
				timeseriesPanel("Application errors by service", "5xx responses without a response flag, by destination service and code.", unitReqps,
					q(orNone(sumRate("destination_service, response_code", requestsTotal, all(appFlagless, server5xx)...), "response_code"), "{{response_code}} {{destination_service}}")),
				timeseriesPanel("gRPC status codes", "gRPC requests per second by grpc_response_status (0 is OK).", unitReqps,
					q(sumRate("grpc_response_status", requestsTotal, all(eq("request_protocol", "grpc"))...), "{{grpc_response_status}}")).stacked(),
			}},
			{title: "gRPC and TCP", panels: []panel{
				timeseriesPanel("gRPC messages", "gRPC messages per second, both directions (streaming calls carry several per request).", unitCps,
					q(sumRate("", requestMessages, scope...), "request messages"),
					q(sumRate("", responseMessages, scope...), "response messages")),
				timeseriesPanel("TCP throughput", "Bytes per second on TCP connections: received from and sent to the clients.", unitBps,
					q(sumRate("", tcpReceived, scope...), "received"),
					q(sumRate("", tcpSent, scope...), "sent")),
				timeseriesPanel("TCP connections", "TCP connections opened and closed per second.", unitCps,
					q(sumRate("", tcpOpened, scope...), "opened"),
					q(sumRate("", tcpClosed, scope...), "closed")),
			}},
		},
	}
}
