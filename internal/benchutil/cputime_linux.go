package benchutil

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// ThreadCPUTime returns the CPU time used by the calling OS thread (the
// caller must be locked to its thread, see Measure).
func ThreadCPUTime() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUPerItem runs loop (which must do n items per call of b.Loop, in
// total items) on a locked thread and reports "cpu-ns/<unit>" next to the
// wall-clock figures. GC work on other threads is not counted.
//
// It is never inlined: scripts/instructions.sh counts the instructions
// executed inside it by its symbol name.
//
//go:noinline
func CPUPerItem(b *testing.B, unit string, loop func() (items int)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := ThreadCPUTime()
	items := loop()
	if cpu := ThreadCPUTime() - start; cpu > 0 && items > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(items), "cpu-ns/"+unit)
	}
}

// ProcessCPUTime returns the CPU time used by the whole process, every
// thread (for work done on goroutines the benchmark does not run itself).
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
