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
// mesh mesh (issue 18, item 5): many streams, each sending a small message
// once a second (Envoy's buffer_flush_interval), against the same entries
// sent flat out in 100-entry messages, in one run and one meshlens process.
// The realistic load is 1,000 streams (250 proxies with 4 workers each,
// each stream on its own connection as Envoy's workers are), one message a
// second each, of 5–50 entries (loadgen.Foreign with Every), for
// MESHLENS_REALISTIC_SECONDS (default 15); its CPU per entry is measured
// from /proc over the steady state (from the third second: every stream
// open and sending). Then it sends the realistic traffic to a bare grpc-go
// server (TestDiscardServer), the transport's floor in that regime. Run it
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
	floorNs := realisticFloor(t, mesh, streams, every)
	target := "not reached"
	if realNs/flatNs <= realisticTarget {
		target = "reached"
	}

	report := fmt.Sprintf("idle: %.1f ms of meshlens CPU per second\n"+
		"realistic: %d streams (%d proxies × %d workers, one connection each), one message per %s each, %d–%d entries: "+
		"%d messages, %d entries in %ds\n"+
		"  steady state (%.1f s, %.0f entries, %.0f entries/s): meshlens CPU %.3f s → %.0f ns of CPU per entry (%.1f %% of a core)\n"+
		"flat out: %d streams, 100 entries per message, %d entries in %s (%.0f entries/s): %.0f ns of CPU per entry\n"+
		"realistic / flat out: %.2f× (issue 18's target ≤ %.0f×: %s); meshlens peak RSS %.0f MiB; %.0f Istio request series after the realistic run\n"+
		"bare gRPC server, same realistic traffic (the transport's floor in this regime): %.0f ns of CPU per entry = %.2f× meshlens flat out\n",
		idle*1000,
		streams, proxies, workers, every, minBatch, maxBatch, mesh.MessageCount(), mesh.EntryCount(), seconds,
		steady.Seconds(), realEntries, realEntries/steady.Seconds(), cpu1-cpu0, realNs, (cpu1-cpu0)/steady.Seconds()*100,
		flat.Streams(), flat.EntryCount(), fwall.Round(time.Millisecond), float64(flat.EntryCount())/fwall.Seconds(), flatNs,
		realNs/flatNs, realisticTarget, target, peak, series, floorNs, floorNs/flatNs)
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

// realisticFloor sends the realistic traffic to a bare grpc-go server
// (TestDiscardServer) and returns its CPU per entry over the same steady
// state: the transport's part of the realistic regime's cost.
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

func realisticFloor(t *testing.T, mesh *loadgen.ForeignTraffic, streams int, every time.Duration) float64 {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	addr := freePort(t)
	bin, args, env := pinned(exe, []string{"-test.run=^TestDiscardServer$", "-test.count=1", "-test.timeout=10m"},
		[]string{discardServerEnv + "=" + addr})
	p := startProcess(t, "discard-server", env, bin, args...)
	defer stopLogged(t, "discard-server", p)
	waitTCP(t, addr, 30*time.Second)
	pid := p.cmd.Process.Pid
	conn, closeAll := dialConns(t, addr, streams)
	defer closeAll()
	wait := sendInBackground(mesh, conn)
	time.Sleep(2*every + every/2)
	cpu0, _ := procStat(t, pid)
	sent, err := wait()
	require.NoError(t, err)
	time.Sleep(every / 5)
	cpu1, _ := procStat(t, pid)
	require.EqualValues(t, mesh.EntryCount(), sent.Entries)
	// The entries of the steady state: about all but the first 2.5 s
	// worth (the server counts none), the same share as meshlens's.
	entries := float64(mesh.EntryCount()) * (1 - 2.5/float64(mesh.Messages(0)))
	return (cpu1 - cpu0) / entries * 1e9
}
