//go:build !linux

package benchutil

import (
	"testing"
	"time"
)

// ThreadCPUTime is not available here.
func ThreadCPUTime() time.Duration { return 0 }

// CPUPerItem runs loop; without thread CPU time it reports nothing extra.
func CPUPerItem(_ *testing.B, _ string, loop func() (items int)) { loop() }

// ProcessCPUTime is not available here.
func ProcessCPUTime() time.Duration { return 0 }
