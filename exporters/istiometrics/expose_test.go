package istiometrics

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeSizes records the size of each Write.
type writeSizes struct {
	sizes []int
	total int
}

func (w *writeSizes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	w.total += len(p)
	return len(p), nil
}

// TestWriteTextStreamsInChunks: WriteText hands the exposition to its
// writer as it renders it, in writes of about ChunkBytes (at most a chunk
// and one series' lines of one family), never a shard of a family or the
// whole body at once, in either format.
func TestWriteTextStreamsInChunks(t *testing.T) {
	a := syntheticAggregator(3000) // ~80 MB; a shard's duration histograms ~1.7 MB
	for _, f := range []Format{FormatText, FormatOpenMetrics} {
		var w writeSizes
		require.NoError(t, a.WriteText(&w, f))
		require.Greater(t, w.total, 50<<20)
		largest := 0
		for _, n := range w.sizes {
			largest = max(largest, n)
		}
		// One series' histogram: 22 lines of its ~800-byte labels and the
		// rest of the line.
		assert.LessOrEqual(t, largest, ChunkBytes+22*1200, "format %d", f)
		assert.Greater(t, len(w.sizes), w.total/(2*ChunkBytes), "format %d: writes as it renders", f)
	}
}
