package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/loadgen"
)

// procRSS returns a process's current and peak RSS in MiB.
func procRSS(t *testing.T, pid int) (cur, peak float64) {
	t.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for _, line := range strings.Split(string(s), "\n") {
		for key, dst := range map[string]*float64{"VmRSS:": &cur, "VmHWM:": &peak} {
			if v, ok := strings.CutPrefix(line, key); ok {
				kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
				*dst = kb / 1024
			}
		}
	}
	return cur, peak
}

// procStat returns a process's CPU seconds (user+system) and peak RSS in MiB.
func procStat(t *testing.T, pid int) (cpu float64, peakMiB float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	cpu = (utime + stime) / 100 // USER_HZ
	_, peakMiB = procRSS(t, pid)
	return cpu, peakMiB
}

// TestE2EThroughput is the end-to-end throughput benchmark of issue 8: the
// meshlens binary, flat-out pre-encoded Istio traffic over many concurrent
// ALS streams from loadgen in this process, timed from the first byte sent
// until /metrics counts every entry. It also decodes the same messages with
// google.golang.org/protobuf's Unmarshal alone, on as many goroutines as
// there are cores, for the ratio. Run it with `make loadtest` (it is skipped
// in the ordinary test run unless MESHLENS_LOADTEST is set).
func TestE2EThroughput(t *testing.T) {
	if os.Getenv("MESHLENS_LOADTEST") == "" {
		t.Skip("set MESHLENS_LOADTEST=1 (make loadtest) to run the throughput benchmark")
	}
	lt := newLoadtest()
	tr, perPass, total, repeat, batch := lt.traffic, lt.perPass, lt.total, lt.repeat, lt.batch

	// Standard library decode of the same messages, alone.
	var msgs [][]byte
	for i := range tr.Streams {
		msgs = append(msgs, tr.Streams[i].Messages...)
	}
	stdStart := time.Now()
	var wg sync.WaitGroup
	workers := 2
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var m alsv3.StreamAccessLogsMessage
			for i := w; i < len(msgs); i += workers {
				if err := proto.Unmarshal(msgs[i], &m); err != nil {
					panic(err)
				}
			}
		}(w)
	}
	wg.Wait()
	stdRate := perPass / time.Since(stdStart).Seconds()

	r := lt.runMeshlens(t, 0)
	st, wall, sendDone, cpu, peak, conns := r.sent, r.wall, r.sendDone, r.cpu, r.peakMiB, r.conns
	rate := total / wall.Seconds()
	report := fmt.Sprintf("entries: %.0f (%d passes of %.0f; %d streams on %d connections, %d messages of up to %d entries, %.1f MB sent)\n"+
		"wall: %s (sender done after %s) → %.0f entries/s end to end\n"+
		"meshlens CPU: %.2f s → %.0f entries per meshlens CPU-second (%.0f ns of CPU per entry)\n"+
		"meshlens peak RSS: %.0f MiB\n"+
		"protobuf Unmarshal alone (%d goroutines, same messages): %.0f entries/s → meshlens end to end is %.2f× that\n",
		total, repeat, perPass, len(tr.Streams), conns, len(msgs)*repeat, batch, float64(st.Bytes)/1e6,
		wall.Round(time.Millisecond), sendDone.Round(time.Millisecond), rate,
		cpu, total/cpu, cpu/total*1e9, peak, workers, stdRate, rate/stdRate)
	t.Log("\n" + report)
	if out := os.Getenv("MESHLENS_LOADTEST_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(report), 0o644))
	}
}

// loadtest is the traffic of the throughput benchmarks: the load test's mesh
// (50 services, 200 edges, both reporters, HTTP/gRPC/TCP), sent repeat times.
type loadtest struct {
	traffic        *loadgen.Traffic
	perPass, total float64 // entries
	repeat, batch  int
}

// newLoadtest builds the traffic: MESHLENS_LOADTEST_REQUESTS requests per
// pass (default 200,000) in messages of MESHLENS_LOADTEST_BATCH entries.
func newLoadtest() loadtest {
	requests, _ := strconv.Atoi(os.Getenv("MESHLENS_LOADTEST_REQUESTS"))
	if requests == 0 {
		requests = 200_000
	}
	repeat := 5
	// Entries per message: 100 (~94 KB, Envoy with buffer_size_bytes of
	// 96 KiB) by default; MESHLENS_LOADTEST_BATCH=17 is Envoy's default
	// buffer_size_bytes of 16 KiB.
	batch, _ := strconv.Atoi(os.Getenv("MESHLENS_LOADTEST_BATCH"))
	if batch == 0 {
		batch = 100
	}
	traffic := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{
		Seed: 1, Requests: requests, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: batch,
	})
	perPass := float64(traffic.EntryCount())
	total := perPass * float64(repeat)
	return loadtest{traffic: traffic, perPass: perPass, total: total, repeat: repeat, batch: batch}
}

// loadtestRun is what one run of the load test's traffic measured.
type loadtestRun struct {
	sent           loadgen.Stats
	conns          int
	wall, sendDone time.Duration
	cpu            float64 // CPU seconds of the receiving process
	peakMiB        float64
}

// runMeshlens starts the meshlens binary and sends it the traffic, flat out
// (rate 0) or at rate entries/s, timed until /metrics counts every entry;
// then it stops meshlens.
func (lt loadtest) runMeshlens(t *testing.T, rate float64) loadtestRun {
	t.Helper()
	m := startMeshlens(t)
	defer stopLogged(t, "meshlens", m.process)
	return lt.run(t, m.process, m.GRPC, rate, func() {
		// Poll every 20 ms: each poll is a whole scrape of /metrics, which
		// at 2 ms took ~4 % of meshlens's CPU; 20 ms adds at most that to
		// the wall time (< 1 % of a run).
		for m.metric(t, "meshlens_receiver_entries_processed_total") < lt.total {
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// run sends the traffic to the process p listening on addr over
// loadtestConns connections, waits for done, and reads p's CPU time.
func (lt loadtest) run(t *testing.T, p *process, addr string, rate float64, done func()) loadtestRun {
	t.Helper()
	pid := p.cmd.Process.Pid
	cpu0, _ := procStat(t, pid)
	r := loadtestRun{conns: loadtestConns(len(lt.traffic.Streams))}
	conn, closeAll := dialConns(t, addr, r.conns)
	defer closeAll() // not to redial a process stopped after this run
	start := time.Now()
	var err error
	r.sent, err = loadgen.Send(context.Background(), conn, lt.traffic, loadgen.SendOptions{Repeat: lt.repeat, Rate: rate})
	require.NoError(t, err)
	require.InDelta(t, lt.total, float64(r.sent.Entries), 0)
	r.sendDone = time.Since(start)
	done()
	r.wall = time.Since(start)
	cpu1, peak := procStat(t, pid)
	r.cpu, r.peakMiB = cpu1-cpu0, peak
	return r
}

// stopLogged stops a process the test started, logging (as the cleanup
// would) rather than failing when it does not stop in time.
func stopLogged(t *testing.T, name string, p *process) {
	t.Helper()
	if err := p.stop(t, 20*time.Second); err != nil {
		t.Logf("%s: stop: %v", name, err)
	}
}
