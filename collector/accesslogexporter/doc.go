// Package accesslogexporter is the meshlens_accesslogs exporter: it takes
// Envoy access logs that arrive as OpenTelemetry logs — from the stock
// otlp receiver (Envoy's OpenTelemetry access logger, Istio's
// envoyOtelAls) or from a file receiver reading sidecars' stdout — and
// feeds them to the hub as canonical records, through the same normaliser
// as the ALS receiver (docs/ingest.md). A log record's attributes are read
// with an Envoy JSON-style key → operator map; a record without them has
// its body parsed with a format string (Istio's default text format unless
// configured). Who reported a record comes from its resource: Envoy's node
// (node_name, cluster_name) or Kubernetes attributes (k8s.pod.name,
// k8s.namespace.name, ...).
package accesslogexporter
