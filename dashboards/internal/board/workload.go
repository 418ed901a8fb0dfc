package board

// workload is one workload: who calls it (inbound) and what it calls
// (outbound).
func workload() spec {
	rep := eq("reporter", "$reporter")
	in := []string{rep, eq("destination_workload", "$workload"), eq("destination_workload_namespace", "$namespace")}
	out := []string{rep, eq("source_workload", "$workload"), eq("source_workload_namespace", "$namespace")}
	inNS := sel(requestsTotal, rep, eq("destination_workload_namespace", "$namespace"))
	outNS := sel(requestsTotal, rep, eq("source_workload_namespace", "$namespace"))
	vars := append(baseVars(), reporterVar(),
		byTraffic("namespace", "Namespace", "Namespace of the workload; the busiest first.", "namespace",
			counted{sel(requestsTotal, rep), "destination_workload_namespace"}, counted{sel(requestsTotal, rep), "source_workload_namespace"}),
		byTraffic("workload", "Workload", "The workload (Deployment) to look at; the busiest (requests served and made) first.", "workload",
			counted{inNS, "destination_workload"}, counted{outNS, "source_workload"}),
		jaegerServiceVar("canonical_service", traffic("canonical_service",
			counted{sel(requestsTotal, in...), "destination_canonical_service"}, counted{sel(requestsTotal, out...), "source_canonical_service"})),
	)
	const (
		caller = "source_workload, source_workload_namespace"
		callee = "destination_service"
	)
	inTotal := sumRate("", requestsTotal, in...)
	outTotal := sumRate("", requestsTotal, out...)
	return spec{
		file:  "meshlens-workload.json",
		uid:   "meshlens-workload",
		title: "meshlens / Workload",
		desc:  "One workload: inbound requests by calling workload, outbound requests by called service.",
		vars:  vars,
		rows: []row{
			{title: "Workload", panels: []panel{
				statPanel("Inbound request rate", "Requests per second the workload served.", unitReqps, q(inTotal, "inbound")),
				successStat("Inbound success rate", "Share of served requests that did not end in a 5xx response; red below 95 %, yellow below 99 %.",
					q(ratio(sumRate("", requestsTotal, with(in, not5xx)...), inTotal), "inbound")),
				statPanel("Outbound request rate", "Requests per second the workload made.", unitReqps, q(outTotal, "outbound")),
				successStat("Outbound success rate", "Share of the workload's requests that did not end in a 5xx response; red below 95 %, yellow below 99 %.",
					q(ratio(sumRate("", requestsTotal, with(out, not5xx)...), outTotal), "outbound")),
			}},
			{title: "Inbound by calling workload", panels: []panel{
				timeseriesPanel("Inbound requests by caller and response code", "Requests per second by calling workload and response code.", unitReqps,
					q(sumRate(caller+", response_code", requestsTotal, in...), "{{source_workload}}.{{source_workload_namespace}} {{response_code}}")),
				timeseriesPanel("Inbound success rate by caller", "Share of each caller's requests that did not end in a 5xx response.", unitPercent,
					q(ratio(sumRate(caller, requestsTotal, with(in, not5xx)...), sumRate(caller, requestsTotal, in...)),
						"{{source_workload}}.{{source_workload_namespace}}")).ratio(),
				latency("Inbound latency by caller", "Median and 99th percentile duration of served requests by caller; the points are exemplars linking to traces.",
					qx(quantile("0.50", caller, durationBucket, in...), "p50 {{source_workload}}.{{source_workload_namespace}}"),
					qx(quantile("0.99", caller, durationBucket, in...), "p99 {{source_workload}}.{{source_workload_namespace}}")),
				timeseriesPanel("Inbound throughput by caller", "Request and response bytes per second by caller.", unitBps,
					q(sumRate(caller, requestBytesSum, in...), "request {{source_workload}}.{{source_workload_namespace}}"),
					q(sumRate(caller, responseBytesSum, in...), "response {{source_workload}}.{{source_workload_namespace}}")),
			}},
			{title: "Outbound by called service", panels: []panel{
				timeseriesPanel("Outbound requests by service and response code", "Requests per second by destination service and response code.", unitReqps,
					q(sumRate(callee+", response_code", requestsTotal, out...), "{{destination_service}} {{response_code}}")),
				timeseriesPanel("Outbound success rate by service", "Share of the requests to each service that did not end in a 5xx response.", unitPercent,
					q(ratio(sumRate(callee, requestsTotal, with(out, not5xx)...), sumRate(callee, requestsTotal, out...)),
						"{{destination_service}}")).ratio(),
				latency("Outbound latency by service", "Median and 99th percentile duration of the workload's requests by destination service; the points are exemplars linking to traces.",
					qx(quantile("0.50", callee, durationBucket, out...), "p50 {{destination_service}}"),
					qx(quantile("0.99", callee, durationBucket, out...), "p99 {{destination_service}}")),
				timeseriesPanel("Outbound throughput by service", "Request and response bytes per second by destination service.", unitBps,
					q(sumRate(callee, requestBytesSum, out...), "request {{destination_service}}"),
					q(sumRate(callee, responseBytesSum, out...), "response {{destination_service}}")),
				timeseriesPanel("Outbound proxy-generated errors", "Requests per second on which Envoy set a response flag, by flag and destination service.", unitReqps,
					q(orNone(sumRate("response_flags, "+callee, requestsTotal, with(out, proxyFlagged)...), "response_flags"), "{{response_flags}} {{destination_service}}")),
				timeseriesPanel("Outbound gRPC messages", "gRPC messages per second on the workload's gRPC calls, by destination service.", unitCps,
					q(sumRate(callee, requestMessages, out...), "sent {{destination_service}}"),
					q(sumRate(callee, responseMessages, out...), "received {{destination_service}}")),
			}},
		},
	}
}
