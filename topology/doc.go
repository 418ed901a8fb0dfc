// Package topology is meshlens's live service graph: a pure core (no I/O,
// no goroutines, no clock: time is a parameter) that turns normalised
// access-log records (accesslog.Record) into nodes and edges with request
// and error rates, latency quantiles over sliding windows, TCP byte rates,
// mTLS share and principals, and that renders snapshots at Kiali's four
// granularities (workload, app, versionedApp, service).
//
// # Storage
//
// An edge is stored per (source workload, destination service, destination
// workload, protocol), with one view per reporter: the client side
// (reporter=source) and the server side (reporter=destination or waypoint).
// A record counts at the time Observe is given (its batch's arrival), not
// at its start time. Each view holds, for every configured window (1m and 10m by default), a
// ring of time slots (window/6 wide) with counters, up to eight response
// kinds (code, flags) and a 32-bucket log-scale latency histogram. Observe
// touches one slot per window and allocates nothing for an existing edge.
// Edges idle for IdleTTL expire (Expire, O(removed) from a least-recently-
// seen list) and take their nodes with them. MaxEdges and MaxNodes bound
// the graph; what does not fit is dropped and counted (Stats).
//
// # Both reporters, each hop once
//
// One request through two sidecars is reported twice. The two views of an
// edge are kept apart and merged at snapshot time (window.CountOnce) the
// way Kiali merges the two reporters' Istio series (docs/adr/0010):
//
//   - only one side reported: that side counts;
//   - both reported: per response kind (code, flags, host), the server
//     side's count when it reported that kind in the window, else the
//     client side's. The failures only the client reported (connection
//     failures, no healthy upstream, a client timeout of a request the
//     server answered) show as EdgeStats.ClientOnlyFailures; TCP kinds are
//     closed connections;
//   - latency is the caller's (client side, network and proxies included)
//     when the client reported, else the server's; EdgeStats.LatencyOverhead
//     is client minus server: the time spent outside the server application;
//   - bytes, messages, opened connections and mTLS come from the server
//     side when it reported.
//
// Errors are 5xx, no response and non-OK gRPC statuses (TCP: proxy
// failures), split into ProxyErrors (a proxy failure flag) and AppErrors.
//
// Nodes are named exactly as the record's Istio series name them: a
// record's labels come only from its own entry and its proxy's node, never
// from the other report of the hop (docs/adr/0003), and a peer the record
// does not name stays unknown: a client-side view whose callee is unknown
// is an edge to the service node, as Kiali draws its series.
//
// # Nodes
//
// Node identities and ids are Kiali's (kiali-graph.md §3): the workload node
// "wl_<cluster>_<namespace>_<workload>", the app node keyed by canonical
// service, the versionedApp node by workload (else app and canonical
// revision), the service node "svc_<cluster>_<namespace>_<service>" (with
// "svc_<cluster>_<namespace>_unknown" for unknown destinations) and the
// unknown source "unknown_unknown_source". A callee whose workload is
// unknown is shown as its service node; PassthroughCluster and
// BlackHoleCluster are flagged EgressCluster, and an external host reached
// with no server-side report is flagged External (Kiali's ServiceEntry).
//
// In service graphs the destination is the service. The caller is the
// service its workload serves (learnt from the server side of the edges
// into that workload), else the service named like its canonical service in
// its namespace when the graph has one, else its workload node (a traffic
// generator, as Kiali keeps it), else the unknown node.
//
// # Totals from elsewhere
//
// SnapshotFromTotals applies the same rules (count-once, nodes,
// granularities) to traffic already summed per edge, reporter side and
// window instead of the rings: the global graph of several meshlens
// replicas, built from the Istio metrics they export (topology/promsource).
// Its quantiles are histogram_quantile's over the buckets given.
//
// # Snapshots in steps
//
// Graph.Snapshot reads the graph in one go. A caller that shares the graph
// between goroutines (topology/api) uses a SnapshotCursor instead: under
// its lock it copies a few hundred edges per SnapshotStep, each edge's
// counters summed over the requested windows (the only part of a snapshot
// that reads the rings), and builds the snapshot from those copies
// (count-once, nodes, sorting) without the lock, so that records keep
// arriving meanwhile. Each edge is read whole in one step; edges are read
// in storage order and merged in the order of the expiry list, as
// Graph.Snapshot does, so that a graph that does not change between steps
// gives the same snapshot.
//
// The HTTP API, the Kiali JSON and the change stream live in
// topology/api; this package only computes snapshots.
package topology
