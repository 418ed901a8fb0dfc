// Package hubextension is the meshlens hub: a collector extension (type
// "meshlens") that receives the canonical records from the envoyals
// receiver, feeds the aggregations (Istio metrics, Envoy stats, topology)
// and serves them on one HTTP port: /metrics, /healthz, /readyz and the
// topology API and web page.
//
// The hub is the accesslog.Consumer of every ingest path: it hands each
// batch to each aggregation's adapter, which owns its locks (docs/adr/0009). Receivers find
// the hub through the collector host's extensions and talk to it through
// interfaces they declare themselves (alsreceiver.Sink).
package hubextension
