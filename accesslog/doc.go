// Package accesslog turns Envoy Access Log Service v3 entries into meshlens's
// canonical request record (Record): who called whom, protocol, status,
// response flags, latency, bytes, security and trace context, with every
// Istio standard label filled and the source of each identity recorded.
//
// The package is a pure core: it does no I/O, starts no goroutines, never
// logs and takes time as a parameter. A Stream normalises the messages of one
// gRPC stream with a hand-written decoder that reads only the fields meshlens
// needs and allocates nothing per entry in steady state (label strings are
// interned per stream). ConnTable turns cumulative TCP counters into deltas
// and Joiner recognises the two reports (client and server side) of one
// request hop. The gRPC receiver around it lives in collector/alsreceiver.
package accesslog
