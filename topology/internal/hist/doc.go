// Package hist is the fixed log-scale latency histogram of the topology
// graph: N buckets whose upper bounds grow by a factor of 1.5 from 0.5 ms
// (the last bucket is open-ended, above ~96 s). Index is O(log N) with no
// allocation; Quantile interpolates linearly inside the selected bucket.
package hist
