package istiometrics

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var now = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// replay normalises every stream of the traffic and feeds the aggregator.
func replay(t testing.TB, a *Aggregator, tr *loadgen.Traffic) int {
	t.Helper()
	conns := accesslog.NewConnTable(1<<20, time.Hour)
	n := 0
	for i := range tr.Streams {
		st := accesslog.NewStream(accesslog.Config{}, conns)
		var recs []accesslog.Record
		for _, m := range tr.Streams[i].Messages {
			var err error
			recs, _, err = st.Decode(m, recs[:0], now)
			require.NoError(t, err)
			a.ConsumeRecords(recs, nil, now)
			n += len(recs)
		}
	}
	return n
}

func gather(t testing.TB, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	fams, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestExactCounts sends a generated mesh of known traffic (both reporters,
// HTTP, gRPC with error statuses, TCP with periodic entries, client-only
// connection failures, calls leaving the mesh) through the real normaliser
// and checks the totals per (reporter, source workload, destination
// workload, response code) to the request, and latency sums to the
// millisecond.
func TestExactCounts(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 7, Requests: 20000, TCPPeriodic: true, Start: now.Add(-time.Hour)})
	a := New(DefaultConfig())
	replay(t, a, tr)
	fams := gather(t, a.Collector())

	type key = loadgen.RequestKey
	gotCount := map[key]float64{}
	for _, m := range fams[RequestsTotal].GetMetric() {
		k := key{Reporter: loadgen.Reporter(label(m, "reporter")), Source: label(m, "source_workload"), Destination: label(m, "destination_workload"), ResponseCode: label(m, "response_code")}
		gotCount[k] += m.GetCounter().GetValue()
	}
	gotDur := map[key]float64{}
	for _, m := range fams[RequestDuration].GetMetric() {
		k := key{Reporter: loadgen.Reporter(label(m, "reporter")), Source: label(m, "source_workload"), Destination: label(m, "destination_workload"), ResponseCode: label(m, "response_code")}
		gotDur[k] += m.GetHistogram().GetSampleSum()
	}
	require.Len(t, gotCount, len(tr.Ledger.Requests))
	for k, want := range tr.Ledger.Requests {
		assert.InDelta(t, float64(want.Count), gotCount[k], 0, "requests %v", k)
		assert.InDelta(t, float64(want.DurationNanos)/1e6, gotDur[k], 1e-3, "duration sum %v", k)
	}
	// The mix covers what the issue lists.
	codes, reporters, unknownDst := map[string]bool{}, map[loadgen.Reporter]bool{}, false
	for k := range tr.Ledger.Requests {
		codes[k.ResponseCode] = true
		reporters[k.Reporter] = true
		unknownDst = unknownDst || k.Destination == loadgen.Unknown
	}
	assert.True(t, codes["503"] || codes["0"], "client-only connection failures")
	assert.True(t, unknownDst, "traffic leaving the mesh")
	assert.Len(t, reporters, 2)

	// gRPC statuses.
	gotGRPC := map[loadgen.GRPCStatusKey]float64{}
	for _, m := range fams[RequestsTotal].GetMetric() {
		if label(m, "request_protocol") != "grpc" {
			continue
		}
		gotGRPC[loadgen.GRPCStatusKey{
			Reporter: loadgen.Reporter(label(m, "reporter")), Source: label(m, "source_workload"),
			Destination: label(m, "destination_workload"), Status: label(m, "grpc_response_status"),
		}] += m.GetCounter().GetValue()
	}
	require.NotEmpty(t, tr.Ledger.GRPCStatuses)
	for k, want := range tr.Ledger.GRPCStatuses {
		assert.InDelta(t, float64(want), gotGRPC[k], 0, "grpc %v", k)
	}
	// TCP.
	type pk = loadgen.PairKey
	sum := func(name string) map[pk]float64 {
		out := map[pk]float64{}
		for _, m := range fams[name].GetMetric() {
			out[pk{Reporter: loadgen.Reporter(label(m, "reporter")), Source: label(m, "source_workload"), Destination: label(m, "destination_workload")}] += m.GetCounter().GetValue()
		}
		return out
	}
	opened, closed, sent, recv := sum(TCPConnectionsOpened), sum(TCPConnectionsClosed), sum(TCPSentBytes), sum(TCPReceivedBytes)
	require.NotEmpty(t, tr.Ledger.TCP)
	for k, want := range tr.Ledger.TCP {
		assert.InDelta(t, float64(want.Opened), opened[k], 0, "opened %v", k)
		assert.InDelta(t, float64(want.Closed), closed[k], 0, "closed %v", k)
		assert.InDelta(t, float64(want.SentBytes), sent[k], 0, "sent %v", k)
		assert.InDelta(t, float64(want.ReceivedBytes), recv[k], 0, "received %v", k)
	}
	// gRPC messages.
	reqMsgs, respMsgs := sum(RequestMessages), sum(ResponseMessages)
	require.NotEmpty(t, tr.Ledger.GRPC)
	for k, want := range tr.Ledger.GRPC {
		assert.InDelta(t, float64(want.RequestMessages), reqMsgs[k], 0, "request messages %v", k)
		assert.InDelta(t, float64(want.ResponseMessages), respMsgs[k], 0, "response messages %v", k)
	}
}

// TestLabelSets checks Istio's exact label sets and default buckets.
func TestLabelSets(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 2000, Start: now.Add(-time.Hour)})
	a := New(DefaultConfig())
	replay(t, a, tr)
	fams := gather(t, a.Collector())
	names := func(m *dto.Metric) []string {
		var out []string
		for _, l := range m.GetLabel() {
			out = append(out, l.GetName())
		}
		return out
	}
	sorted := func(s []string) []string { s = append([]string{}, s...); sort.Strings(s); return s }
	for name, want := range map[string][]string{
		RequestsTotal: HTTPLabels, RequestDuration: HTTPLabels, RequestBytes: HTTPLabels, ResponseBytes: HTTPLabels,
		RequestMessages: HTTPLabels, ResponseMessages: HTTPLabels,
		TCPConnectionsOpened: TCPLabels, TCPConnectionsClosed: TCPLabels, TCPSentBytes: TCPLabels, TCPReceivedBytes: TCPLabels,
	} {
		f := fams[name]
		require.NotNil(t, f, name)
		for _, m := range f.GetMetric() {
			require.Equal(t, sorted(want), names(m), name)
		}
	}
	assert.Len(t, HTTPLabels, 25)
	assert.Len(t, TCPLabels, 23)
	var bounds []float64
	for _, b := range fams[RequestDuration].GetMetric()[0].GetHistogram().GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	assert.Equal(t, DefaultBuckets, bounds)
	assert.Equal(t, []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}, DefaultBuckets)
}

// parseText parses an exposition into families keyed by name, with metrics
// sorted by their labels.
func parseText(t testing.TB, b []byte, f Format) map[string]*dto.MetricFamily {
	t.Helper()
	if f == FormatOpenMetrics {
		// expfmt has no OpenMetrics parser: drop exemplars and map the
		// family names back, which is what Prometheus does too.
		var out bytes.Buffer
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, " # {"); i >= 0 {
				line = line[:i]
			}
			if strings.HasPrefix(line, "# TYPE ") && strings.HasSuffix(line, " counter") {
				line = strings.Replace(line, " counter", "_total counter", 1)
			}
			if strings.HasPrefix(line, "# HELP ") {
				continue
			}
			out.WriteString(line + "\n")
		}
		b = out.Bytes()
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	for _, f := range fams {
		f.Help = nil
		for _, m := range f.Metric {
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
		sort.Slice(f.Metric, func(i, j int) bool { return f.Metric[i].String() < f.Metric[j].String() })
	}
	return fams
}

// TestWriteTextEqualsCollector checks the fast writer against client_golang.
func TestWriteTextEqualsCollector(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 3000, TCPPeriodic: true, Start: now.Add(-time.Hour)})
	a := New(DefaultConfig())
	replay(t, a, tr)

	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(a.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	var want bytes.Buffer
	for _, f := range fams {
		_, err := expfmt.MetricFamilyToText(&want, f)
		require.NoError(t, err)
	}
	wantFams := parseText(t, want.Bytes(), FormatText)
	for _, f := range []Format{FormatText, FormatOpenMetrics} {
		var got bytes.Buffer
		require.NoError(t, a.WriteText(&got, f))
		gotFams := parseText(t, got.Bytes(), f)
		require.Len(t, gotFams, len(wantFams), "format %d", f)
		for name, w := range wantFams {
			g := gotFams[name]
			require.NotNil(t, g, name)
			assert.Equal(t, w.String(), g.String(), "format %d family %s", f, name)
		}
	}
}

func TestExemplars(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 5, Requests: 500, Start: now.Add(-time.Hour)})
	a := New(DefaultConfig())
	replay(t, a, tr)
	var b bytes.Buffer
	require.NoError(t, a.WriteText(&b, FormatOpenMetrics))
	out := b.String()
	n := strings.Count(out, `# {trace_id="`)
	assert.Positive(t, n, "duration buckets carry trace ids")
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " # {") {
			assert.True(t, strings.HasPrefix(line, RequestDuration+"_bucket{"), "only duration buckets carry exemplars: %s", line)
			assert.Regexp(t, `# \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} [0-9.e+]+ [0-9]+\.[0-9]{3}$`, line)
		}
	}
	b.Reset()
	require.NoError(t, a.WriteText(&b, FormatText))
	assert.NotContains(t, b.String(), "trace_id", "the 0.0.4 text format has no exemplars")

	// promtool accepts the exposition (when Prometheus's promtool is
	// installed; CI installs it).
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool not found on PATH")
		}
		t.Skip("promtool not installed")
	}
	b.Reset()
	require.NoError(t, a.WriteText(&b, FormatText))
	cmd := exec.CommandContext(t.Context(), promtool, "check", "metrics")
	cmd.Stdin = &b
	res, err := cmd.CombinedOutput()
	// Exit 1 is a parse error; exit 3 means it parsed and only linted. The
	// only lint allowed is the one Istio's own names draw (milliseconds as
	// a unit), which meshlens must keep for compatibility.
	var exitErr *exec.ExitError
	if err != nil {
		require.ErrorAs(t, err, &exitErr, string(res))
		require.Equal(t, 3, exitErr.ExitCode(), string(res))
		for _, line := range strings.Split(strings.TrimSpace(string(res)), "\n") {
			assert.Regexp(t, `^istio_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"$`, line)
		}
	}
}

func TestExpiryAndBudget(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries = 5
	cfg.SeriesTTL = time.Minute
	a := New(cfg)
	mk := func(dst string, code uint32) accesslog.Record {
		w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
		d := w
		d.Name = dst
		return accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: d, Service: accesslog.Service{Host: dst, Name: dst, Namespace: "ns"},
			ResponseCode: code, GRPCStatus: -1, Final: true, DurationNanos: int64(time.Millisecond),
		}
	}
	var recs []accesslog.Record
	for i := range 50 {
		recs = append(recs, mk(fmt.Sprintf("w%d", i), 200))
	}
	a.ConsumeRecords(recs, nil, now)
	st := a.Stats()
	assert.Equal(t, int64(5), st.HTTPSeries)
	assert.Equal(t, uint64(45), st.OverflowHTTP)
	fams := gather(t, a.Collector())
	total := 0.0
	overflowSeries := 0
	for _, m := range fams[RequestsTotal].GetMetric() {
		total += m.GetCounter().GetValue()
		if label(m, "source_workload") == overflow {
			overflowSeries++
			assert.Equal(t, "200", label(m, "response_code"), "status survives overflow")
			assert.Equal(t, "source", label(m, "reporter"))
		}
	}
	assert.InDelta(t, 50, total, 0, "no request is lost to the budget")
	assert.Equal(t, 1, overflowSeries)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.SelfMetrics()...)
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshlens_series_active Istio series held, by family.
# TYPE meshlens_series_active gauge
meshlens_series_active{family="http"} 5
meshlens_series_active{family="tcp"} 0
# HELP meshlens_series_overflow_total Records aggregated into an overflow series because the family's max_series or max_label_bytes budget was spent.
# TYPE meshlens_series_overflow_total counter
meshlens_series_overflow_total{family="http"} 45
meshlens_series_overflow_total{family="tcp"} 0
`), "meshlens_series_active", "meshlens_series_overflow_total"))

	// Idle series expire; active ones stay.
	a.ConsumeRecords(recs[:1], nil, now.Add(50*time.Second))
	assert.Equal(t, 5, a.Expire(now.Add(90*time.Second)), "4 idle series + the overflow series")
	assert.Equal(t, int64(1), a.Stats().HTTPSeries)
	assert.Len(t, gather(t, a.Collector())[RequestsTotal].GetMetric(), 1)
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		err  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"negative ttl", func(c *Config) { c.SeriesTTL = -time.Second }, "series_ttl must not be negative, got -1s"},
		{"no budget", func(c *Config) { c.MaxSeries = 0 }, "max_series must be positive, got 0"},
		{"no byte budget", func(c *Config) { c.MaxLabelBytes = 0 }, "max_label_bytes must be positive, got 0"},
		{"unsorted buckets", func(c *Config) { c.DurationBuckets = []float64{5, 1} }, "duration_buckets must be strictly increasing, got [5 1]"},
		{"no buckets", func(c *Config) { c.SizeBuckets = nil }, "size_buckets must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
	_ = math.Inf
}

// TestOverflowCountsEveryRecord checks that records repeating an overflowed
// label set within a batch (found in the batch's recent label sets) are
// each counted as overflowed, HTTP and TCP.
func TestOverflowCountsEveryRecord(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries = 1
	a := New(cfg)
	w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
	mk := func(dst string, tcp bool) accesslog.Record {
		d := w
		d.Name = dst
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: d, Service: accesslog.Service{Host: dst, Name: dst, Namespace: "ns"},
			ResponseCode: 200, GRPCStatus: -1, Final: true, DurationNanos: int64(time.Millisecond),
		}
		if tcp {
			r.Kind, r.Protocol, r.ResponseCode, r.Final, r.TCPSentBytes = accesslog.KindTCP, accesslog.ProtocolTCP, 0, false, 10
		}
		return r
	}
	first, second := mk("x", false), mk("y", false)
	firstTCP, secondTCP := mk("x", true), mk("y", true)
	recs := []accesslog.Record{first, firstTCP}
	for range 10 {
		recs = append(recs, second, secondTCP) // the same strings: recent-set hits
	}
	a.ConsumeRecords(recs, nil, now)
	st := a.Stats()
	assert.Equal(t, uint64(10), st.OverflowHTTP)
	assert.Equal(t, uint64(10), st.OverflowTCP)
}

// blockingWriter blocks every Write until release is closed, as a scraper
// that stops reading does.
type blockingWriter struct{ release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// TestScrapeHoldsNoLockAcrossWrites checks that a scrape stuck writing to
// its client does not stall ingest: samples are rendered under a shard's
// lock and written after it is released.
func TestScrapeHoldsNoLockAcrossWrites(t *testing.T) {
	a := syntheticAggregator(20_000) // shards render far more than the 64 KiB write buffer
	w := blockingWriter{release: make(chan struct{})}
	scraped := make(chan error, 1)
	go func() { scraped <- a.WriteText(w, FormatText) }()
	defer func() {
		close(w.release)
		require.NoError(t, <-scraped)
	}()
	requireIngestProceeds(t, a)
}

// TestCollectHoldsNoLockAcrossSends is the same for the client_golang
// Collector whose consumer stops reading.
func TestCollectHoldsNoLockAcrossSends(t *testing.T) {
	a := syntheticAggregator(2_000)
	ch := make(chan prometheus.Metric) // not read until the end
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		a.Collector().Collect(ch)
	}()
	defer func() {
		go func() {
			for m := range ch {
				_ = m
			}
		}()
		<-collected
		close(ch)
	}()
	requireIngestProceeds(t, a)
}

// requireIngestProceeds waits until a scrape is blocked on its consumer,
// then requires a batch with records for every shard to be aggregated.
func requireIngestProceeds(t *testing.T, a *Aggregator) {
	t.Helper()
	time.Sleep(100 * time.Millisecond) // the scrape is blocked by now
	ingested := make(chan struct{})
	go func() {
		defer close(ingested)
		var recs []accesslog.Record
		for i := range 200 {
			w := accesslog.Workload{Name: fmt.Sprintf("src-%d", i%97), Namespace: "ns", CanonicalService: "src", CanonicalRevision: "v1", App: "src", Version: "v1", Cluster: "Kubernetes", Principal: "unknown"}
			d := w
			d.Name = fmt.Sprintf("dst-%d", i)
			recs = append(recs, accesslog.Record{
				Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
				Source: w, Destination: d, Service: accesslog.Service{Host: d.Name, Name: d.Name, Namespace: "ns"},
				ResponseCode: 200, GRPCStatus: -1, Final: true,
			})
		}
		a.ConsumeRecords(recs, nil, now) // records for every shard
	}()
	select {
	case <-ingested:
	case <-time.After(5 * time.Second):
		t.Fatal("ingest waited for a scrape blocked on its consumer")
	}
}

// TestStreamLocalCache checks the label sets a stream remembers across
// batches (ConsumeRecords with a StreamLocal): a series that expired meanwhile is looked
// up again rather than updated unseen, and an overflowed label set gets its
// own series once the budget has room again.
func TestStreamLocalCache(t *testing.T) {
	w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
	mk := func(dst string) accesslog.Record {
		d := w
		d.Name = dst
		return accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: d, Service: accesslog.Service{Host: dst, Name: dst, Namespace: "ns"},
			ResponseCode: 200, GRPCStatus: -1, Final: true, DurationNanos: int64(time.Millisecond),
		}
	}
	requests := func(a *Aggregator, dst string) (n float64) {
		for _, m := range gather(t, a.Collector())[RequestsTotal].GetMetric() {
			if label(m, "destination_workload") == dst {
				n += m.GetCounter().GetValue()
			}
		}
		return n
	}
	t.Run("expired series", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.SeriesTTL = time.Minute
		a := New(cfg)
		var local accesslog.StreamLocal
		x := mk("x")
		a.ConsumeRecords([]accesslog.Record{x}, &local, now)
		require.Equal(t, 1, a.Expire(now.Add(2*time.Minute)))
		a.ConsumeRecords([]accesslog.Record{x}, &local, now.Add(2*time.Minute)) // remembered, but expired
		assert.InDelta(t, 1, requests(a, "x"), 0, "the record counts in a live series")
		assert.Equal(t, int64(1), a.Stats().HTTPSeries)
	})
	t.Run("overflow with room again", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.MaxSeries = 1
		cfg.SeriesTTL = time.Minute
		a := New(cfg)
		var local accesslog.StreamLocal
		b := mk("b")
		a.ConsumeRecords([]accesslog.Record{mk("a"), b}, &local, now)               // b overflows
		a.ConsumeRecords([]accesslog.Record{mk("c")}, nil, now.Add(50*time.Second)) // keeps the overflow series alive
		require.Equal(t, 1, a.Expire(now.Add(90*time.Second)), "a expires: room for one series")
		a.ConsumeRecords([]accesslog.Record{b}, &local, now.Add(90*time.Second))
		assert.InDelta(t, 1, requests(a, "b"), 0, "b has its own series now")
		assert.InDelta(t, 2, requests(a, overflow), 0, "b's first record and c's stay in the overflow series")
	})
}

// TestOverflowIsOneSmallSet: senders that vary every status label beyond
// the budget (17,000 response codes, every gRPC status, every reporter)
// land in at most MaxOverflowSeries overflow series, keeping each status's
// class; no request is lost.
func TestOverflowIsOneSmallSet(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries = 100
	a := New(cfg)
	w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
	var recs []accesslog.Record
	for i := range 17_000 {
		d := w
		d.Name = fmt.Sprintf("w%d", i%300)
		proto, grpc := accesslog.ProtocolHTTP, int32(-1)
		if i%2 == 1 {
			proto, grpc = accesslog.ProtocolGRPC, int32(i%40-5)
		}
		recs = append(recs, accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.Reporter(i % 4), Protocol: proto,
			Source: w, Destination: d, Service: accesslog.Service{Host: d.Name, Name: d.Name, Namespace: "ns"},
			ResponseCode: uint32(i), GRPCStatus: grpc, Final: true, DurationNanos: int64(time.Millisecond),
		})
	}
	a.ConsumeRecords(recs, nil, now)
	fams := gather(t, a.Collector())
	total, overflowSeries := 0.0, 0
	classes := map[string]bool{}
	for _, m := range fams[RequestsTotal].GetMetric() {
		total += m.GetCounter().GetValue()
		if label(m, "source_workload") == overflow {
			overflowSeries++
			classes[label(m, "response_code")] = true
		}
	}
	assert.InDelta(t, 17_000, total, 0, "no request is lost to the budget")
	assert.LessOrEqual(t, overflowSeries, MaxOverflowSeries)
	assert.Equal(t, map[string]bool{"0": true, "100": true, "200": true, "300": true, "400": true, "500": true}, classes)
	t.Logf("%d overflow series", overflowSeries)
}
