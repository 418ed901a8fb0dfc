// Package window holds the per-reporter traffic counters of one topology
// edge in time-slotted rings: for every configured window (1m and 10m by
// default) a ring of fixed-width slots, each with request, byte, message and
// connection counters, per response kind counts and a log-scale latency
// histogram. Add touches one slot per window and allocates nothing; Sum
// folds the slots that fall inside a requested span into an Agg (floats, so
// that aggregations can be scaled and combined). CountOnce merges the client
// and server views of one hop.
package window
