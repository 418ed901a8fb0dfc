// Package h2grpc is a pure core for the server side of client-streaming
// gRPC calls over HTTP/2 (RFC 9113): the framing state machine of one
// connection, for an event loop to drive. It does no I/O, starts no
// goroutines, takes no locks and reads no clock (time is a parameter of
// Feed); in steady state it allocates nothing per message.
//
// It is the core of an opt-in receive path for the envoyals receiver: N
// event loops (one per core), non-blocking sockets, each loop reading the
// connections that are ready, feeding the bytes to their Conn, writing the
// few frames it answers with, and sleeping until the next tick. Measured
// on the realistic regime of a mesh (1,000 connections, one 5–50-entry
// message per stream per second), grpc-go's transport costs ~143 µs of CPU
// per message, a goroutine per connection reading HTTP/2 frames ~74 µs,
// one epoll loop ~35 µs.
//
// # Use
//
//	c, err := h2grpc.NewConn(cfg, handler) // our SETTINGS are in c.Output()
//	for each read p:
//		err := c.Feed(p, now)     // calls handler.Open, Message, End
//		write c.Output(); c.Written(n)
//		if err != nil || c.Done() { write what is left, close }
//
// The Handler accepts or refuses each stream at Open (with a gRPC status:
// unknown method UNIMPLEMENTED, grpc-encoding other than identity...),
// gets each complete message (msg valid only during the call: it points
// into Feed's bytes when the message came whole in one frame and one read,
// else into a buffer the Conn reuses), and is told once when each stream
// it accepted ends, and why. The client half-closing is answered OK (an
// empty response message: what both Envoy services answer) unless End
// calls Finish or Reset.
//
// # What a client can make it hold, and what it gets for more
//
//   - streams: MaxConcurrentStreams, announced; more are refused
//     (REFUSED_STREAM) and counted with the client's own resets against
//     MaxResetsPerSecond (rapid reset, CVE-2023-44487: GOAWAY
//     ENHANCE_YOUR_CALM);
//   - header blocks: MaxHeaderListSize decoded (the stream is answered
//     RESOURCE_EXHAUSTED), twice that encoded including 9 bytes per frame
//     (a CONTINUATION flood: GOAWAY ENHANCE_YOUR_CALM); one HPACK string is
//     at most MaxHeaderListSize (COMPRESSION_ERROR);
//   - frames: MaxFrameSize (FRAME_SIZE_ERROR);
//   - bytes in flight: flow control is enforced (a client sending beyond
//     our window gets FLOW_CONTROL_ERROR, for the stream or the
//     connection); we give window back by WINDOW_UPDATE once half a window
//     has been consumed, for the connection and for each stream;
//   - messages: MaxRecvMsgSize, checked on the 5-byte prefix before any of
//     the message is held (RESOURCE_EXHAUSTED); a message being assembled
//     holds buffer for the bytes that arrived, not the length announced;
//     Pending and OldestIncomplete expose them for a budget and timeouts
//     across connections, which Reset enforces;
//   - output: answers to the client's PINGs, SETTINGS and streams are
//     bounded by MaxControlFramesPending frames and MaxOutput bytes not
//     yet written (a client that does not read: GOAWAY ENHANCE_YOUR_CALM).
//
// Compressed messages (the gRPC compressed flag) are answered
// UNIMPLEMENTED. Answers are HPACK-encoded without the dynamic table, so
// the client's SETTINGS_HEADER_TABLE_SIZE needs no tracking, and every
// frame we write is far below the smallest SETTINGS_MAX_FRAME_SIZE.
//
// # Not done yet (the adapter and the rest of the path)
//
//   - the adapter: N epoll event loops over non-blocking sockets (accept,
//     read into one buffer per loop, Feed, write Output with partial
//     writes, EPOLLOUT when the kernel's buffer is full, close on error or
//     Done), and the per-loop tick;
//   - the guard's bounds across connections on top of Pending,
//     OldestIncomplete and Reset: receive_budget_mib (shed the oldest
//     incomplete messages), message_timeout, stream_idle_timeout, and
//     max_streams with idle eviction; holding window back (not sending
//     WINDOW_UPDATE) instead of shedding is a possible refinement;
//   - TLS (and mTLS with bind_spiffe_identity), keepalive (PINGs from us,
//     idle connections), the collector's auth extensions: configgrpc gives
//     them on the grpc-go path, this path has none of them;
//   - gzip (grpc-encoding gzip with a decompressed-size limit);
//   - the receiver's config key choosing this path, and its docs;
//   - a layer of its own in internal/layering/rules.go (and ADR 0009): under
//     collector/ the layering test does not hold it to the pure-core rules,
//     so TestPureCore checks its imports, goroutines and clock reads;
//   - per-stream activity for stream_idle_timeout (the adapter can track it
//     from Message calls; a stream that sends partial messages only shows
//     in OldestIncomplete), and a SETTINGS ACK timeout;
//   - a two-phase GOAWAY (grpc-go's, with a PING) so that streams the
//     client opens while our GOAWAY is in flight are not refused.
package h2grpc
