// Package evloop serves TCP connections from a few event loops instead of a
// goroutine per connection (ADR 0014, proposed): each loop waits in
// epoll_wait for any of its connections, reads each ready connection once,
// hands the bytes to that connection's Session, writes what the Session has
// to send, and then sleeps until Tick after its wake-up, so that one wake-up
// serves the messages of many connections.
//
// It is an adapter: it owns the sockets, the loops' goroutines and their
// lifecycle. The protocol is the Session's (the HTTP/2 and gRPC core), which
// does no I/O. A Session's methods are called from one loop only, never
// concurrently; a Session that blocks (processing inline, waiting for
// memory) holds its loop's other connections, whose senders then meet TCP's
// and HTTP/2's flow control.
//
// Linux only (epoll, accept4, eventfd).
package evloop
