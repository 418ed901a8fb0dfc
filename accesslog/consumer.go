package accesslog

import "context"

// Consumer takes the records an ingest path produced. It is the contract
// between every ingest path (the ALS receiver today; OpenTelemetry and file
// access logs next) and what consumes records (the hub: the aggregations).
// docs/ingest.md shows where a new ingest path plugs in.
//
// The contract, for both sides:
//   - local is the per-stream handle of the stream (one proxy's connection,
//     file or resource) the batch came from: non-nil, one per stream, kept by
//     the ingest path for the stream's lifetime. A stream's batches are
//     consumed one after the other, never concurrently, so a consumer keeps
//     per-stream caches in it without a lock. Batches of different streams
//     are consumed concurrently.
//   - The records, and in particular their Details (which alias the
//     ingest path's buffers), are valid only during the call: a consumer
//     copies what it keeps.
//   - A consumer reads the records and does not change them (in particular
//     not their labels: a record's labels come from its own entry only,
//     docs/adr/0003). The ingest path may read the records after the call
//     returns, as given (span reconstruction does), and then reuses them.
//   - An error means the batch was not taken; the ingest path counts its
//     records as dropped (reason sink_error) and keeps the stream open.
type Consumer interface {
	ConsumeRecords(ctx context.Context, local *StreamLocal, recs []Record) error
}
