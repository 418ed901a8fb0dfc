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

	report := ""
	var results []transportRun
	for _, tr := range []struct {
		name string
		args []string
	}{
		{"grpc-go", []string{"--set=receivers::envoyals::event_loop::enabled=false"}},
		{"event loops", []string{"--set=receivers::envoyals::event_loop::enabled=true"}},
	} {
		res := runRealistic(t, tr.args, mesh, flat, streams, every)
		if os.Getenv("MESHLENS_REALISTIC_FLAT") == "0" {
			t.Logf("%s, realistic only: %.0f ns of CPU per entry (%.0f entries; %.0f Istio request series)", tr.name, res.realNs, res.realEntries, res.series)
			continue
		}
		res.name = tr.name
		results = append(results, res)
		target := "not reached"
		if res.realNs/res.flatNs <= realisticTarget {
			target = "reached"
		}
		report += fmt.Sprintf("meshlens on %s: idle %.1f ms of CPU per second\n"+
			"  realistic: %d streams (%d proxies × %d workers, one connection each), one message per %s each, %d–%d entries: "+
			"%d messages, %d entries in %ds\n"+
			"    steady state (%.1f s, %.0f entries, %.0f entries/s): meshlens CPU %.3f s → %.0f ns of CPU per entry (%.1f %% of a core)\n"+
			"  flat out: %d streams, 100 entries per message, %d entries in %s (%.0f entries/s): %.0f ns of CPU per entry\n"+
			"  realistic / flat out: %.2f× (issue 18's target ≤ %.0f×: %s); peak RSS %.0f MiB; %.0f Istio request series\n",
			tr.name, res.idle*1000,
			streams, proxies, workers, every, minBatch, maxBatch, mesh.MessageCount(), mesh.EntryCount(), seconds,
			res.steady.Seconds(), res.realEntries, res.realEntries/res.steady.Seconds(), res.realCPU, res.realNs, res.realCPU/res.steady.Seconds()*100,
			flat.Streams(), flat.EntryCount(), res.fwall.Round(time.Millisecond), float64(flat.EntryCount())/res.fwall.Seconds(), res.flatNs,
			res.realNs/res.flatNs, realisticTarget, target, res.peak, res.series)
	}
	if len(results) == 0 {
		return
	}

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
	grpcRun := results[0]
	report += fmt.Sprintf("meshlens's own work on grpc-go (meshlens − grpc-go's floor): realistic %.0f ns, flat out %.0f ns per entry\n",
		grpcRun.realNs-floors[0].real, grpcRun.flatNs-floors[0].flat)
	report += "transport floors, ns of CPU per entry (a bare server in a process of its own, every message dropped unread):\n"
	for _, f := range floors {
		report += fmt.Sprintf("  %-24s realistic %5.0f (%.1f µs a message), flat out %4.0f; meshlens's own work on it: realistic / flat out %.2f×\n",
			f.server.name, f.real, f.real*float64(mesh.EntryCount())/float64(mesh.MessageCount())/1000, f.flat,
			(grpcRun.realNs-floors[0].real+f.real)/(grpcRun.flatNs-floors[0].flat+f.flat))
	}
	t.Log("\n" + report)
	if out := os.Getenv("MESHLENS_LOADTEST_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
	assert.LessOrEqual(t, results[0].realNs/results[0].flatNs, maxRealisticVsFlat, "CPU per entry on grpc-go, realistic regime against flat out")
	assert.LessOrEqual(t, results[1].realNs/results[1].flatNs, maxRealisticVsFlatLoops, "CPU per entry on the event loops, realistic regime against flat out")
}

// transportRun is one meshlens process's figures in TestE2ERealistic.
type transportRun struct {
	name                               string
	idle, realCPU, realEntries, realNs float64
	flatNs, peak, series               float64
	steady, fwall                      time.Duration
}

// runRealistic starts meshlens with args and measures its idle cost, the
// realistic regime's CPU per entry and then flat out's.
func runRealistic(t *testing.T, args []string, mesh, flat *loadgen.ForeignTraffic, streams int, every time.Duration) transportRun {
	t.Helper()
	var res transportRun
	m := startMeshlens(t, args...)
	defer stopLogged(t, "meshlens", m.process)
	pid := m.cmd.Process.Pid

	// Idle: what meshlens costs with no stream open.
	idle0, _ := procStat(t, pid)
	time.Sleep(2 * time.Second)
	idle1, _ := procStat(t, pid)
	res.idle = (idle1 - idle0) / 2

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
	// The last messages are handled within milliseconds, or within the
	// event loops' tick (200 ms).
	time.Sleep(every/5 + 250*time.Millisecond)
	cpu1, _ := procStat(t, pid)
	res.steady = time.Since(t0)
	n1 := m.metric(t, "meshlens_receiver_entries_processed_total")
	waitCounted(t, m, float64(mesh.EntryCount()))
	closeAll()
	res.realEntries = n1 - n0
	res.realCPU = cpu1 - cpu0
	res.realNs = res.realCPU / res.realEntries * 1e9
	checkAccounting(t, m, sent)
	res.series = familyCount(m.scrape(t), "istio_requests_total")
	if os.Getenv("MESHLENS_REALISTIC_FLAT") == "0" {
		return res
	}

	// Flat out: the same kind of entries, 100 per message on 8 streams.
	base := float64(mesh.EntryCount())
	conn8, close8 := dialConns(t, m.GRPC, flat.Streams())
	fcpu0, _ := procStat(t, pid)
	start := time.Now()
	fsent, err := flat.Send(context.Background(), conn8, loadgen.SendOptions{})
	require.NoError(t, err)
	waitCounted(t, m, base+float64(flat.EntryCount()))
	res.fwall = time.Since(start)
	fcpu1, peak := procStat(t, pid)
	close8()
	res.peak = peak
	res.flatNs = (fcpu1 - fcpu0) / float64(flat.EntryCount()) * 1e9
	sent.Entries += fsent.Entries
	sent.Messages += fsent.Messages
	checkAccounting(t, m, sent)
	return res
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
	// maxRealisticVsFlatLoops is the same bar on the event loops
	// (event_loop, ADR 0014), where 1.7–2.0× was measured.
	maxRealisticVsFlatLoops = 4.0
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
