// Package promsource builds the global service graph — the graph of every
// meshlens replica — from the Istio standard metrics the replicas export,
// read back from a Prometheus-compatible query API.
//
// Each replica sees only the proxies connected to it, so its live graph
// (topology.Graph) is partial; the Istio metrics of all replicas together
// hold the whole mesh. For every window Source.Snapshot runs, like Kiali,
// one instant query per metric of the form
//
//	sum by (reporter, <identity labels>[, <outcome labels>])
//	  ((m{<selector>} - m{<selector>} offset <window>) >= 0 or m{<selector>})
//
// over istio_requests_total (by response code, gRPC status, response flags,
// security policy and principals), the request duration histogram (_bucket
// by le, and _sum), the HTTP request and response byte sums, the gRPC
// message counters and the four TCP counters. The identity labels are those
// of a stored edge of the live graph: source and destination workload,
// namespace, canonical service, canonical revision and cluster, destination
// service (host, name, namespace) and request protocol. The results are
// summed per edge, reporter side and window into topology.EdgeTotals (a pure
// step, tested with a fake query function) and handed to
// topology.SnapshotFromTotals, which applies the live graph's rules: the
// client-side (reporter=source) and server-side (destination, waypoint)
// views of each edge, merged as Kiali merges the two reporters' series
// (per response kind, the server's count where it has one, else the
// client's; docs/adr/0010). The same traffic therefore gives the same
// nodes, edges, request and error counts as one instance that saw all of
// it, over a window that covers it, and as Kiali computes from the same
// series (TestGraphAgreesWithPromQL).
//
// # Counting over a window
//
// A series counts its value at the end of the window minus its value at
// the start (the last scrapes before each), in full when it did not exist
// at the start, and from zero when its value fell (the replica restarted).
// Unlike increase() and rate(), this does not extrapolate: the counts are
// whole numbers, a series born inside the window (a new response code, a
// new edge) is not undercounted, and the client-side and server-side counts
// of a hop — exported by different replicas, scraped at different offsets —
// are not scaled by different factors, which would bias the surplus of
// client over server requests that the count-once rule turns into
// client-only failures.
// The cost: a replica that restarted inside the window loses what it
// counted before the restart, and traffic between a replica's last scrape
// and the end of the window shows in the next window.
//
// Other differences from the live graph: rates divide by the whole window
// (as rate() does); latency quantiles are Prometheus's histogram_quantile
// over the Istio buckets (coarser than the live graph's; replicas must use
// the same duration buckets); TCP response breakdowns and TCP error counts
// are in closed connections, not in report entries.
//
// Client is the thin HTTP adapter: POST <url>/api/v1/query with a context
// and the configured timeout and credentials. Source.Snapshot wraps every
// failure of the query endpoint in ErrUpstream, which the API answers with
// 502.
package promsource
