// Package spans rebuilds OpenTelemetry spans from meshlens's canonical
// access-log records (accesslog.Record) and aggregates the span metrics
// Jaeger's Monitor tab (SPM) queries.
//
// The core (Sampler, Builder, Metrics) does no I/O, starts no goroutines,
// never logs and takes time as a parameter. Its adapters are in the same
// package (docs/adr/0009): Pipeline, the bounded queue and the goroutine that
// hand spans to the collector's traces pipeline, which every ingest path
// calls; and Locked, the span metrics behind their lock and their
// Prometheus collector, which the hub feeds.
//
// One record becomes one span: a CLIENT span for the source reporter (client
// sidecars, gateways), a SERVER span for the destination reporter and for
// waypoints. Trace ids come from the logged W3C traceparent or B3 headers,
// else (when enabled) from x-request-id; span ids are derived from the hop so
// that the two reports of one hop become a client→server parent/child pair
// on every replica without any shared state. docs/adr/0005-span-reconstruction.md
// states the rules and the Envoy behaviour they rely on.
//
// Span names (AppendName), and so the span_name label of the span metrics,
// have the bounded cardinality of Istio's own proxy span names: Istio names
// a catch-all route's spans "<service host>:<port>/*", and meshlens, which
// knows no route match, names every span "<destination service host>:<port>/*"
// ("reviews.default.svc.cluster.local:9080/*"). The host is the record's
// destination_service; the port is the Istio upstream cluster's, else the
// :authority's, else the local port on the server side. The request path,
// never its query, is the url.path attribute, the route name Envoy logged
// http.route (unless it is one of Istio's generic ones); neither is in a name
// or a label, so paths with ids cannot multiply series.
//
// Sampling (Sampler) is decided from the record alone, before any pdata is
// built: consistent by trace id (the low 56 bits, as W3C's random trace-id
// flag and OpenTelemetry's consistent probability sampling use them), with
// errors and slow requests always kept when configured.
package spans
