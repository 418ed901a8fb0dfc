package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// TestE2EScale is the scale benchmark of issue 18 (item 7): the meshlens
// binary fed a generated mesh of 1,000 services whose traffic holds
// ~30,000 Istio HTTP label sets, at a steady rate over gRPC ALS, measured
// in one run:
//
//   - scrape: ingest alone, then ingest with back-to-back scrapes of
//     /metrics in every format of scaleFormats; then, ingest stopped, the
//     idle CPU and each format scraped alone: bytes on the wire, time,
//     meshlens's CPU and its RSS before, at peak and after;
//   - push: for each sender of MESHLENS_SCALE_SENDERS (default all three:
//     contrib, own, own-native), a second meshlens pushing: contrib is the
//     meshlens_metrics receiver and contrib's prometheus_remote_write
//     exporter configured as docs/push.md says; own is meshlens's own
//     sender (extensions::meshlens::remote_write, every source: Istio,
//     Envoy stats, span metrics), own-native the same with native
//     histograms on, own-native-istio that with the Istio series alone
//     (remote_write::sources: [istio]: issue 18's target); each sends to a local HTTP sink
//     (MESHLENS_SCALE_PUSH=sink, the default: it reads each request and
//     answers 204) or to a real Prometheus with
//     --web.enable-remote-write-receiver (MESHLENS_SCALE_PUSH=prometheus,
//     which then must hold every pushed label set); ingest with pushes,
//     then pushes alone: CPU per push and per minute, RSS.
//
// Ingest entries/s is meshlens's own count of entries processed per second
// in each phase, read from the head of /metrics (its self-metrics come
// before the mesh series; the read stops there).
//
// Run with `make scale`; skipped unless MESHLENS_SCALE is set. Settings:
// MESHLENS_SCALE_RATE (entries/s, default 50000), MESHLENS_SCALE_PHASE
// (each phase's length, default 20s), MESHLENS_SCALE_INTERVAL (the push's
// interval, default 15s as docs/push.md), MESHLENS_SCALE_PUSHES
// (pushes measured alone, default 4), MESHLENS_SCALE_ARGS (more arguments
// to the pushing meshlens, e.g.
// --set=exporters::prometheus_remote_write::max_batch_size_bytes=16000000),
// MESHLENS_SCALE_SENDERS (the senders pushed with, comma-separated: contrib,
// own, own-native, own-native-istio), MESHLENS_SCALE_REPORT (a file the report is written
// to).
func TestE2EScale(t *testing.T) {
	if os.Getenv("MESHLENS_SCALE") == "" {
		t.Skip("set MESHLENS_SCALE=1 (make scale) to run the scale benchmark")
	}
	s := newScale(t)
	t.Logf("mesh: %d services, %d edges; %d entries per pass in %d streams (%.0f MB); ingest at %.0f entries/s",
		scaleServices, scaleEdges, s.traffic.EntryCount(), len(s.traffic.Streams), float64(s.traffic.ByteCount())/1e6, s.rate)
	var rep strings.Builder
	t.Run("scrape", func(t *testing.T) { s.scrape(t, &rep) })
	for _, sender := range scaleSenders() {
		t.Run("push/"+sender, func(t *testing.T) { s.push(t, &rep, sender) })
	}
	t.Log("\n" + rep.String())
	if out := os.Getenv("MESHLENS_SCALE_REPORT"); out != "" {
		require.NoError(t, os.WriteFile(out, []byte(rep.String()), 0o644))
	}
}

// The generated mesh: loadgen.Synthetic(1000, 1, 15500, 7) with 150,000
// requests per pass holds 30,223 HTTP label sets (and 3,349 TCP ones): one
// per edge, reporter and response code or flags seen.
const (
	scaleServices = 1000
	scaleEdges    = 15_500
	scaleRequests = 150_000
	// scaleMinSets is the fewest HTTP label sets the run must reach.
	scaleMinSets = 30_000
	// scaleConns is the number of client connections: 3,650 streams (a
	// proxy's HTTP and TCP loggers) over 64 connections, 57 each.
	scaleConns = 64
)

// scaleFormat is one way of scraping /metrics.
type scaleFormat struct {
	name   string
	accept string // Accept header ("" sends none: text 0.0.4)
	gzip   bool   // Accept-Encoding: gzip
	// want is the Content-Type prefix of the format; a scrape answered in
	// another format is reported as pending, not measured.
	want string
}

// scaleFormats are the formats scraped. The protobuf exposition with native
// histograms is negotiated by Accept (metrics::native_histograms on:
// scaleScrapeArgs); a scrape answered in another format is reported as
// pending.
var scaleFormats = []scaleFormat{
	{name: "text", want: "text/plain"},
	{name: "gzip", gzip: true, want: "text/plain"},
	{name: "protobuf native", accept: "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", gzip: true, want: "application/vnd.google.protobuf"},
}

// scaleScrapeArgs are the scraped meshlens's arguments: its embedded
// default config with native histograms on, so that a scraper asking for
// protobuf gets it (text scrapers get the same text as without).
var scaleScrapeArgs = []string{"--set", "extensions::meshlens::metrics::native_histograms::enabled=true"}

// The targets: a gzip scrape of 30k label sets under 2 s and
// 200 MB of extra memory (checked), ingest unchanged while scraping or
// pushing (checked: at least scaleMinIngest of the rate sent), remote write
// under 1 CPU-second a minute (reported: BENCHMARKS.md measures ~37 with
// contrib's exporter; the check is a bar at about twice that, which
// catches a regression, as the load tests' bars do).
const (
	scaleMaxScrape       = 2 * time.Second
	scaleMaxScrapeMiB    = 200.0
	scaleMinIngest       = 0.9
	scalePushTarget      = 1.0  // CPU-s per minute
	scaleMaxPushPerMin   = 75.0 // CPU-s per minute at a 15 s interval, contrib
	scalePushBarInterval = 15 * time.Second
	// The bars of the own sender, at about twice what it measured (as
	// contrib's): ~2.6 CPU-s a minute with classic histograms, ~0.9 with
	// native ones (the target; reported as reached or not).
	scaleMaxOwnPerMin       = 5.0
	scaleMaxOwnNativePerMin = 2.0
)

// scaleSenders are the remote-write senders the push phase measures
// (MESHLENS_SCALE_SENDERS, comma-separated; default all).
func scaleSenders() []string {
	if v := os.Getenv("MESHLENS_SCALE_SENDERS"); v != "" {
		return strings.Split(v, ",")
	}
	return []string{"contrib", "own", "own-native", "own-native-istio"}
}

// senderArgs returns the pushing meshlens's arguments for a sender sending
// to url (a Prometheus's or the sink's base URL) every interval.
func senderArgs(t *testing.T, sender, url string, interval time.Duration) []string {
	t.Helper()
	switch sender {
	case "contrib":
		cfgPath := filepath.Join(t.TempDir(), "meshlens.yaml")
		require.NoError(t, os.WriteFile(cfgPath, fmt.Appendf(nil, remoteWriteConfig, interval, url), 0o644))
		return []string{"--config", cfgPath}
	case "own", "own-native", "own-native-istio":
		args := []string{
			"--set", "extensions::meshlens::remote_write::endpoint=" + url + "/api/v1/write",
			"--set", "extensions::meshlens::remote_write::interval=" + interval.String(),
		}
		if sender != "own" {
			args = append(args, "--set", "extensions::meshlens::metrics::native_histograms::enabled=true")
		}
		if sender == "own-native-istio" {
			args = append(args, "--set", "extensions::meshlens::remote_write::sources=[istio]")
		}
		return args
	}
	t.Fatalf("MESHLENS_SCALE_SENDERS: unknown sender %q (contrib, own, own-native, own-native-istio)", sender)
	return nil
}

type scale struct {
	traffic  *loadgen.Traffic
	rate     float64
	phase    time.Duration
	interval time.Duration
	pushes   int
}

func newScale(t *testing.T) *scale {
	t.Helper()
	s := &scale{rate: 50_000, phase: 20 * time.Second, interval: 15 * time.Second, pushes: 4}
	if v, err := strconv.ParseFloat(os.Getenv("MESHLENS_SCALE_RATE"), 64); err == nil && v > 0 {
		s.rate = v
	}
	for env, dst := range map[string]*time.Duration{"MESHLENS_SCALE_PHASE": &s.phase, "MESHLENS_SCALE_INTERVAL": &s.interval} {
		if v, err := time.ParseDuration(os.Getenv(env)); err == nil && v > 0 {
			*dst = v
		}
	}
	if v, err := strconv.Atoi(os.Getenv("MESHLENS_SCALE_PUSHES")); err == nil && v > 0 {
		s.pushes = v
	}
	s.traffic = loadgen.Synthetic(scaleServices, 1, scaleEdges, 7).Generate(loadgen.GenConfig{
		Seed: 7, Requests: scaleRequests, TCPPeriodic: true,
	})
	return s
}

// ingest sends the traffic to m at the steady rate until stop is called,
// after waiting until m holds every label set of a first pass. It returns
// the number of HTTP label sets.
func (s *scale) ingest(t *testing.T, m *meshlens) (sets float64, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The proxies' streams over scaleConns connections: each carries fewer
	// than the 100 streams a connection may hold open.
	conn, closeAll := dialConns(t, m.GRPC, scaleConns)
	t.Cleanup(closeAll)
	var wg sync.WaitGroup
	wg.Go(func() {
		// Cancelled by stop: the error says so.
		_, _ = loadgen.Send(ctx, conn, s.traffic, loadgen.SendOptions{Rate: s.rate, Duration: time.Hour})
	})
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	pass := float64(s.traffic.EntryCount())
	deadline := time.Now().Add(2*time.Duration(pass/s.rate*float64(time.Second)) + time.Minute)
	for {
		v := selfMetrics(t, m, "meshlens_receiver_entries_processed_total", `meshlens_series_active{family="http"}`)
		// Every stream is paced to its share: once a pass's worth of
		// entries is processed, every stream has sent about a pass.
		if v[0] >= 1.1*pass {
			sets = v[1]
			break
		}
		require.True(t, time.Now().Before(deadline), "meshlens processed %.0f entries of a pass of %.0f", v[0], pass)
		time.Sleep(500 * time.Millisecond)
	}
	require.GreaterOrEqual(t, sets, float64(scaleMinSets), "HTTP label sets held")
	return sets, stop
}

// window is what a phase measured of meshlens.
type window struct {
	wall      time.Duration
	cpu       float64 // seconds
	processed float64 // entries
}

func (w window) rate() float64 { return w.processed / w.wall.Seconds() }

// measure runs f (or sleeps for d when f is nil) and returns what meshlens
// did meanwhile.
func measure(t *testing.T, m *meshlens, d time.Duration, f func()) window {
	t.Helper()
	pid := m.cmd.Process.Pid
	p0 := selfMetrics(t, m, "meshlens_receiver_entries_processed_total")[0]
	c0, _ := procStat(t, pid)
	start := time.Now()
	if f != nil {
		f()
	} else {
		time.Sleep(d)
	}
	wall := time.Since(start)
	c1, _ := procStat(t, pid)
	p1 := selfMetrics(t, m, "meshlens_receiver_entries_processed_total")[0]
	return window{wall: wall, cpu: c1 - c0, processed: p1 - p0}
}

// scrapeResult is one scrape of /metrics.
type scrapeResult struct {
	bytes       int64 // on the wire (compressed when gzip)
	wall        time.Duration
	cpu         float64 // meshlens's CPU seconds during the scrape
	before      float64 // RSS MiB before
	peak, after float64 // RSS MiB at peak (VmHWM, reset before) and after
	contentType string
}

// scrapeOnce scrapes m's /metrics in format f, reading the whole body as
// it comes (not decompressing it).
func scrapeOnce(t *testing.T, m *meshlens, f scaleFormat) scrapeResult {
	t.Helper()
	pid := m.cmd.Process.Pid
	var r scrapeResult
	r.before, _ = procRSS(t, pid)
	// Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current.
	require.NoError(t, os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0))
	c0, _ := procStat(t, pid)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.HTTP+"/metrics", http.NoBody)
	require.NoError(t, err)
	if f.accept != "" {
		req.Header.Set("Accept", f.accept)
	}
	if f.gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := scaleClient.Do(req)
	require.NoError(t, err)
	r.bytes, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	r.wall = time.Since(start)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	if f.gzip {
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	}
	r.contentType = resp.Header.Get("Content-Type")
	c1, _ := procStat(t, pid)
	r.cpu = c1 - c0
	r.after, r.peak = procRSS(t, pid)
	return r
}

// scaleClient leaves the body as sent: no transparent decompression.
var scaleClient = &http.Client{Transport: &http.Transport{DisableCompression: true}}

// selfMetrics reads the samples named (exact series text, as
// tryMetrics) from the head of m's /metrics: the hub's own registry, which
// comes first, sorted by name (go_*, meshlens_*, process_*); it stops
// reading at the first family past them, so the mesh series are never
// rendered whole. A missing sample fails the test.
func selfMetrics(t *testing.T, m *meshlens, series ...string) []float64 {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.HTTP+"/metrics", http.NoBody)
	require.NoError(t, err)
	resp, err := scaleClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := make([]float64, len(series))
	found := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for found < len(series) && sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "# HELP "); ok {
			if !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "meshlens_") && !strings.HasPrefix(name, "process_") {
				break
			}
			continue
		}
		for i, s := range series {
			if rest, ok := strings.CutPrefix(line, s+" "); ok {
				out[i], err = strconv.ParseFloat(strings.TrimSpace(rest), 64)
				require.NoError(t, err, line)
				found++
			}
		}
	}
	require.Equal(t, len(series), found, "self-metrics %v at the head of /metrics", series)
	return out
}

func (s *scale) scrape(t *testing.T, rep *strings.Builder) {
	m := startMeshlens(t, scaleScrapeArgs...)
	defer stopLogged(t, "meshlens", m.process)
	pid := m.cmd.Process.Pid
	sets, stop := s.ingest(t, m)
	rssIngest, _ := procRSS(t, pid)
	alone := measure(t, m, s.phase, nil)

	// Ingest while scraping back to back, the formats in turn.
	var under []struct {
		f scaleFormat
		r scrapeResult
	}
	scraping := measure(t, m, 0, func() {
		end := time.Now().Add(s.phase)
		for i := 0; time.Now().Before(end) || i < len(scaleFormats); i++ {
			f := scaleFormats[i%len(scaleFormats)]
			under = append(under, struct {
				f scaleFormat
				r scrapeResult
			}{f, scrapeOnce(t, m, f)})
		}
	})
	stop()
	idle := measure(t, m, s.phase, nil)
	rssBefore, _ := procRSS(t, pid)

	fmt.Fprintf(rep, "## scrape (%.0f HTTP label sets; ingest %.0f entries/s)\n\n", sets, s.rate)
	fmt.Fprintf(rep, "| phase | wall | ingest entries/s | meshlens CPU | CPU per entry |\n|---|---|---|---|---|\n")
	for _, p := range []struct {
		name string
		w    window
	}{{"ingest alone", alone}, {fmt.Sprintf("ingest + %d back-to-back scrapes", len(under)), scraping}, {"idle (no ingest)", idle}} {
		perEntry := "—"
		if p.w.processed > 0 {
			perEntry = fmt.Sprintf("%.0f ns", p.w.cpu/p.w.processed*1e9)
		}
		fmt.Fprintf(rep, "| %s | %.1f s | %.0f | %.2f s (%.0f %% of a core) | %s |\n",
			p.name, p.w.wall.Seconds(), p.w.rate(), p.w.cpu, 100*p.w.cpu/p.w.wall.Seconds(), perEntry)
	}
	fmt.Fprintf(rep, "\nRSS: %.0f MiB ingesting, %.0f MiB idle before the scrapes alone.\n\n", rssIngest, rssBefore)
	fmt.Fprintf(rep, "| format | while | bytes on the wire | wall | meshlens CPU | RSS before → peak → after (MiB) |\n|---|---|---|---|---|---|\n")
	row := func(f scaleFormat, while string, r scrapeResult) {
		if !strings.HasPrefix(r.contentType, f.want) {
			fmt.Fprintf(rep, "| %s | %s | pending (answered %s) | | | |\n", f.name, while, r.contentType)
			return
		}
		fmt.Fprintf(rep, "| %s | %s | %.1f MB | %.2f s | %.2f s | %.0f → %.0f (+%.0f) → %.0f |\n",
			f.name, while, float64(r.bytes)/1e6, r.wall.Seconds(), r.cpu, r.before, r.peak, r.peak-r.before, r.after)
	}
	for _, u := range under {
		row(u.f, "ingest", u.r)
	}
	for _, f := range scaleFormats {
		for range 3 {
			r := scrapeOnce(t, m, f)
			row(f, "idle", r)
			if f.gzip && strings.HasPrefix(r.contentType, f.want) {
				assert.Less(t, r.wall, scaleMaxScrape, "%s scrape of %.0f label sets", f.name, sets)
				assert.Less(t, r.peak-r.before, scaleMaxScrapeMiB, "%s scrape: MiB of RSS over the RSS before", f.name)
			}
		}
	}
	// Not measured: the gzip text stream (textgzip's own DEFLATE, ADR 0012)
	// of the whole 1.8 GB exposition decompresses with compress/gzip, as
	// Prometheus's scraper reads it (CRC and length checked at the end), to
	// as many lines as the identity scrape has.
	lines := func(gz bool) int64 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+m.HTTP+"/metrics", http.NoBody)
		require.NoError(t, err)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := scaleClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body io.Reader = resp.Body
		if gz {
			require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
			zr, err := gzip.NewReader(resp.Body)
			require.NoError(t, err)
			body = zr
		}
		n, err := countLines(body)
		require.NoError(t, err, "read the scrape (gzip: %v)", gz)
		return n
	}
	gzLines, textLines := lines(true), lines(false)
	fmt.Fprintf(rep, "\nThe gzip text scrape decompresses (compress/gzip) to %d lines; the identity one has %d.\n", gzLines, textLines)
	assert.InDelta(t, textLines, gzLines, 50, "lines of the gzip and the identity text scrapes (the self-metrics may gain a few)")

	rssAfter, _ := procRSS(t, pid)
	fmt.Fprintf(rep, "\nRSS after the scrapes: %.0f MiB.\n\n", rssAfter)
	assert.GreaterOrEqual(t, scraping.rate(), scaleMinIngest*s.rate, "ingest entries/s while scraping")
	assert.GreaterOrEqual(t, alone.rate(), scaleMinIngest*s.rate, "ingest entries/s alone")
}

// countLines counts the newlines r reads until EOF.
func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 256<<10)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// pushSink is a remote-write endpoint that reads every request and
// answers 204, counting requests and bytes.
type pushSink struct {
	requests, bytes atomic.Int64
}

func (p *pushSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	p.bytes.Add(n)
	p.requests.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (s *scale) push(t *testing.T, rep *strings.Builder, sender string) {
	target := os.Getenv("MESHLENS_SCALE_PUSH")
	if target == "" {
		target = "sink"
	}
	var url string
	var sink *pushSink
	var prom *prometheus
	switch target {
	case "sink":
		sink = &pushSink{}
		addr := freePort(t)
		srv := &http.Server{Addr: addr, Handler: sink, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		t.Cleanup(func() { _ = srv.Close() })
		url = "http://" + addr
	case "prometheus":
		addr := freePort(t)
		// Scraping nothing: the push is all it holds.
		flags := []string{"--web.enable-remote-write-receiver"}
		if strings.HasPrefix(sender, "own-native") {
			flags = append(flags, "--enable-feature=native-histograms")
		}
		prom = startPrometheusWith(t, addr, "none", flags, "127.0.0.1:1")
		url = prom.URL
	default:
		t.Fatalf("MESHLENS_SCALE_PUSH=%q: want sink or prometheus", target)
	}
	args := append(senderArgs(t, sender, url, s.interval), strings.Fields(os.Getenv("MESHLENS_SCALE_ARGS"))...)
	m := startMeshlens(t, args...)
	defer stopLogged(t, "meshlens", m.process)
	pid := m.cmd.Process.Pid
	sets, stop := s.ingest(t, m)

	// RSS sampled every 100 ms over each phase.
	sampleRSS := func(f func() window) (window, float64, float64) {
		done := make(chan struct{})
		var lo, hi float64
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				cur := currentRSS(pid)
				if lo == 0 || cur < lo {
					lo = cur
				}
				hi = max(hi, cur)
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
		w := f()
		close(done)
		wg.Wait()
		return w, lo, hi
	}
	n := s.pushes
	span := time.Duration(n) * s.interval
	pushing, lo1, hi1 := sampleRSS(func() window { return measure(t, m, span, nil) })
	stop()
	// Let the last push of the ingest phase end.
	time.Sleep(s.interval)
	rssIdle, _ := procRSS(t, pid)
	var r0, b0 int64
	if sink != nil {
		r0, b0 = sink.requests.Load(), sink.bytes.Load()
	}
	alone, lo2, hi2 := sampleRSS(func() window { return measure(t, m, span, nil) })
	perPush := alone.cpu / alone.wall.Seconds() * s.interval.Seconds()
	perMin := alone.cpu / alone.wall.Minutes()

	fmt.Fprintf(rep, "## push, %s sender (%.0f HTTP label sets; to %s every %s; ingest %.0f entries/s)\n\n", sender, sets, target, s.interval, s.rate)
	fmt.Fprintf(rep, "| phase | wall | ingest entries/s | meshlens CPU | CPU per minute | RSS min–max (MiB) |\n|---|---|---|---|---|---|\n")
	for _, p := range []struct {
		name   string
		w      window
		lo, hi float64
	}{{"ingest + pushes", pushing, lo1, hi1}, {"pushes alone (no ingest)", alone, lo2, hi2}} {
		fmt.Fprintf(rep, "| %s | %.1f s | %.0f | %.2f s | %.2f s | %.0f–%.0f |\n",
			p.name, p.w.wall.Seconds(), p.w.rate(), p.w.cpu, p.w.cpu/p.w.wall.Minutes(), p.lo, p.hi)
	}
	status := "reached"
	if perMin >= scalePushTarget {
		status = "NOT reached"
	}
	fmt.Fprintf(rep, "\nPushes alone: **%.2f CPU-s per push, %.2f CPU-s per minute** (the idle process's CPU included; target %.0f: %s); RSS %.0f MiB before them.\n",
		perPush, perMin, scalePushTarget, status, rssIdle)
	if sink != nil {
		reqs, sent := sink.requests.Load()-r0, sink.bytes.Load()-b0
		pushes := alone.wall.Seconds() / s.interval.Seconds()
		fmt.Fprintf(rep, "Sink: %.0f requests, %.1f MB (snappy) per push.\n", float64(reqs)/pushes, float64(sent)/pushes/1e6)
		assert.Positive(t, reqs, "remote-write requests received")
	}
	if prom != nil {
		// Every label set pushed arrived: one istio_requests_total series each.
		res := prom.query(t, `count(istio_requests_total{job="meshlens"})`, time.Time{})
		require.Len(t, res, 1)
		assert.GreaterOrEqual(t, res[0].Value, sets, "pushed istio_requests_total series in Prometheus")
		_, promPeak := procRSS(t, prom.cmd.Process.Pid)
		fmt.Fprintf(rep, "Prometheus: %.0f istio_requests_total series; peak RSS %.0f MiB.\n", res[0].Value, promPeak)
	}
	fmt.Fprintln(rep)
	assert.GreaterOrEqual(t, pushing.rate(), scaleMinIngest*s.rate, "ingest entries/s while pushing")
	if s.interval == scalePushBarInterval {
		bar := map[string]float64{
			"contrib": scaleMaxPushPerMin, "own": scaleMaxOwnPerMin,
			"own-native": scaleMaxOwnNativePerMin, "own-native-istio": scaleMaxOwnNativePerMin,
		}[sender]
		assert.Less(t, perMin, bar, "meshlens CPU-s per minute pushing %.0f label sets every %s (%s sender)", sets, s.interval, sender)
	}
}

// currentRSS returns a process's RSS in MiB, 0 when it cannot be read. It
// never fails the test, so that a sampling goroutine can call it.
func currentRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024
		}
	}
	return 0
}
