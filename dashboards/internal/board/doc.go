// Package board defines meshlens's Grafana dashboards with the Grafana
// Foundation SDK and renders them as deterministic JSON.
//
// Seven static dashboards (All): mesh overview, service, workload, TCP
// service, edge (one caller → service pair, client side against server
// side), Envoy proxies (the envoy_* stats) and meshlens self-monitoring;
// and a dashboard generated from the services meshlens has seen
// (Discovered).
//
// House rules, enforced by this package's tests and by Grafana's
// dashboard-linter (make dashboards-lint):
//   - every selector starts with job=~"$job",instance=~"$instance", so one
//     Grafana can watch several meshlens;
//   - every query of an Istio metric selects exactly one reporter, the
//     single-valued $reporter variable or a fixed "source"/"destination":
//     each request between two sidecars is reported by both, and a sum of
//     both would count it twice;
//   - counters are read through rate() over $__rate_interval;
//   - latency panels ask for exemplars (the trace_id of recent requests,
//     linked to Jaeger by the provisioned data source) and link to Jaeger's
//     search on the dashboard's service (the jaeger_service variable);
//   - a variable that selects one value lists the busiest first, so a
//     dashboard opens on traffic; counts of failures say 0, not nothing;
//   - every panel has a title, a description, a unit and the templated data
//     source; dashboards are read-only (they are generated).
//
// Metric and label names are plain strings here; the root module's
// e2e/dashboards_test.go checks the generated JSON against what a running
// meshlens exports and what a real Prometheus returns.
package board
