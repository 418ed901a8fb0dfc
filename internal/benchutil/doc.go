// Package benchutil holds what meshlens's benchmarks share: the CPU time of
// the benchmark's own thread, which stays meaningful on a shared, noisy
// machine where wall-clock time also counts other processes' turns.
package benchutil
