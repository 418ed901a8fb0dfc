// Package envoystats re-exposes Envoy's own stats, received through the
// Metrics Service v3 (envoy.service.metrics.v3.StreamMetricsMessage), as
// Prometheus metrics shaped like Envoy's /stats/prometheus endpoint.
//
// It is a pure core: no I/O, no goroutines, no logging, and time is always a
// parameter. [Store] is not safe for concurrent use; [Locked] wraps it with a
// mutex for a gRPC server and a Prometheus registry sharing it.
//
// # Use
//
// A stream's identifier only comes in its first message. For each stream the
// caller builds a [NodeIdentity] from that identifier (the hub fills it from
// accesslog.Proxy, meshlens's one parser of Istio and plain Envoy node
// identity), then calls [Store.Observe] with every message's envoy_metrics,
// the same identity and
// the receive time. It calls [Store.Expire] periodically and registers the
// store (an unchecked prometheus.Collector) in its registry. [Store.Stats]
// returns the counters for the caller's self-metrics: samples accepted, and
// rejected by [Reason] ("no_node_id", "invalid_name", "istiocustom_skipped",
// "unsupported_type", "nan", "invalid_value", "type_conflict",
// "summary_shadowed", "name_collision", "duplicate_series", "series_limit",
// "too_many_buckets", "label_bytes_limit").
//
// # Names and tags
//
// Envoy sends flattened stat names
// ("cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_200")
// unless emit_tags_as_labels is set. Flattened names go through Envoy's
// default tag extractors (well_known_names.cc): each rule runs on the whole
// name, its tag value becomes a label named after the tag
// ("envoy.cluster_name" becomes envoy_cluster_name) and the matched text is
// removed from the name; the Prometheus name is "envoy_" + the remaining
// name with every byte outside [a-zA-Z0-9_] replaced by '_'. The example
// gives envoy_cluster_upstream_rq{envoy_cluster_name="outbound|9080||reviews.default.svc.cluster.local",envoy_response_code="200"}.
// Response classes follow Envoy: "upstream_rq_2xx" gives
// envoy_cluster_upstream_rq_xx{envoy_response_code_class="2"}. The rules are
// the regex forms of Envoy's defaults, plus the tokenized rules of newer
// releases (route, thrift, redis, local rate limits, dns_filter,
// connection_limit); rules for extensions added since (RBAC, proxy protocol,
// ext_authz, …) are not included, so those stats keep their prefixes in the
// name.
//
// Three refinements follow what Istio configures, because Envoy's rules cut
// a dotted value at its first dot:
//   - cluster names ending in ";" (Istio's delimited alt_stat_name,
//     "cluster.<name>;.upstream_rq_total") and Kubernetes FQDN cluster names
//     ("….<ns>.svc.cluster.local", Istio's former cluster_name rule) are kept
//     whole; other dotted cluster names are cut as Envoy cuts them
//     ("outbound|443||www.google.com" gives "outbound|443||www");
//   - HTTP connection manager prefixes ending in ";" and Istio's listener
//     style prefixes ("inbound_0.0.0.0_9080") are kept whole;
//   - tcp/udp/mongo/… prefixes anchored on the stat's last component keep
//     their dots, as the regex forms of Envoy's rules do.
//
// Every rule's result is cached per flattened name in a bounded cache shared
// by all nodes; in steady state Observe finds each series by its stat name
// and runs no regex at all.
//
// Samples that carry labels are taken as tag-extracted (emit_tags_as_labels):
// the name is sanitized as above and the labels kept, their names sanitized.
//
// Istio's standard metrics are not re-exposed: names under the istiocustom
// namespace ("istiocustom.istio_requests_total.reporter.source.…") and the
// Wasm-era encoding ("reporter=.=source;.;…") are skipped and counted as
// "istiocustom_skipped". meshlens computes istio_* series itself; exposing
// Envoy's copies would duplicate and clash with them.
//
// # Labels
//
// Every series carries the node labels node_id, node_cluster, namespace,
// workload and pod (from [NodeIdentity]; "" when unknown), so each metric
// name has one fixed label set. Envoy's tag labels are envoy_* (and
// cipher_suite) and never clash with them; a label sent under
// emit_tags_as_labels that does, or that is named le or quantile, is renamed
// exported_<name>. When scraping meshlens, use honor_labels: true so that
// Prometheus keeps namespace and pod instead of renaming them exported_*.
//
// A metric name keeps the first type it was seen with; samples of another
// type are rejected ("type_conflict"). Its label set is the union of the tag
// labels of its series; a series without one of them exports it as "". Two
// stats of one node that would export the same series, and names that would
// collide with a summary's or histogram's _count/_sum/_bucket series, are
// rejected, so a scrape never fails.
//
// # Values
//
//   - COUNTER: Envoy's value is cumulative (report_counters_as_deltas false,
//     the default and what Istio configures). When it goes down — Envoy
//     restarted, or the stat was recreated — the last value is added to a
//     per-series offset, so the exported counter never decreases across
//     restarts and reconnects: exported = offset + value. With
//     Config.CountersAsDeltas each sample is added instead. Counter continuity
//     holds as long as the series does
//     not expire (Config.TTL) and the node ID is unique per Envoy.
//   - GAUGE and UNTYPED: the last value, exposed as a gauge.
//   - SUMMARY: exposed as a summary: quantiles of the last flush interval (NaN
//     when the interval had no samples, as Envoy sends them); sample_count and
//     sample_sum, which Envoy computes per interval, are accumulated (the 2019
//     captures carry neither: they export 0).
//   - HISTOGRAM: Envoy's buckets, count and sum are per flush interval; they
//     are accumulated into a cumulative Prometheus histogram. A change of
//     bucket layout restarts the accumulation.
//
// Envoy's default histogram_emit_mode (SUMMARY_AND_HISTOGRAM) sends each
// histogram both ways under one name. The histogram wins: a summary name
// becomes a histogram when a HISTOGRAM sample arrives, and later summaries
// for it are dropped as "summary_shadowed" (set histogram_emit_mode:
// HISTOGRAM on the proxies to avoid the overhead).
//
// Samples' timestamps are not exported; Prometheus stamps the scrape.
//
// # Bounds
//
// Config.MaxSeries caps the series over all nodes; samples that would create
// more are rejected ("series_limit") while existing series keep updating.
// Expire removes series without a sample for Config.TTL (oldest first, from
// an update-ordered list), the metric names left empty, and idle nodes.
// A single sample is limited to 64 quantiles, MaxHistogramBuckets (64)
// buckets ("too_many_buckets") and 32 labels, a metric name to 64 labels.
// By bytes: a stat name to MaxStatNameLength, a tag value to
// MaxLabelValueLength, a labeled sample's labels (names and values
// together) to MaxSampleLabelBytes, the label names of a metric name to
// MaxFamilyLabelNameBytes; the node labels come cut by the caller
// (accesslog.Proxy.CutLabels). Every exported line is thereby bounded
// (docs/operations.md gives the figure); samples over a bound are rejected
// as "invalid_name".
//
// Config.MaxLabelBytes caps the store's label-set bytes: what the lines of
// its series repeat (metric name, label names and escaped values) and the
// # HELP and # TYPE lines of its metric names. A sample that would create a
// series over it is rejected ("label_bytes_limit"); the bytes come back
// when series expire. With MaxSeries it bounds the whole envoy_*
// exposition ([ExpositionBound]).
package envoystats
