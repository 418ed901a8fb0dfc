package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EDemo runs what make run runs, meshlens --demo, and checks the
// first minute of a newcomer: a plain line among the collector's JSON logs
// says where the page is (on the HTTP endpoint meshlens really serves), and
// the simulated mesh's series arrive.
func TestE2EDemo(t *testing.T) {
	m := startMeshlens(t, "--demo", "--demo-rate", "50")
	want := "open http://" + m.HTTP + "/ for the live graph"
	var found string
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(m.log.Name())
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, want) {
				found = line
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "no line %q in the output", want)
	require.True(t, strings.HasPrefix(found, "meshlens is running"), "a plain line of its own, not in a log record: %q", found)
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics("meshlens_receiver_entries_processed_total")
		return err == nil && v[0] > 0
	}, 20*time.Second, 100*time.Millisecond, "the demo mesh's entries do not arrive")
}
