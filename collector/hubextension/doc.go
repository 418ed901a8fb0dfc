// Package hubextension is the meshlens hub: a collector extension (type
// "meshlens") that receives the canonical records from the envoyals
// receiver, feeds the aggregations (Istio metrics, Envoy stats, topology)
// and serves them on one HTTP port: /metrics, /healthz, /readyz and the
// topology API and web page.
//
// The receiver finds the hub through the collector host's extensions and
// talks to it through interfaces it declares itself (alsreceiver.Sink).
package hubextension
