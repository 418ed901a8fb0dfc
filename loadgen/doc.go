// Package loadgen generates deterministic, realistic Istio Envoy access-log
// (ALS v3) and Metrics Service v3 traffic, and sends it over gRPC.
//
// A Mesh describes services, workloads with their pods, and weighted call
// edges (HTTP, gRPC or TCP; mTLS or plaintext; an error mix and a log-normal
// latency per edge), plus an ingress gateway and hosts outside the mesh.
// Bookinfo returns Istio's sample; Synthetic builds large meshes.
//
// Mesh.Generate simulates a number of calls and returns Traffic: for each
// proxy and logger (http_envoy_accesslog, tcp_envoy_accesslog) and Envoy
// worker, the ordered, pre-encoded StreamAccessLogsMessages of one gRPC
// stream (identifier only on the first message), built with the
// go-control-plane types exactly as an Istio sidecar or gateway writes them:
// a client entry at the caller (outbound|<port>||<fqdn>, upstream_peer) and a
// server entry at the callee (inbound|<port>||, downstream_peer, mTLS
// certificate SANs) sharing request id and trace id, with W3C and/or B3
// trace headers, gRPC status trailers and grpc_stats message counts, and TCP
// connections with optional periodic entries. Traffic.Ledger states the
// Istio standard metrics a correct consumer must derive from those entries.
// Generation reads no clock and draws all randomness from GenConfig.Seed:
// the same inputs give the same bytes. One deliberate difference from Envoy:
// every entry sets sample_rate to 1 (Envoy leaves it unset), because the
// go-control-plane validation (ValidateAll) requires a value in (0, 1].
//
// Send replays Traffic over a grpc.ClientConn with one client stream per
// Traffic stream, writing the pre-encoded bytes unchanged (RawCodec),
// optionally paced to a target rate, repeated, or looped for a duration; it
// is the engine of "meshlens loadgen". Demo streams freshly generated
// traffic at a modest rate for "meshlens --demo", with long-lived,
// reconnecting streams per proxy and a Metrics Service stream per proxy.
//
// Foreign shapes traffic as a load generator outside meshlens does (HTTP
// only, a few proxies, a request id, trace context and path of its own in
// every entry, no Istio peer metadata), written into pooled buffers at
// send time; with ForeignConfig.Every each stream sends one message per
// interval, the regime of a real mesh's many small flushes.
package loadgen
