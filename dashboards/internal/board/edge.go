package board

// edge compares the two reports of one caller → service pair: what the
// client-side proxy saw (reporter="source") and what the server-side proxy
// saw (reporter="destination"). The difference is the network and the
// proxies: requests that never reached the server, and latency added on the
// way.
func edge() spec {
	pair := []string{eq("source_workload", "$caller"), eq("destination_service", "$service")}
	client := with(pair, eq("reporter", "source"))
	server := with(pair, eq("reporter", "destination"))
	reported := func(side string, more ...string) string {
		return sel(requestsTotal, append([]string{eq("reporter", side), eq("destination_service_namespace", "$namespace")}, more...)...)
	}
	vars := append(baseVars(),
		byTraffic("namespace", "Namespace", "Namespace of the called service; the busiest first.", "destination_service_namespace",
			counted{sel(requestsTotal, eq("reporter", "destination")), "destination_service_namespace"}),
		// The busiest service that both sides report: a service only one
		// side reports (a host outside the mesh, a caller without a proxy)
		// has nothing to compare.
		byValue("service", "Service", "The called service (FQDN); the busiest that both sides report first.", "destination_service",
			traffic("destination_service", counted{reported("destination"), "destination_service"})+
				" and on (destination_service) "+traffic("destination_service", counted{reported("source"), "destination_service"})),
		byTraffic("caller", "Caller", "The calling workload, as its own proxy reports it; the busiest first.", "source_workload",
			counted{sel(requestsTotal, eq("reporter", "source"), eq("destination_service", "$service")), "source_workload"}),
		jaegerServiceVar("destination_canonical_service",
			traffic("destination_canonical_service", counted{sel(requestsTotal, server...), "destination_canonical_service"})),
	)
	clientTotal := sumRate("", requestsTotal, client...)
	serverTotal := sumRate("", requestsTotal, server...)
	return spec{
		file:  "meshlens-edge.json",
		uid:   "meshlens-edge",
		title: "meshlens / Edge (client vs server)",
		desc:  "One caller → service pair seen from both ends: the client-side report (reporter=source) next to the server-side report (reporter=destination).",
		vars:  vars,
		rows: []row{
			{title: "Requests", panels: []panel{
				timeseriesPanel("Request rate: client vs server", "Requests per second as the caller's proxy and the service's proxies report them.", unitReqps,
					q(clientTotal, "client side"),
					q(serverTotal, "server side")),
				timeseriesPanel("Requests that never reached the server",
					"Client-side minus server-side request rate: requests the caller's proxy failed or answered itself "+
						"(connection failures, no healthy upstream, circuit breaking, local timeouts).", unitReqps,
					q(clientTotal+" - "+serverTotal, "client only")),
				timeseriesPanel("Success rate: client vs server", "Share of requests that did not end in a 5xx response, on each side.", unitPercent,
					q(ratio(sumRate("", requestsTotal, with(client, not5xx)...), clientTotal), "client side"),
					q(ratio(sumRate("", requestsTotal, with(server, not5xx)...), serverTotal), "server side")).ratio(),
				timeseriesPanel("Errors: client vs server", "5xx responses per second on each side, and requests on which the client's proxy set a response flag.", unitReqps,
					q(orZero(sumRate("", requestsTotal, with(client, server5xx)...)), "client side 5xx"),
					q(orZero(sumRate("", requestsTotal, with(server, server5xx)...)), "server side 5xx"),
					q(orZero(sumRate("", requestsTotal, with(client, proxyFlagged)...)), "client proxy flagged")),
			}},
			{title: "Latency", panels: []panel{
				latency("Latency: client vs server", "Median and 99th percentile duration on each side; the points are exemplars linking to traces.",
					qx(quantile("0.50", "", durationBucket, client...), "p50 client side"),
					qx(quantile("0.50", "", durationBucket, server...), "p50 server side"),
					qx(quantile("0.99", "", durationBucket, client...), "p99 client side"),
					qx(quantile("0.99", "", durationBucket, server...), "p99 server side")),
				timeseriesPanel("Mean latency and the network and proxies' share",
					"Mean duration on each side; their difference is the time spent between the caller's proxy and the server's proxy "+
						"(network, TLS, the two proxies).", unitMs,
					q(meanLatency(client...), "client side"),
					q(meanLatency(server...), "server side"),
					q("("+meanLatency(client...)+") - ("+meanLatency(server...)+")", "network + proxies")),
			}},
			{title: "Response codes and flags", panels: []panel{
				timeseriesPanel("Response codes seen by the client", "Requests per second by response code, client-side report.", unitReqps,
					q(sumRate("response_code", requestsTotal, client...), "{{response_code}}")).stacked(),
				timeseriesPanel("Response codes seen by the server", "Requests per second by response code, server-side report.", unitReqps,
					q(sumRate("response_code", requestsTotal, server...), "{{response_code}}")).stacked(),
				timeseriesPanel("Response flags seen by the client", "Requests per second by Envoy response flag on the client side (\"-\": none).", unitReqps,
					q(sumRate("response_flags", requestsTotal, client...), "{{response_flags}}")).stacked(),
				timeseriesPanel("Response flags seen by the server", "Requests per second by Envoy response flag on the server side (\"-\": none).", unitReqps,
					q(sumRate("response_flags", requestsTotal, server...), "{{response_flags}}")).stacked(),
			}},
		},
	}
}
