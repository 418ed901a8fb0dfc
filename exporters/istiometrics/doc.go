// Package istiometrics aggregates meshlens's canonical records into the ten
// Istio standard metrics (istio_requests_total and family) with exactly
// Istio's names, label sets, defaults and default buckets, and exposes them
// to Prometheus.
//
// The Aggregator keeps one series per label set and reporter, shared by the
// metrics of a family (the HTTP family: requests, duration, request and
// response bytes, gRPC messages; the TCP family: connections opened and
// closed, bytes sent and received). Series expire after an idle TTL and two
// per-family budgets cap them: their number (MaxSeries) and their label-set
// bytes (MaxLabelBytes: the sum of their label values' bytes as the
// exposition writes them). Records of a new label set over either budget
// land in an overflow series (the identity labels set to "overflow", each
// status folded to its class: at most MaxOverflowSeries per family) and are
// counted. With both budgets a family's exposition is bounded
// (Config.ExpositionBound, bound.go).
//
// Config.Overrides trims the series as the metrics overrides of Istio's
// Telemetry API do (overrides.go): a metric disabled for a side is not
// exported and keeps no state (no histogram buckets; no series at all when
// its whole family is off for the side: the records are skipped with one
// branch); a removed label is cleared from the series key when a label set
// is first looked up (a precomputed mask per family and side, never on
// the per-entry path of a label set already seen), so the label sets that
// differed only in it are one series, its bytes leave the budget, and the
// key records it (labels.removed) so that every export leaves it out.
// UPSERT is refused: its value is a CEL expression over request
// attributes an access-log entry does not carry.
//
// The state is exported at scrape time, through a client_golang Collector
// (Collector) and through a direct exposition writer (WriteText) that
// produces the same series faster; the hub serves the latter.
package istiometrics
