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
// The state is exported at scrape time, through a client_golang Collector
// (Collector) and through a direct exposition writer (WriteText) that
// produces the same series faster; the hub serves the latter.
package istiometrics
