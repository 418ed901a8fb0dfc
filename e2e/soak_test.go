package e2e

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// TestE2ESoak streams a mesh of constant cardinality at a steady rate for
// MESHLENS_SOAK (a Go duration; `make soak` runs 20m, CI a short one) and
// checks that meshlens's memory and goroutine count stay flat once warm.
func TestE2ESoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("MESHLENS_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set MESHLENS_SOAK=20m (make soak) to run the soak test")
	}
	m := startMeshlens(t)
	tr := loadgen.Synthetic(30, 2, 100, 3).Generate(loadgen.GenConfig{Seed: 3, Requests: 20000, TCPPeriodic: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	var sent loadgen.Stats
	conn := dial(t, m.GRPC)
	go func() {
		defer wg.Done()
		sent, _ = loadgen.Send(ctx, conn, tr, loadgen.SendOptions{Rate: 20000, Duration: d})
	}()
	type point struct{ rss, goroutines float64 }
	var points []point
	tick := time.NewTicker(d / 40)
	defer tick.Stop()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		<-tick.C
		rss, _ := procRSS(t, m.cmd.Process.Pid)
		// Scrape the API too, as users would.
		_, _, err := httpGet("http://"+m.HTTP+"/api/v1/graph", "")
		require.NoError(t, err)
		points = append(points, point{rss: rss, goroutines: m.metric(t, "go_goroutines")})
	}
	wg.Wait()
	require.GreaterOrEqual(t, len(points), 20)
	warm := points[len(points)/4 : len(points)/2]
	late := points[len(points)/2:]
	maxOf := func(ps []point, f func(point) float64) float64 {
		v := 0.0
		for _, p := range ps {
			v = max(v, f(p))
		}
		return v
	}
	rss := func(p point) float64 { return p.rss }
	gor := func(p point) float64 { return p.goroutines }
	t.Logf("soak %s: %d entries at %.0f/s; RSS warm max %.0f MiB, late max %.0f MiB; goroutines warm max %.0f, late max %.0f",
		d, sent.Entries, sent.EntriesPerSecond(), maxOf(warm, rss), maxOf(late, rss), maxOf(warm, gor), maxOf(late, gor))
	assert.LessOrEqual(t, maxOf(late, rss), maxOf(warm, rss)*1.15+16, "memory flat at constant cardinality")
	assert.LessOrEqual(t, maxOf(late, gor), maxOf(warm, gor)+10, "goroutines flat")
}
