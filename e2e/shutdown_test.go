package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// TestE2EGracefulShutdown sends SIGTERM while traffic is flowing and checks
// from meshlens's final accounting that every entry it accepted was
// aggregated: received = processed + rejected + dropped, and the hub
// aggregated exactly what the receiver processed.
func TestE2EGracefulShutdown(t *testing.T) {
	m := startMeshlens(t)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 20000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan struct{})
	conn := dial(t, m.GRPC)
	go func() {
		defer close(sent)
		_, _ = loadgen.Send(ctx, conn, tr, loadgen.SendOptions{Duration: 20 * time.Second, Rate: 50000})
	}()
	waitProcessed(t, m, 20000)
	start := time.Now()
	require.NoError(t, m.stop(t, 15*time.Second), "meshlens exits by itself after SIGTERM")
	t.Logf("stopped in %s", time.Since(start))
	cancel()
	<-sent

	b, err := os.ReadFile(m.log.Name())
	require.NoError(t, err)
	var received, processed, rejected, dropped, aggregated float64 = -1, -1, -1, -1, -1
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "{")
		if i < 0 {
			continue
		}
		var fields map[string]any
		if json.Unmarshal([]byte(line[strings.LastIndex(line, "\t")+1:]), &fields) != nil {
			continue
		}
		if strings.Contains(line, "final accounting") {
			received, processed = fields["entries_received"].(float64), fields["entries_processed"].(float64)
			rejected, dropped = fields["entries_rejected"].(float64), fields["entries_dropped"].(float64)
		}
		if strings.Contains(line, "HTTP server stopped") {
			aggregated = fields["records_aggregated"].(float64)
		}
	}
	require.Positive(t, received, "final accounting logged:\n%s", b)
	assert.InDelta(t, received, processed+rejected+dropped, 0)
	assert.InDelta(t, processed, aggregated, 0, "every processed entry reached the aggregations")
	assert.Zero(t, dropped)
	t.Logf("received %v, processed %v, rejected %v, dropped %v, aggregated %v", received, processed, rejected, dropped, aggregated)
}
