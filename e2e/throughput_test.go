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
	"github.com/stretchr/testify/assert"
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
	minRate := minThroughput
	if os.Getenv("MESHLENS_E2E_CPUS") != "" {
		minRate = minThroughputPinned
	}
	assert.GreaterOrEqual(t, rate, minRate, "entries/s end to end")
	assert.LessOrEqual(t, cpu/total*1e9, maxCPUPerEntry, "ns of meshlens CPU per entry")
	assert.GreaterOrEqual(t, rate/stdRate, minVsProtobuf, "meshlens end to end against protobuf Unmarshal alone")
}

// Bars of the load tests (make loadtest; stated in BENCHMARKS.md). This
// 2-core machine is shared with other jobs and its speed drifts by ±20 %
// from one minute to the next, so each bar is about half of what
// BENCHMARKS.md measured: they catch a regression of a factor of two, not
// of a few percent (compare figures for that, in one run).
const (
	// minThroughput is half of the ~800,000 entries/s end to end measured
	// with the cores shared (session 4: 662,000–882,000 in six runs of make
	// loadtest).
	minThroughput = 400_000.0
	// minThroughputPinned is half of the lowest figure with meshlens on one
	// core and the generator on the other (MESHLENS_E2E_CPUS, make
	// loadtest-pinned; session 4: 421,000–592,000 entries/s).
	minThroughputPinned = 200_000.0
	// maxCPUPerEntry is half of the lowest rate per meshlens CPU-second,
	// as ns of CPU per entry (session 4: 605,000–777,000 entries per
	// CPU-second, 1,287–1,652 ns, cores shared; 1,536–2,066 ns pinned).
	maxCPUPerEntry = 3_300.0
	// minVsProtobuf: meshlens end to end was 2.1–2.9× as fast as
	// proto.Unmarshal alone on the same messages, same run (session 4); the
	// issue-8 target is "faster".
	minVsProtobuf = 1.0
)

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
	r := lt.run(t, m.process, m.GRPC, rate, func() {
		// Poll every 20 ms: each poll is a whole scrape of /metrics, which
		// at 2 ms took ~4 % of meshlens's CPU; 20 ms adds at most that to
		// the wall time (< 1 % of a run).
		deadline := time.Now().Add(2 * time.Minute)
		for {
			n := m.metric(t, "meshlens_receiver_entries_processed_total")
			if n >= lt.total {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("meshlens processed %.0f of the %.0f entries sent", n, lt.total)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	checkAccounting(t, m, r.sent)
	return r
}

// checkAccounting checks that meshlens counted exactly what was sent: every
// message and entry received, every entry processed, none rejected or
// dropped.
func checkAccounting(t *testing.T, m *meshlens, sent loadgen.Stats) {
	t.Helper()
	s := m.scrape(t)
	assert.InDelta(t, float64(sent.Messages), s[`meshlens_receiver_messages_total{service="als"}`], 0, "messages received")
	assert.InDelta(t, float64(sent.Entries), s["meshlens_receiver_entries_received_total"], 0, "entries received")
	assert.InDelta(t, float64(sent.Entries), s["meshlens_receiver_entries_processed_total"], 0, "entries processed")
	for _, family := range []string{
		"meshlens_receiver_messages_rejected_total", "meshlens_receiver_entries_rejected_total", "meshlens_receiver_entries_dropped_total",
	} {
		assert.Zero(t, familySum(s, family), family)
	}
}

// scrape reads meshlens's /metrics once and returns every sample by its
// series text (`name` or `name{labels}`).
func (m *meshlens) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	_, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	require.NoError(t, err)
	samples := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, "sample line %q", line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, "sample line %q", line)
		samples[line[:i]] = v
	}
	require.NotEmpty(t, samples)
	return samples
}

// familySum returns the sum of a metric family's samples.
func familySum(samples map[string]float64, family string) float64 {
	var sum float64
	for series, v := range samples {
		if name, _, _ := strings.Cut(series, "{"); name == family {
			sum += v
		}
	}
	return sum
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
