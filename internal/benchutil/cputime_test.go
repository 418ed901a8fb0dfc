package benchutil

import (
	"runtime"
	"testing"
)

func TestThreadCPUTime(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := ThreadCPUTime()
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i
	}
	_ = x
	if runtime.GOOS == "linux" && ThreadCPUTime() <= start {
		t.Fatal("thread CPU time did not advance")
	}
}
