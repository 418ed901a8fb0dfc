package istiometrics

import (
	"bytes"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/loadgen"
)

// remove is an override removing tags from every metric of mode.
func remove(mode string, tags ...string) Override {
	o := Override{Match: MetricSelector{Mode: mode}, TagOverrides: map[string]TagOverride{}}
	for _, t := range tags {
		o.TagOverrides[t] = TagOverride{Operation: "REMOVE"}
	}
	return o
}

func disable(metric, mode string) Override {
	on := true
	return Override{Match: MetricSelector{Metric: metric, Mode: mode}, Disabled: &on}
}

// aggregateMesh feeds the load test's mesh (50 services, 200 edges, both
// reporters, HTTP/gRPC/TCP) to an aggregator of cfg, each stream with its
// StreamLocal (so that the per-stream cache of label sets is exercised).
// Under the race detector, ten times slower, a smaller mesh of the same
// kind (20 services, 60 edges, 5,000 requests) keeps the tests to seconds.
func aggregateMesh(t testing.TB, cfg Config) *Aggregator {
	t.Helper()
	var streams [][][]accesslog.Record
	if raceEnabled {
		streams = benchrecs.Generate(t, loadgen.Synthetic(20, 2, 60, 1), loadgen.GenConfig{
			Seed: 1, Requests: 5000, StreamsPerProxy: 2, TCPPeriodic: true, BatchSize: 100,
		}, now)
	} else {
		streams = benchrecs.Synthetic(t, 100, now)
	}
	locals := make([]*accesslog.StreamLocal, len(streams))
	for i := range locals {
		locals[i] = new(accesslog.StreamLocal)
	}
	a := New(cfg)
	benchrecs.Interleave(streams, func(i int, recs []accesslog.Record) { a.ConsumeRecords(recs, locals[i], now) })
	return a
}

// sample is one line of the text exposition.
type sample struct {
	name   string // with its suffix (_bucket, _sum, _count)
	labels [][2]string
	value  float64
}

// parseSamples reads the text exposition of a; the label values it writes
// are unescaped.
func parseSamples(t testing.TB, a *Aggregator) []sample {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, a.WriteText(&b, FormatText))
	var out []sample
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, ok := strings.Cut(line, "{")
		require.True(t, ok, line)
		sm := sample{name: name}
		for rest[0] != '}' {
			n, r, ok := strings.Cut(rest, `="`)
			require.True(t, ok, line)
			var v strings.Builder
			i := 0
			for ; r[i] != '"'; i++ {
				if r[i] == '\\' {
					i++
				}
				v.WriteByte(r[i])
			}
			sm.labels = append(sm.labels, [2]string{n, v.String()})
			rest = strings.TrimPrefix(r[i+1:], ",")
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[1:]), 64)
		require.NoError(t, err, line)
		sm.value = v
		out = append(out, sm)
	}
	return out
}

func (s *sample) label(n string) string {
	for _, l := range s.labels {
		if l[0] == n {
			return l[1]
		}
	}
	return ""
}

// samples maps each sample of an exposition (name and suffix, labels but
// those removed for the reporter's side) to its value, summing the samples
// that map to one key: what the series give when grouped by the labels
// that remain. It also returns the label names of each reporter's series.
func samples(t testing.TB, a *Aggregator, removed map[string][]string) (map[string]float64, map[string]map[string]bool) {
	t.Helper()
	out := map[string]float64{}
	names := map[string]map[string]bool{}
	for _, sm := range parseSamples(t, a) {
		rep := sm.label("reporter")
		if names[rep] == nil {
			names[rep] = map[string]bool{}
		}
		var ls []string
		for _, l := range sm.labels {
			names[rep][l[0]] = true
			if !slices.Contains(removed[rep], l[0]) {
				ls = append(ls, l[0]+"="+l[1])
			}
		}
		sort.Strings(ls)
		out[sm.name+"{"+strings.Join(ls, ",")+"}"] += sm.value
	}
	// A gRPC message counter of zero is written for a gRPC series, not for
	// one whose request_protocol was removed: absent and zero are equal.
	for k, v := range out {
		if v == 0 && strings.Contains(k, "_messages_total") {
			delete(out, k)
		}
	}
	return out, names
}

// sameSamples checks two sample maps: the same keys, counts exactly equal,
// sums (float, added in another order) to 1e-9.
func sameSamples(t *testing.T, want, got map[string]float64) {
	t.Helper()
	bad := 0
	fail := func(format string, args ...any) {
		t.Errorf(format, args...)
		bad++
		if bad > 5 {
			t.FailNow()
		}
	}
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			fail("missing %s", k)
		case strings.Contains(k, "_sum{"):
			if math.Abs(g-w) > 1e-9*math.Max(1, math.Abs(w)) {
				fail("%s = %v, want %v", k, g, w)
			}
		case g != w:
			fail("%s = %v, want %v", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			fail("unexpected %s", k)
		}
	}
}

// TestRemoveLabelsExact: removing labels re-aggregates the series, and
// every sample (counters, histogram buckets, sums and counts) of a label
// set that remains equals the sum of the unreduced series with those
// labels; a removed label appears in no series of its side, and the series
// count falls (the cardinality cut docs/metrics.md states).
func TestRemoveLabelsExact(t *testing.T) {
	outcome := []string{"response_code", "response_flags", "request_protocol", "grpc_response_status"}
	principals := []string{"source_principal", "destination_principal"}
	tests := []struct {
		name      string
		overrides []Override
		removed   map[string][]string // by reporter
		// sameSeries: the labels removed are determined by the others in
		// this mesh (a workload has one principal): the bytes fall, not the
		// series count.
		sameSeries bool
	}{
		{"outcome", []Override{remove("", outcome...)}, map[string][]string{"source": outcome, "destination": outcome}, false},
		{"principals", []Override{remove("", principals...)}, map[string][]string{"source": principals, "destination": principals}, true},
		{"outcome and principals", []Override{remove("", outcome...), remove("", principals...)}, map[string][]string{
			"source": append(slices.Clone(outcome), principals...), "destination": append(slices.Clone(outcome), principals...),
		}, false},
		{"client side only", []Override{remove("CLIENT", "response_code", "response_flags", "source_version")}, map[string][]string{
			"source": {"response_code", "response_flags", "source_version"},
		}, false},
		{"server side only", []Override{remove("SERVER", "response_code", "source_workload", "connection_security_policy")}, map[string][]string{
			"destination": {"response_code", "source_workload", "connection_security_policy"},
		}, false},
	}
	full := aggregateMesh(t, DefaultConfig())
	fullStats := full.Stats()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Overrides = tt.overrides
			require.NoError(t, cfg.Validate())
			reduced := aggregateMesh(t, cfg)

			want, _ := samples(t, full, tt.removed)
			got, names := samples(t, reduced, nil)
			require.NotEmpty(t, want)
			sameSamples(t, want, got)
			for _, rep := range []string{"source", "destination"} {
				require.NotEmpty(t, names[rep], rep)
				for _, l := range tt.removed[rep] {
					assert.False(t, names[rep][l], "%s is removed from the %s series", l, rep)
				}
				if _, ok := tt.removed[rep]; !ok {
					assert.Len(t, names[rep], len(HTTPLabels)+1, "the %s series keep every label (and le)", rep)
				}
			}

			st := reduced.Stats()
			if tt.sameSeries {
				assert.Equal(t, fullStats.HTTPSeries, st.HTTPSeries)
			} else {
				assert.Less(t, st.HTTPSeries, fullStats.HTTPSeries, "the series are re-aggregated")
			}
			assert.Less(t, st.HTTPBytes, fullStats.HTTPBytes, "removed labels' bytes are not in the budget")
			assert.Equal(t, fullStats.Records, st.Records)
			held, n := heldLabelBytes(reduced, false)
			assert.Equal(t, st.HTTPBytes, held, "the budget counts the label sets held")
			assert.Equal(t, int64(n), st.HTTPSeries)
			t.Logf("%s: HTTP series %d -> %d (%.0f%%), TCP series %d -> %d, HTTP label bytes %d -> %d",
				tt.name, fullStats.HTTPSeries, st.HTTPSeries, 100*float64(st.HTTPSeries)/float64(fullStats.HTTPSeries),
				fullStats.TCPSeries, st.TCPSeries, fullStats.HTTPBytes, st.HTTPBytes)

			// The client_golang Collector writes the same series, a removed
			// label as "" (absent, to Prometheus).
			fams := gather(t, reduced.Collector())
			var rs float64
			for _, m := range fams[RequestsTotal].GetMetric() {
				rs += m.GetCounter().GetValue()
				for _, l := range tt.removed[label(m, "reporter")] {
					assert.Empty(t, label(m, l))
				}
			}
			var total float64
			for k, v := range got {
				if strings.HasPrefix(k, RequestsTotal+"{") {
					total += v
				}
			}
			assert.InDelta(t, total, rs, 0)
		})
	}
}

// TestRemovedLabelsKeepBudgets: with removed labels, the budgets count the
// bytes of the labels kept, the overflow series carry no removed label,
// and the exposition stays under ExpositionBound.
func TestRemovedLabelsKeepBudgets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries = 50
	cfg.Overrides = []Override{remove("", "source_principal", "destination_principal", "response_code")}
	a := aggregateMesh(t, cfg)
	st := a.Stats()
	assert.EqualValues(t, 50, st.HTTPSeries)
	assert.Positive(t, st.OverflowHTTP)
	held, _ := heldLabelBytes(a, false)
	assert.Equal(t, st.HTTPBytes, held)
	var b bytes.Buffer
	require.NoError(t, a.WriteText(&b, FormatOpenMetrics))
	assert.Contains(t, b.String(), `source_workload="overflow"`)
	assert.NotContains(t, b.String(), "_principal=")
	assert.NotContains(t, b.String(), "response_code=")
	http, tcp := 0, 0
	for line := range strings.Lines(b.String()) {
		if strings.HasPrefix(line, "istio_tcp") {
			tcp += len(line)
		} else if strings.HasPrefix(line, "istio_") {
			http += len(line)
		}
	}
	assert.LessOrEqual(t, int64(http), cfg.ExpositionBound(false, int(st.HTTPSeries)+MaxOverflowSeries, st.HTTPBytes))
	assert.LessOrEqual(t, int64(tcp), cfg.ExpositionBound(true, int(st.TCPSeries)+MaxOverflowSeries, st.TCPBytes))
}

// TestDisabledMetrics: a disabled metric is absent from both expositions
// for its side; a family disabled for a side keeps no series of that side.
func TestDisabledMetrics(t *testing.T) {
	tests := []struct {
		name      string
		overrides []Override
		absent    map[string][]string // metric -> reporters without it ("*": the family is gone)
		present   []string
		noSeries  [2]bool // HTTP, TCP: no series at all
	}{
		{
			name:      "histograms off",
			overrides: []Override{disable("REQUEST_SIZE", ""), disable("RESPONSE_SIZE", ""), disable("TCP_SENT_BYTES", "")},
			absent:    map[string][]string{RequestBytes: {"*"}, ResponseBytes: {"*"}, TCPSentBytes: {"*"}},
			present:   []string{RequestsTotal, RequestDuration, TCPReceivedBytes, RequestMessages},
		},
		{
			name:      "client requests off",
			overrides: []Override{disable("REQUEST_COUNT", "CLIENT")},
			absent:    map[string][]string{RequestsTotal: {"source"}},
			present:   []string{RequestsTotal, RequestDuration, RequestBytes},
		},
		{
			name:      "everything off, then REQUEST_COUNT on again",
			overrides: []Override{disable("", ""), {Match: MetricSelector{Metric: "REQUEST_COUNT"}, Disabled: new(bool)}},
			absent: map[string][]string{
				RequestDuration: {"*"}, RequestBytes: {"*"}, ResponseBytes: {"*"}, RequestMessages: {"*"}, ResponseMessages: {"*"},
				TCPConnectionsOpened: {"*"}, TCPConnectionsClosed: {"*"}, TCPSentBytes: {"*"}, TCPReceivedBytes: {"*"},
			},
			present:  []string{RequestsTotal},
			noSeries: [2]bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Overrides = tt.overrides
			require.NoError(t, cfg.Validate())
			a := aggregateMesh(t, cfg)
			var b bytes.Buffer
			require.NoError(t, a.WriteText(&b, FormatText))
			// Reporters by metric, in WriteText's exposition and in the
			// Collector's.
			text, coll := map[string]map[string]bool{}, map[string]map[string]bool{}
			for _, sm := range parseSamples(t, a) {
				name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(sm.name, "_bucket"), "_sum"), "_count")
				if text[name] == nil {
					text[name] = map[string]bool{}
				}
				text[name][sm.label("reporter")] = true
			}
			for name, f := range gather(t, a.Collector()) {
				coll[name] = map[string]bool{}
				for _, m := range f.GetMetric() {
					coll[name][label(m, "reporter")] = true
				}
			}
			for _, byName := range []map[string]map[string]bool{text, coll} {
				for m, reps := range tt.absent {
					if reps[0] == "*" {
						assert.NotContains(t, byName, m)
						assert.NotContains(t, b.String(), "# TYPE "+m+" ")
						continue
					}
					for _, r := range reps {
						assert.False(t, byName[m][r], "%s of %s", m, r)
					}
				}
				for _, m := range tt.present {
					assert.NotEmpty(t, byName[m], m)
				}
			}
			st := a.Stats()
			if tt.noSeries[1] {
				assert.Zero(t, st.TCPSeries, "a disabled family keeps no series")
			} else {
				assert.Positive(t, st.TCPSeries)
			}
			assert.Positive(t, st.HTTPSeries)
		})
	}
	t.Run("a side's family off keeps none of its series", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Overrides = []Override{disable("", "CLIENT")}
		require.NoError(t, cfg.Validate())
		a := aggregateMesh(t, cfg)
		full := aggregateMesh(t, DefaultConfig())
		for sh := range a.shards {
			for k := range a.shards[sh].http {
				assert.NotEqual(t, accesslog.ReporterSource, k.reporter)
			}
			for k := range a.shards[sh].tcp {
				assert.NotEqual(t, accesslog.ReporterSource, k.reporter)
			}
		}
		assert.Less(t, a.Stats().HTTPSeries, full.Stats().HTTPSeries)
		assert.Equal(t, samplesOf(t, full, "destination"), samplesOf(t, a, "destination"), "the server side is unchanged")
	})
}

// samplesOf returns the samples of reporter rep's series.
func samplesOf(t testing.TB, a *Aggregator, rep string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	all, _ := samples(t, a, nil)
	for k, v := range all {
		if strings.Contains(k, "reporter="+rep) {
			out[k] = v
		}
	}
	return out
}

// TestPerHistogramBuckets: request_size_buckets and response_size_buckets
// set their histogram's bounds; the others keep theirs.
func TestPerHistogramBuckets(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequestSizeBuckets = []float64{100, 1000}
	cfg.ResponseSizeBuckets = []float64{64, 4096, 65536}
	cfg.DurationBuckets = []float64{5, 50, 500}
	require.NoError(t, cfg.Validate())
	a := aggregateMesh(t, cfg)
	for _, f := range []Format{FormatText, FormatOpenMetrics} {
		var b bytes.Buffer
		require.NoError(t, a.WriteText(&b, f))
		le := map[string]map[string]bool{}
		for line := range strings.Lines(b.String()) {
			name, rest, ok := strings.Cut(line, "_bucket{")
			if !ok {
				continue
			}
			i := strings.Index(rest, `le="`)
			require.GreaterOrEqual(t, i, 0, line)
			v, _, _ := strings.Cut(rest[i+4:], `"`)
			if le[name] == nil {
				le[name] = map[string]bool{}
			}
			le[name][v] = true
		}
		assert.Equal(t, map[string]map[string]bool{
			RequestBytes:    {"100": true, "1000": true, "+Inf": true},
			ResponseBytes:   {"64": true, "4096": true, "65536": true, "+Inf": true},
			RequestDuration: {"5": true, "50": true, "500": true, "+Inf": true},
		}, le, "format %d", f)
	}
	fams := gather(t, a.Collector())
	assert.Len(t, fams[RequestBytes].GetMetric()[0].GetHistogram().GetBucket(), 2)
	assert.Len(t, fams[ResponseBytes].GetMetric()[0].GetHistogram().GetBucket(), 3)
	assert.Equal(t, 1+(3+3)+(2+3)+(3+3)+2, cfg.LinesPerLabelSet(false))
}

// TestOverridesValidate: what meshlens cannot do as Istio would is refused,
// naming the override and its key.
func TestOverridesValidate(t *testing.T) {
	on := true
	tests := []struct {
		name      string
		overrides []Override
		wantErr   string
	}{
		{"remove everywhere", []Override{remove("", "response_flags", "source_principal")}, ""},
		{"per side", []Override{remove("CLIENT", "response_flags"), remove("SERVER", "source_principal")}, ""},
		{"disable per side", []Override{disable("REQUEST_DURATION", "SERVER")}, ""},
		{"HTTP label, TCP metrics too", []Override{remove("", "response_code")}, ""},
		{"a family's metrics alike", []Override{
			{Match: MetricSelector{Metric: "TCP_OPENED_CONNECTIONS"}, TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE"}}},
			{Match: MetricSelector{Metric: "TCP_CLOSED_CONNECTIONS"}, TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE"}}},
			{Match: MetricSelector{Metric: "TCP_SENT_BYTES"}, TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE"}}},
			{Match: MetricSelector{Metric: "TCP_RECEIVED_BYTES"}, TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE"}}},
		}, ""},
		{"others disabled", []Override{
			disable("", ""),
			{Match: MetricSelector{Metric: "REQUEST_COUNT"}, Disabled: new(bool), TagOverrides: map[string]TagOverride{"response_flags": {Operation: "REMOVE"}}},
		}, ""},
		{"unknown metric", []Override{{Match: MetricSelector{Metric: "REQUESTS"}, Disabled: &on}}, `overrides[0]::match::metric "REQUESTS" is not an Istio metric`},
		{"unknown mode", []Override{{Match: MetricSelector{Mode: "BOTH"}, Disabled: &on}}, `overrides[0]::match::mode "BOTH" is not one of CLIENT, SERVER, CLIENT_AND_SERVER`},
		{"upsert", []Override{{TagOverrides: map[string]TagOverride{"source_app": {Operation: "UPSERT", Value: "'x'"}}}}, "overrides[0]::tag_overrides::source_app: operation UPSERT (Istio's default) is not supported"},
		{"default operation", []Override{{TagOverrides: map[string]TagOverride{"source_app": {}}}}, "operation UPSERT (Istio's default) is not supported"},
		{"custom label", []Override{{TagOverrides: map[string]TagOverride{"request_host": {Operation: "REMOVE"}}}}, "overrides[0]::tag_overrides::request_host: not an Istio standard label"},
		{"reporter", []Override{remove("", "reporter")}, "overrides[0]::tag_overrides::reporter: removing reporter is not supported"},
		{"unknown operation", []Override{{TagOverrides: map[string]TagOverride{"source_app": {Operation: "DROP"}}}}, `source_app: operation "DROP" is not REMOVE`},
		{"value with remove", []Override{{TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE", Value: "x"}}}}, "source_app: operation REMOVE takes no value"},
		{"TCP has no response_code", []Override{{Match: MetricSelector{Metric: "TCP_SENT_BYTES"}, TagOverrides: map[string]TagOverride{"response_code": {Operation: "REMOVE"}}}}, "overrides[0]::tag_overrides::response_code: no matched metric has this label"},
		{
			"one metric of a family",
			[]Override{{Match: MetricSelector{Metric: "REQUEST_DURATION", Mode: "SERVER"}, TagOverrides: map[string]TagOverride{"source_app": {Operation: "REMOVE"}}}},
			"overrides: REQUEST_COUNT and REQUEST_DURATION remove different labels for SERVER ([] vs [source_app])",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Overrides = tt.overrides
			err := cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	cfg := DefaultConfig()
	cfg.RequestSizeBuckets = []float64{1, 1}
	assert.EqualError(t, cfg.Validate(), "request_size_buckets must be strictly increasing, got [1 1]")
}
