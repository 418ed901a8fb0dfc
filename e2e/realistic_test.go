package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"

	"github.com/meshlens/meshlens/loadgen"
)

// TestE2ERealistic measures meshlens's CPU per entry in the regime of a
// real mesh (issue 18, item 5): many streams, each sending a small message
// once a second (Envoy's buffer_flush_interval), against the same entries
// sent flat out in 100-entry messages, in one run and one meshlens process.
// The realistic load is 1,000 streams (250 proxies with 4 workers each,
// each stream on its own connection as Envoy's workers are), one message a
// second each, of 5–50 entries (loadgen.Foreign with Every), for
// MESHLENS_REALISTIC_SECONDS (default 15); its CPU per entry is measured
// from /proc over the steady state (from the third second: every stream
// open and sending). Then it sends both kinds of traffic to three bare
// servers that drop every message unread (floorServers): grpc-go's
// transport, which meshlens runs on, and two receive paths meshlens does
// not have, for what the regime would cost on them. Run it
// with `make loadtest` (it is skipped unless MESHLENS_LOADTEST is set).
// MESHLENS_REALISTIC_FLAT=0 stops after the realistic part (to profile
// meshlens in that regime alone with MESHLENS_CPUPROFILE).
func TestE2ERealistic(t *testing.T) {
	if os.Getenv("MESHLENS_LOADTEST") == "" {
		t.Skip("set MESHLENS_LOADTEST=1 (make loadtest) to run the realistic-regime benchmark")
	}
	seconds := 15
	if n, err := strconv.Atoi(os.Getenv("MESHLENS_REALISTIC_SECONDS")); err == nil && n > 3 {
		seconds = n
	}
	const (
		proxies, workers   = 250, 4
		minBatch, maxBatch = 5, 50
	)
	streams := proxies * workers
	every := time.Second
	mesh := loadgen.Foreign(loadgen.ForeignConfig{
		Proxies: proxies, StreamsPerProxy: workers, MinBatch: minBatch, BatchSize: maxBatch, Every: every, Seed: 2,
		Entries: streams * seconds * (minBatch + maxBatch) / 2,
	})
	flat := loadgen.Foreign(loadgen.ForeignConfig{Entries: 1_000_000, Seed: 1})

	m := startMeshlens(t)
	defer stopLogged(t, "meshlens", m.process)
	pid := m.cmd.Process.Pid

	// Idle: what meshlens costs with no stream open.
	idle0, _ := procStat(t, pid)
	time.Sleep(2 * time.Second)
	idle1, _ := procStat(t, pid)
	idle := (idle1 - idle0) / 2

	// Realistic: one connection per stream. The steady state starts once
	// every stream has sent its first message (within the first second)
	// and meshlens has handled it.
	conn, closeAll := dialConns(t, m.GRPC, streams)
	wait := sendInBackground(mesh, conn)
	// No scrape inside the measured interval: with this mesh's series a
	// scrape of /metrics costs tens of milliseconds of CPU.
	time.Sleep(2*every + every/2)
	n0 := m.metric(t, "meshlens_receiver_entries_processed_total")
	cpu0, _ := procStat(t, pid)
	t0 := time.Now()
	sent, err := wait()
	require.NoError(t, err)
	time.Sleep(every / 5) // the last messages are handled within milliseconds
	cpu1, _ := procStat(t, pid)
	steady := time.Since(t0)
	n1 := m.metric(t, "meshlens_receiver_entries_processed_total")
	waitCounted(t, m, float64(mesh.EntryCount()))
	closeAll()
	realEntries := n1 - n0
	realNs := (cpu1 - cpu0) / realEntries * 1e9
	checkAccounting(t, m, sent)
	series := familyCount(m.scrape(t), "istio_requests_total")
	if os.Getenv("MESHLENS_REALISTIC_FLAT") == "0" {
		t.Logf("realistic only: %.0f ns of CPU per entry (%.0f entries, %.3f s of CPU; %.0f Istio request series)", realNs, realEntries, cpu1-cpu0, series)
		return
	}

	// Flat out: the same kind of entries, 100 per message on 8 streams.
	base := float64(mesh.EntryCount())
	conn8, close8 := dialConns(t, m.GRPC, flat.Streams())
	fcpu0, _ := procStat(t, pid)
	start := time.Now()
	fsent, err := flat.Send(context.Background(), conn8, loadgen.SendOptions{})
	require.NoError(t, err)
	waitCounted(t, m, base+float64(flat.EntryCount()))
	fwall := time.Since(start)
	fcpu1, peak := procStat(t, pid)
	close8()
	flatNs := (fcpu1 - fcpu0) / float64(flat.EntryCount()) * 1e9
	sent.Entries += fsent.Entries
	sent.Messages += fsent.Messages
	checkAccounting(t, m, sent)
	// The transport's floor in both regimes, for three receive paths
	// (floors_test.go): grpc-go's, one goroutine per connection reading
	// HTTP/2 frames, and one event loop over every connection.
	floors := make([]floor, len(floorServers))
	for i, srv := range floorServers {
		floors[i] = floor{
			server: srv,
			real:   floorNs(t, srv, mesh, streams, 2*every+every/2),
			flat:   floorNs(t, srv, flat, flat.Streams(), 0),
		}
	}
	target := "not reached"
	if realNs/flatNs <= realisticTarget {
		target = "reached"
	}

	report := fmt.Sprintf("idle: %.1f ms of meshlens CPU per second\n"+
		"realistic: %d streams (%d proxies × %d workers, one connection each), one message per %s each, %d–%d entries: "+
		"%d messages, %d entries in %ds\n"+
		"  steady state (%.1f s, %.0f entries, %.0f entries/s): meshlens CPU %.3f s → %.0f ns of CPU per entry (%.1f %% of a core)\n"+
		"flat out: %d streams, 100 entries per message, %d entries in %s (%.0f entries/s): %.0f ns of CPU per entry\n"+
		"realistic / flat out: %.2f× (issue 18's target ≤ %.0f×: %s); meshlens peak RSS %.0f MiB; %.0f Istio request series after the realistic run\n",
		idle*1000,
		streams, proxies, workers, every, minBatch, maxBatch, mesh.MessageCount(), mesh.EntryCount(), seconds,
		steady.Seconds(), realEntries, realEntries/steady.Seconds(), cpu1-cpu0, realNs, (cpu1-cpu0)/steady.Seconds()*100,
		flat.Streams(), flat.EntryCount(), fwall.Round(time.Millisecond), float64(flat.EntryCount())/fwall.Seconds(), flatNs,
		realNs/flatNs, realisticTarget, target, peak, series)
	own := floors[0] // meshlens runs on grpc-go: its own work is meshlens − that floor
	if eventLoopArgs(nil) != nil {
		own = floors[2] // on its event loops
	}
	report += fmt.Sprintf("meshlens's own work (meshlens − its transport's floor, "+own.server.name+"): realistic %.0f ns, flat out %.0f ns per entry\n",
		realNs-own.real, flatNs-own.flat)
	report += "transport floors, ns of CPU per entry (a bare server in a process of its own, every message dropped unread):\n"
	for _, f := range floors {
		report += fmt.Sprintf("  %-24s realistic %5.0f (%.1f µs a message, %.2f× meshlens flat out), flat out %4.0f; meshlens on it at best: realistic / flat out %.2f×\n",
			f.server.name, f.real, f.real*float64(mesh.EntryCount())/float64(mesh.MessageCount())/1000, f.real/flatNs, f.flat,
			(realNs-own.real+f.real)/(flatNs-own.flat+f.flat))
	}
	t.Log("\n" + report)
	if out := os.Getenv("MESHLENS_LOADTEST_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
	assert.LessOrEqual(t, realNs/flatNs, maxRealisticVsFlat, "CPU per entry, realistic regime against flat out")
}

const (
	// realisticTarget is issue 18's target for the realistic regime: its
	// CPU per entry within twice that of the same entries sent flat out.
	// Not reached (BENCHMARKS.md): a bare grpc-go server alone costs about
	// that in this regime. The test reports it.
	realisticTarget = 2.0
	// maxRealisticVsFlat is the test's bar, as the other load tests' bars
	// about twice what was measured (3.4–4.8×, BENCHMARKS.md): it catches a
	// regression of a factor of two in the per-message cost.
	maxRealisticVsFlat = 8.0
)

// sendInBackground sends the mesh's traffic on a goroutine of its own and
// returns a func that waits for it to end.
func sendInBackground(mesh *loadgen.ForeignTraffic, conn grpc.ClientConnInterface) func() (loadgen.Stats, error) {
	done := make(chan struct{})
	var (
		sent loadgen.Stats
		err  error
	)
	go func() {
		defer close(done)
		sent, err = mesh.Send(context.Background(), conn, loadgen.SendOptions{})
	}()
	return func() (loadgen.Stats, error) {
		<-done
		return sent, err
	}
}
