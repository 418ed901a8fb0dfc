package wire

import (
	"syscall"
	"time"
)

// threadCPUTime returns the CPU time used by the calling OS thread (the
// caller must be locked to its thread). Benchmarks report it next to the
// wall-clock time because on a shared machine the wall clock also counts
// the time other processes run.
func threadCPUTime() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
