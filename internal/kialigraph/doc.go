// Package kialigraph computes a service graph from Istio metric series the
// way Kiali's graph does (kiali/kiali graph/telemetry/istio/istio.go;
// shared/reference/kiali-graph.md §3–4), for tests that check meshlens's
// graph against it: the property test over generated meshes
// (topology/promsource) and the end-to-end test against a real Prometheus
// (e2e). It is written from Kiali's rules, not from meshlens's: node keys
// (graph.Id), the gRPC response-code rule, the group-by labels and the
// de-duplication of the two reporters' series are Kiali's.
package kialigraph
