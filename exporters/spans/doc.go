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
// Sampling (Sampler) is decided from the record alone, before any pdata is
// built: consistent by trace id (the low 56 bits, as W3C's random trace-id
// flag and OpenTelemetry's consistent probability sampling use them), with
// errors and slow requests always kept when configured.
package spans
