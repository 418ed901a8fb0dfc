package board

// tcp is one TCP service: bytes and connections by client and by serving
// workload, security and how connections ended.
//
// The service is selected by destination_service_name and
// destination_service_namespace, not destination_service: for TCP the
// server-side proxy has no host to report and, as in Istio, reports its own
// canonical service name as destination_service ("mongodb") where the client
// side reports the FQDN ("mongodb.default.svc.cluster.local"). Name and
// namespace are the same in both reports, so the reporter can be switched.
func tcp() spec {
	rep := eq("reporter", "$reporter")
	scope := []string{rep, eq("destination_service_namespace", "$namespace"), eq("destination_service_name", "$service")}
	vars := append(baseVars(), reporterVar(),
		byTraffic("namespace", "Namespace", "Namespace of the TCP service (unknown for hosts outside the mesh); the busiest first.",
			"destination_service_namespace", counted{sel(tcpOpened, rep), "destination_service_namespace"}),
		byTraffic("service", "Service", "The destination service's short name (destination_service_name); the busiest first.",
			"destination_service_name", counted{sel(tcpOpened, rep, eq("destination_service_namespace", "$namespace")), "destination_service_name"}),
	)
	const (
		client = "source_workload, source_workload_namespace"
		server = "destination_workload, destination_workload_namespace"
	)
	return spec{
		file:  "meshlens-tcp.json",
		uid:   "meshlens-tcp",
		title: "meshlens / TCP service",
		desc:  "One TCP service: bytes and connections by client and serving workload, connection security and response flags.",
		vars:  vars,
		rows: []row{
			{title: "TCP service", panels: []panel{
				statPanel("Received", "Bytes per second received from the clients.", unitBps, q(sumRate("", tcpReceived, scope...), "received")),
				statPanel("Sent", "Bytes per second sent to the clients.", unitBps, q(sumRate("", tcpSent, scope...), "sent")),
				statPanel("Connections opened", "TCP connections opened per second.", unitCps, q(sumRate("", tcpOpened, scope...), "opened")),
				statPanel("Connections closed", "TCP connections closed per second.", unitCps, q(sumRate("", tcpClosed, scope...), "closed")),
			}},
			{title: "By client workload", panels: []panel{
				timeseriesPanel("Throughput by client", "Bytes per second received from and sent to each client workload.", unitBps,
					q(sumRate(client, tcpReceived, scope...), "received {{source_workload}}.{{source_workload_namespace}}"),
					q(sumRate(client, tcpSent, scope...), "sent {{source_workload}}.{{source_workload_namespace}}")),
				timeseriesPanel("Connections by client", "Connections opened and closed per second by client workload.", unitCps,
					q(sumRate(client, tcpOpened, scope...), "opened {{source_workload}}.{{source_workload_namespace}}"),
					q(sumRate(client, tcpClosed, scope...), "closed {{source_workload}}.{{source_workload_namespace}}")),
			}},
			{title: "By serving workload", panels: []panel{
				timeseriesPanel("Throughput by serving workload", "Bytes per second received and sent by each destination workload.", unitBps,
					q(sumRate(server, tcpReceived, scope...), "received {{destination_workload}}.{{destination_workload_namespace}}"),
					q(sumRate(server, tcpSent, scope...), "sent {{destination_workload}}.{{destination_workload_namespace}}")),
				timeseriesPanel("Connections by serving workload", "Connections opened and closed per second by destination workload.", unitCps,
					q(sumRate(server, tcpOpened, scope...), "opened {{destination_workload}}.{{destination_workload_namespace}}"),
					q(sumRate(server, tcpClosed, scope...), "closed {{destination_workload}}.{{destination_workload_namespace}}")),
			}},
			{title: "Connections", panels: []panel{
				timeseriesPanel("Connections by security policy",
					"Connections opened per second by connection_security_policy (mutual_tls or none on the server side; "+
						"always unknown on the client side, as in Istio).", unitCps,
					q(sumRate("connection_security_policy", tcpOpened, scope...), "{{connection_security_policy}}")).stacked(),
				timeseriesPanel("Connections closed by response flag", "Connections closed per second by Envoy response flag (\"-\": none; UF: upstream connection failure).", unitCps,
					q(sumRate("response_flags", tcpClosed, scope...), "{{response_flags}}")).stacked(),
			}},
		},
	}
}
