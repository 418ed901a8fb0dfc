// Package api is the concurrency-safe adapter around the pure topology
// graph: Live serialises access to a topology.Graph, takes record batches
// from the hub (ConsumeRecords), and serves the graph over HTTP:
//
//	GET /api/v1/graph               meshlens JSON (nodes, edges, per-window stats); ?format=dot for DOT
//	GET /api/v1/graph.dot           Graphviz DOT, for scripts
//	GET /api/v1/graph/stream        server-sent events: a snapshot, then changes
//	GET /api/namespaces/graph       Kiali's graph API (namespaces=…&graphType=…&duration=…)
//	GET /api/v1/proxies             the telemetry completeness of a workload's proxies (Options.Proxies)
//
// Every route but the stream also serves the global graph of all meshlens
// replicas with ?source=prometheus when topology.Config.Global names a
// Prometheus-compatible query API (see topology/promsource); its failures
// answer 502.
//
// A snapshot holds the graph's lock only to copy edge counters, a few
// hundred edges at a time (topology.SnapshotCursor); it is built, rendered
// and encoded after the lock is released. An API request or a stream tick
// thus holds up record batches for a fraction of a millisecond at a time,
// not for the whole snapshot.
//
// The handler is meant to be mounted on the hub's mux at "/api/". The
// stream publisher is the only goroutine: it starts with the first stream
// client, computes at most one snapshot per option set per publish interval
// (woken through a one-slot channel when records arrive) and stops on Close.
package api
