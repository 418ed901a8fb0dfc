// Package entry is meshlens's source-neutral view of one access-log entry:
// what the normaliser (accesslog.Stream) reads to build a Record, whatever
// carried the entry. Envoy's gRPC Access Log Service is the richest source,
// so the fields are named and typed after its HTTPAccessLogEntry and
// TCPAccessLogEntry (with the ALS field numbers in comments); another
// ingest path (OpenTelemetry access logs, file access logs) fills the
// fields its format carries and leaves the others zero, with the Has*
// flags false.
//
// Every []byte field is a view: it aliases the producer's buffer and is
// valid only until the producer reuses it (in the ALS receiver: until the
// next message of the same stream is read). The normaliser interns what it
// keeps, so producers may reuse their buffers as soon as it returns.
//
// The package holds types only: no I/O, no state, no dependencies. The ALS
// decoder (accesslog/internal/wire) is one producer; docs/ingest.md shows
// where another plugs in.
package entry
