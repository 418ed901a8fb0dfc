// Package completeness answers "how much of my mesh's traffic does my
// telemetry see", per proxy: the access-log entries meshlens took from a
// proxy (every ingest path: ALS, OpenTelemetry logs) against what that
// Envoy says it wrote to and dropped from its gRPC access loggers
// (access_logs.grpc_access_log.logs_written and logs_dropped, received
// over the Metrics Service). Each proxy also keeps the workload its
// streams' node identity names, so that a workload's proxies can be listed
// (Locked.Of: the hub's GET /api/v1/proxies, the graph page's node panel);
// Proxy.Incomplete applies the alert rule's threshold (IncompleteBelow).
//
// Tracker is the core (no lock, no I/O, time as a parameter); Locked is the
// adapter the hub holds (ADR 0009): it owns the lock and exports through
// Prometheus, copying under the lock and building after it.
package completeness
