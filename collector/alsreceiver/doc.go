// Package alsreceiver is the meshlens collector receiver (type "envoyals")
// for Envoy's Access Log Service v3 (HTTP and TCP entries) and Metrics
// Service v3, served on one gRPC port.
//
// Each gRPC stream gets its own accesslog.Stream, which keeps the stream's
// Identifier (sent only on the first message) and normalises every entry into
// an accesslog.Record without converting it into collector pdata, and its own
// accesslog.StreamLocal. Batches of records are handed, under the core's
// ingest contract (accesslog.Consumer), to the hub found among the
// collector's extensions (Sink), which aggregates them; with
// traces.enabled the consumed batches then go to an exporters/spans Pipeline.
//
// Bad input never crashes the receiver: malformed messages, streams without
// an identifier, v2 clients and oversized messages end the stream with a
// clear gRPC status and are counted by reason on /metrics.
//
// Below gRPC, the guard (guard.go) reads each connection's HTTP/2 frames
// inside TLS and bounds what open streams can hold: the bytes of messages
// being received (receive_budget_mib), a message's time on the wire
// (message_timeout), a stream's silence (stream_idle_timeout), and which
// stream makes room at max_streams. The transport credentials it wraps
// count failed TLS handshakes; bind_spiffe_identity ties a stream's node
// identity to its client certificate's SPIFFE id.
package alsreceiver
