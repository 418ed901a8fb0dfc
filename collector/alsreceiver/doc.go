// Package alsreceiver is the meshlens collector receiver (type "envoyals")
// for Envoy's Access Log Service v3 (HTTP and TCP entries) and Metrics
// Service v3, served on one gRPC port.
//
// Each gRPC stream gets its own accesslog.Stream, which keeps the stream's
// Identifier (sent only on the first message) and normalises every entry into
// an accesslog.Record without converting it into collector pdata. Batches of
// records are handed to a Sink found among the collector's extensions (the
// meshlens hub), which aggregates them into metrics and the topology graph.
//
// Bad input never crashes the receiver: malformed messages, streams without
// an identifier, v2 clients and oversized messages end the stream with a
// clear gRPC status and are counted by reason on /metrics.
package alsreceiver
