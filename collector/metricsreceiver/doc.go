// Package metricsreceiver is the meshlens_metrics receiver: every
// collection_interval it reads the series the hub extension serves on
// /metrics (the Istio standard metrics, envoy_* and the span metrics)
// through each aggregation's read-only OpenTelemetry reader, and sends them
// down a collector metrics pipeline as cumulative OpenTelemetry metrics, so
// that any stock exporter (Prometheus remote write, OTLP) can push them to
// an existing store. Nothing of it runs per access-log entry.
package metricsreceiver
