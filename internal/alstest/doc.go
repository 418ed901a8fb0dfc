// Package alstest provides Access Log Service servers for tests and
// benchmarks of what sends to one (the load generator, the loadgen command,
// the end-to-end transport floor): a counting go-control-plane server and a
// raw one that decodes nothing.
package alstest
