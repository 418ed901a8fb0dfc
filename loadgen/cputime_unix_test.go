//go:build unix

package loadgen

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the process used so far,
// so benchmarks can report throughput per CPU-second on a busy machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
