package board

// meshlens's own metrics (collector/hubextension, collector/alsreceiver and
// the span exporter in the root module).
const (
	entriesReceived  = "meshlens_receiver_entries_received_total"
	entriesProcessed = "meshlens_receiver_entries_processed_total"
	entriesRejected  = "meshlens_receiver_entries_rejected_total"
	entriesDropped   = "meshlens_receiver_entries_dropped_total"
	messages         = "meshlens_receiver_messages_total"
	messagesRejected = "meshlens_receiver_messages_rejected_total"
	receivedBytes    = "meshlens_receiver_bytes_total"
	identitySource   = "meshlens_receiver_identity_source_total"
	streamsOpened    = "meshlens_receiver_streams_total"
	streamsEnded     = "meshlens_receiver_streams_ended_total"
	activeStreams    = "meshlens_receiver_active_streams"
	internResets     = "meshlens_receiver_intern_table_resets_total"
	tcpTracked       = "meshlens_receiver_tcp_connections_tracked"
	metricFamilies   = "meshlens_receiver_envoy_metric_families_total"
	batchDuration    = "meshlens_receiver_batch_duration_seconds_bucket"
	seriesActive     = "meshlens_series_active"
	seriesOverflow   = "meshlens_series_overflow_total"
	seriesExpired    = "meshlens_series_expired_total"
	envoyAccepted    = "meshlens_envoy_stats_samples_accepted_total"
	envoyRejected    = "meshlens_envoy_stats_samples_rejected_total"
	envoySeries      = "meshlens_envoy_stats_series"
	envoyRestarts    = "meshlens_envoy_stats_restarts_total"
	spansTotal       = "meshlens_spans_total"
	spansDropped     = "meshlens_spans_dropped_total"
	spansRecords     = "meshlens_spans_records_total"
	spansQueued      = "meshlens_spans_queued"
	processCPU       = "process_cpu_seconds_total"
	processRSS       = "process_resident_memory_bytes"
	goHeapInuse      = "go_memstats_heap_inuse_bytes"
	goGoroutines     = "go_goroutines"
	proxyReceived    = "meshlens_proxy_entries_received_total"
	// Envoy's own count of its gRPC access loggers' entries, re-exported
	// from the Metrics Service.
	envoyLogsWritten = "envoy_access_logs_grpc_access_log_logs_written"
	envoyLogsDropped = "envoy_access_logs_grpc_access_log_logs_dropped"
)

// self is meshlens watching itself: ingest, identity resolution, series
// budgets, Envoy stats and span export.
func self() spec {
	received := sumRate("", entriesReceived)
	lost := orZero(sumRate("", entriesRejected)) + " + " + orZero(sumRate("", entriesDropped))
	return spec{
		file:  "meshlens-self.json",
		uid:   "meshlens-self",
		title: "meshlens / Self-monitoring",
		desc:  "meshlens's own metrics: entries received, processed, rejected and dropped; identity sources; series and budgets; Envoy stats; span export; the process.",
		vars:  baseVars(),
		rows: []row{
			{title: "Ingest", panels: []panel{
				statPanel("Entries received", "Access-log entries per second received in well-formed messages.", unitCps, q(received, "received")),
				statPanel("Entries lost", "Share of received entries that were rejected or dropped (received = processed + rejected + dropped).", unitPercent,
					q("("+lost+") / "+received, "lost")),
				statPanel("Active streams", "gRPC streams open now (ALS and Metrics Service).", unitShort, q(sumBy("", sel(activeStreams)), "streams")),
				statPanel("Istio series", "Istio series held (HTTP and TCP families).", unitShort, q(sumBy("", sel(seriesActive)), "series")),
				timeseriesPanel("Entries", "Access-log entries per second: received, processed (handed to the hub), rejected and dropped.", unitCps,
					q(received, "received"),
					q(sumRate("", entriesProcessed), "processed"),
					q(orZero(sumRate("", entriesRejected)), "rejected"),
					q(orZero(sumRate("", entriesDropped)), "dropped")),
				timeseriesPanel("Rejected and dropped entries by reason",
					"Entries per second the receiver rejected (malformed, no identifier…) or the hub could not take, by reason.", unitCps,
					q(orNone(sumRate("reason", entriesRejected), "reason"), "rejected {{reason}}"),
					q(orNone(sumRate("reason", entriesDropped), "reason"), "dropped {{reason}}")),
				timeseriesPanel("Messages by service", "gRPC messages per second by service (als, metrics), and whole messages rejected by reason.", unitCps,
					q(sumRate("service", messages), "{{service}}"),
					q(orNone(sumRate("service, reason", messagesRejected), "reason"), "rejected {{service}} {{reason}}")),
				timeseriesPanel("Bytes received by service", "Bytes per second of gRPC messages received, by service.", unitBps,
					q(sumRate("service", receivedBytes), "{{service}}")),
				timeseriesPanel("Batch latency", "From a message's arrival to its entries being aggregated (decode, normalise, "+
					"metrics, graph): median, 99th percentile and maximum bucket reached.", unitSeconds,
					q(quantile("0.50", "", batchDuration), "p50"),
					q(quantile("0.99", "", batchDuration), "p99"),
					q(quantile("1", "", batchDuration), "max")),
				timeseriesPanel("Streams", "gRPC streams open now by service, and streams opened and ended per second.", unitShort,
					q(sumBy("service", sel(activeStreams)), "open {{service}}"),
					q(sumRate("service", streamsOpened), "opened/s {{service}}"),
					q(sumRate("service, reason", streamsEnded), "ended/s {{service}} {{reason}}")),
			}},
			{title: "Identity resolution", panels: []panel{
				timeseriesPanel("Client-side identity sources",
					"Records per second by where the source side's identity came from (node_metadata, peer_metadata, san, cluster_name, authority, none).", unitCps,
					q(sumRate("source", identitySource, eq("side", "source")), "{{source}}")).stacked(),
				timeseriesPanel("Server-side identity sources",
					"Records per second by where the destination side's identity came from.", unitCps,
					q(sumRate("source", identitySource, eq("side", "destination")), "{{source}}")).stacked(),
				timeseriesPanel("Unknown identities", "Share of records whose side stayed unknown (source none): the labels say unknown.", unitPercent,
					q(ratioOrZero(sumRate("side", identitySource, eq("source", "none")), sumRate("side", identitySource)), "{{side}}")).ratio(),
			}},
			{title: "Series and budgets", panels: []panel{
				timeseriesPanel("Istio series held", "Series held per family (http, tcp); each family's max_series is its budget.", unitShort,
					q(sumBy("family", sel(seriesActive)), "{{family}}")),
				timeseriesPanel("Records into overflow series",
					"Records per second aggregated into an overflow series because the family's budget was spent: raise max_series or cut labels.", unitCps,
					q(orNone(sumRate("family", seriesOverflow), "family"), "{{family}}")),
				timeseriesPanel("Series expired", "Istio series removed per second after series_ttl without records.", unitCps,
					q(orZero(sumRate("", seriesExpired)), "expired")),
				timeseriesPanel("Receiver tables", "Open TCP connections tracked for byte deltas, and per-stream label tables cleared because they were full (per second).", unitShort,
					q(sumBy("", sel(tcpTracked)), "TCP connections tracked"),
					q(orZero(sumRate("", internResets)), "intern table resets/s")),
			}},
			{title: "Envoy stats (Metrics Service)", panels: []panel{
				timeseriesPanel("Envoy stat samples", "Samples per second from the Metrics Service: stored for re-export, and not re-exported by reason.", unitCps,
					q(sumRate("", envoyAccepted), "accepted"),
					q(orNone(sumRate("reason", envoyRejected), "reason"), "rejected {{reason}}")),
				timeseriesPanel("envoy_* series held", "envoy_* series meshlens re-exports.", unitShort,
					q(sumBy("", sel(envoySeries)), "series")),
				timeseriesPanel("Envoy restarts and metric families", "Envoy counters that went down (restarts, kept cumulative) and metric families received, per second.", unitCps,
					q(orZero(sumRate("", envoyRestarts)), "restarts"),
					q(sumRate("", metricFamilies), "metric families")),
			}},
			{title: "Telemetry completeness", panels: []panel{
				timeseriesPanel("Completeness by proxy",
					"Share of the entries each proxy's gRPC access loggers wrote or dropped (its Envoy's own count, over the Metrics Service) "+
						"that meshlens received: the ten lowest. Below 100 %: the Envoy drops entries, they are lost on the way, "+
						"or they go to another access-log server (alert MeshlensProxyTelemetryIncomplete).", unitPercent,
					q("bottomk(10, "+sumRate("node_id", proxyReceived)+" / ("+sumRate("node_id", envoyLogsWritten)+" + "+
						sumRate("node_id", envoyLogsDropped)+"))", "{{node_id}}")).ratio(),
				timeseriesPanel("Entries missing by proxy",
					"Entries per second a proxy's loggers wrote or dropped that meshlens did not receive, over every replica "+
						"(the counters of all instances summed, whichever instance got a proxy's streams; in flight included: "+
						"a logger flushes every second).", unitCps,
					q(orNone("clamp_min("+sumRate("node_id", envoyLogsWritten)+" + "+sumRate("node_id", envoyLogsDropped)+" - "+
						sumRate("node_id", proxyReceived)+", 0)", "node_id"), "{{node_id}}")),
			}},
			{title: "Span export", panels: []panel{
				timeseriesPanel("Spans", "Spans per second rebuilt from access-log entries (built) and taken by the traces pipeline (exported); "+
					"built = exported + dropped + queued. Zero while receivers::envoyals::traces::enabled is off.", unitCps,
					q(sumRate("stage", spansTotal), "{{stage}}")),
				timeseriesPanel("Spans dropped by reason", "Spans per second not exported: queue_full (receiver queue), pipeline_error (the pipeline refused them), shutdown.", unitCps,
					q(sumRate("reason", spansDropped), "{{reason}}")),
				timeseriesPanel("Sampling decisions", "Records per second considered for span reconstruction, by decision: rate, error, slow (kept), sampled_out, ineligible.", unitCps,
					q(sumRate("decision", spansRecords), "{{decision}}")).stacked(),
				timeseriesPanel("Spans queued", "Rebuilt spans waiting in the receiver's queue for the traces pipeline.", unitShort,
					q(sumBy("", sel(spansQueued)), "queued")),
			}},
			{title: "Process", panels: []panel{
				timeseriesPanel("CPU", "CPU used by meshlens (1 = one core).", unitPercent,
					q(sumBy("instance", rate(sel(processCPU))), "{{instance}}")),
				timeseriesPanel("Memory", "Resident memory and Go heap in use.", unitBytes,
					q(sumBy("instance", sel(processRSS)), "resident {{instance}}"),
					q(sumBy("instance", sel(goHeapInuse)), "heap in use {{instance}}")),
				timeseriesPanel("Goroutines", "Goroutines running in meshlens.", unitShort,
					q(sumBy("instance", sel(goGoroutines)), "{{instance}}")),
			}},
		},
	}
}
