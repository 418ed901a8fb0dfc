// Package accesslog turns Envoy access-log entries into meshlens's
// canonical request record (Record): who called whom, protocol, status,
// response flags, latency, bytes, security and trace context, with every
// Istio standard label filled and the source of each identity recorded.
//
// The package is a pure core: it does no I/O, starts no goroutines, never
// logs and takes time as a parameter.
//
// The ingest contract (docs/ingest.md, docs/adr/0009) is this package's: a
// Stream normalises the entries one proxy reports, given as source-neutral
// views (package entry) with Normalize, or as ALS messages with Decode, whose
// hand-written decoder (internal/wire) reads only the fields meshlens needs;
// neither allocates per entry in steady state (label strings are interned
// per stream). Everything a sender can grow is bounded by bytes: a label
// value is cut to Config.MaxLabelLength and counted by the field it came
// from (LabelField), and a stream's tables hold at most
// Config.MaxInterned values of Config.MaxInternedBytes bytes
// together, cleared when either is reached (ResetReason). Records go to a Consumer with the stream's StreamLocal, the
// per-stream handle consumers keep caches in. Proxy is the one parser of a
// reporting Envoy's identity. ConnTable turns cumulative TCP counters into
// deltas. A record's labels come only from its own entry and its proxy's
// node, never from the other report of the hop (docs/adr/0003). The ALS
// receiver around it lives in collector/alsreceiver.
package accesslog
