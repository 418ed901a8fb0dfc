package envoystats

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLabelBytesBounded: a labeled sample's labels take at most
// MaxSampleLabelBytes together (each value being under
// MaxLabelValueLength is not enough: 32 of them would make every line of
// the series 16 KiB), and a metric name's label names at most
// MaxFamilyLabelNameBytes together, whatever the number of nodes that add
// to them; so that a line of an envoy_* series stays within the bound
// docs/operations.md states.
func TestLabelBytesBounded(t *testing.T) {
	value := strings.Repeat("v", MaxLabelValueLength-1)
	name := func(i int) string { return fmt.Sprintf("n%d_%s", i, strings.Repeat("a", 480)) }
	tests := []struct {
		name   string
		labels [][]string // one labeled sample of server.x per node
		want   []int      // samples rejected, per node
	}{
		{"values within the sample's bound", [][]string{{"a", value, "b", value[:400]}}, []int{0}},
		{"three values of 400 bytes", [][]string{{"a", value[:400], "b", value[:400], "c", value[:400]}}, []int{1}},
		{"long names count too", [][]string{{name(0), value[:300], name(1), value[:300]}}, []int{1}},
		{
			"a family's names, added by several nodes",
			[][]string{{name(0), "v", name(1), "v"}, {name(2), "v", name(3), "v"}, {name(4), "v", name(5), "v"}, {name(0), "w"}},
			[]int{0, 0, 1, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(DefaultConfig())
			for i, lbls := range tc.labels {
				_, rej := s.Observe(NodeIdentity{ID: fmt.Sprint(i)}, families(withLabels(gaugeFam("server.x", 1), lbls...)), t0)
				assert.Equal(t, tc.want[i], rej, "node %d", i)
			}
			for _, f := range s.families {
				size := 0
				for _, l := range f.labels {
					size += len(l)
				}
				assert.LessOrEqual(t, size, MaxFamilyLabelNameBytes)
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(s)
			_, err := reg.Gather()
			assert.NoError(t, err)
		})
	}
}

// TestHistogramBucketsBounded: a histogram sample has at most
// MaxHistogramBuckets buckets (a +Inf bucket sent included); one with more
// is rejected as "too_many_buckets" (512 were once accepted: 515 lines a
// series), so that a series writes at most MaxLinesPerSeries lines.
func TestHistogramBucketsBounded(t *testing.T) {
	tests := []struct {
		name    string
		buckets int
		inf     bool
		reason  string // "" when accepted
	}{
		{"Envoy's default 20", 20, false, ""},
		{"the cap", MaxHistogramBuckets, false, ""},
		{"one less and +Inf", MaxHistogramBuckets - 1, true, ""},
		{"one more", MaxHistogramBuckets + 1, false, "too_many_buckets"},
		{"the cap and +Inf", MaxHistogramBuckets, true, "too_many_buckets"},
		{"512, once accepted", 512, false, "too_many_buckets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bounds := seq(tc.buckets)
			if tc.inf {
				bounds = append(bounds, math.Inf(1))
			}
			s := New(DefaultConfig())
			acc, rej := s.Observe(nodeA, families(histFam("cluster.c.upstream_rq_time", 1, 1, bounds, make([]uint64, len(bounds)))), t0)
			if tc.reason != "" {
				assert.Equal(t, 1, rej)
				assert.Equal(t, uint64(1), s.Stats().Rejected[tc.reason])
				assert.Zero(t, s.Stats().Series)
				return
			}
			assert.Equal(t, 1, acc)
			lines := strings.Count(render(t, s), "\n") - 2 // # HELP, # TYPE
			assert.Equal(t, tc.buckets+3, lines, "finite buckets, +Inf, _sum, _count")
			assert.LessOrEqual(t, lines, MaxLinesPerSeries)
		})
	}
}

// TestLabelBytesBudget: the store's label-set bytes are exactly what its
// exposition repeats on each line of each series (metric name and labels)
// plus its # HELP and # TYPE lines, as series come and go, families gain
// label names and nodes change identity; a series that would take them
// over MaxLabelBytes is rejected as "label_bytes_limit", and the bytes come
// back when series expire.
func TestLabelBytesBudget(t *testing.T) {
	gauges := func(prefix string, n int) []*dto.MetricFamily {
		var fams []*dto.MetricFamily
		for i := range n {
			fams = append(fams, gaugeFam(fmt.Sprintf("%s.g%d", prefix, i), 1))
		}
		return fams
	}
	// costOf is the label-set bytes fams from node take in an empty store.
	costOf := func(node NodeIdentity, fams ...*dto.MetricFamily) int64 {
		s := New(DefaultConfig())
		s.Observe(node, fams, t0)
		return s.Stats().LabelBytes
	}
	long := strings.Repeat("x", 400)
	renamed := nodeA
	renamed.Pod = strings.Repeat("p", MaxLabelValueLength)
	type step struct {
		node     NodeIdentity
		fams     []*dto.MetricFamily
		after    time.Duration // since t0; Expire runs first when expire is set
		expire   bool
		acc, rej int
	}
	tests := []struct {
		name   string
		budget int64 // 0: the default
		steps  []step
		limit  uint64 // samples rejected as label_bytes_limit
	}{
		{
			name:   "new series over the budget, then room after expiry",
			budget: costOf(nodeA, gauges("server", 3)...),
			steps: []step{
				{node: nodeA, fams: gauges("server", 5), acc: 3, rej: 2},
				{node: nodeA, fams: gauges("server", 5), after: 5 * time.Second, acc: 3, rej: 2},
				{node: nodeA, fams: gauges("listener", 2), after: time.Hour, expire: true, acc: 2},
			},
			limit: 4,
		},
		{
			name: "flat, labeled and escaped",
			steps: []step{
				{node: nodeA, fams: families(counterFam("cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_200", 1),
					counterFam("cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_503", 2),
					histFam("cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_time", 1, 1, envoyBuckets, make([]uint64, len(envoyBuckets))),
					summaryFam("http.inbound_0.0.0.0_9080.downstream_rq_time", 1, 1, 0.5, 1, 0.99, 2),
					withLabels(gaugeFam("server.x", 1), "quote", `a"b\c`+"\n", "plain", "v")), acc: 5},
				{node: NodeIdentity{ID: `id "with" \quotes\`, Pod: "p\n"}, fams: families(withLabels(gaugeFam("server.x", 2), "other", "w")), acc: 1},
			},
		},
		{
			// Each of the four series of server.x writes the new label
			// name too (other=""): the fifth series does not fit, though
			// its own bytes would.
			name:   "a family's new label name is charged to each of its series",
			budget: costOf(nodeA, withLabels(gaugeFam("server.x", 1), "a", "1")) * 5,
			steps: []step{
				{node: nodeA, fams: families(withLabels(gaugeFam("server.x", 1), "a", "1"))},
				{node: nodeB, fams: families(withLabels(gaugeFam("server.x", 1), "a", "2"))},
				{node: nodeA, fams: families(withLabels(gaugeFam("server.x", 1), "a", "3"))},
				{node: nodeB, fams: families(withLabels(gaugeFam("server.x", 1), "a", "4"))},
				{node: nodeA, fams: families(withLabels(gaugeFam("server.x", 1), "a", "5", long, "1")), rej: 1},
				{node: nodeA, fams: families(withLabels(gaugeFam("server.x", 1), "a", "5"))},
			},
			limit: 1,
		},
		{
			name:   "a node's identity grows over the budget: its series go, and come back within it",
			budget: costOf(nodeA, gauges("server", 3)...) + 2*MaxLabelValueLength,
			steps: []step{
				{node: nodeA, fams: gauges("server", 3), acc: 3},
				{node: renamed, fams: gauges("server", 3), acc: 2, rej: 1},
				{node: nodeA, fams: gauges("server", 3), acc: 3},
			},
			limit: 1,
		},
		{
			name: "a node's identity grows within the budget, then shrinks",
			steps: []step{
				{node: nodeA, fams: gauges("server", 3), acc: 3},
				{node: renamed, fams: gauges("server", 1), acc: 1},
				{node: NodeIdentity{ID: nodeA.ID}, acc: 0},
			},
		},
		{
			name: "a summary becomes a histogram",
			steps: []step{
				{node: nodeA, fams: families(summaryFam("cluster.c.upstream_rq_time", 1, 1, 0.5, 1)), acc: 1},
				{node: nodeB, fams: families(summaryFam("cluster.c.upstream_rq_time", 1, 1, 0.5, 1)), acc: 1},
				{node: nodeA, fams: families(histFam("cluster.c.upstream_rq_time", 1, 1, envoyBuckets, make([]uint64, len(envoyBuckets)))), acc: 1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.TTL = time.Minute
			if tc.budget > 0 {
				cfg.MaxLabelBytes = tc.budget
			}
			s := New(cfg)
			for i, st := range tc.steps {
				now := t0.Add(st.after)
				if st.expire {
					s.Expire(now)
				}
				if st.acc+st.rej == 0 {
					st.acc = len(st.fams)
				}
				acc, rej := s.Observe(st.node, st.fams, now)
				assert.Equal(t, st.acc, acc, "step %d accepted", i)
				assert.Equal(t, st.rej, rej, "step %d rejected", i)
				stats := s.Stats()
				assert.LessOrEqual(t, stats.LabelBytes, cfg.MaxLabelBytes, "step %d", i)
				assert.Equal(t, exposedLabelBytes(t, render(t, s)), stats.LabelBytes, "step %d: the exposition's", i)
			}
			assert.Equal(t, tc.limit, s.Stats().Rejected["label_bytes_limit"])
			s.Expire(t0.Add(24 * time.Hour))
			assert.Zero(t, s.Stats().LabelBytes, "all given back")
		})
	}
}

// exposedLabelBytes is what MaxLabelBytes counts, read back from a text
// exposition: the # HELP and # TYPE lines, and for each series one line's
// name and labels (its _count line's, less the suffix, for a summary or a
// histogram).
func exposedLabelBytes(t *testing.T, text string) int64 {
	t.Helper()
	var n int64
	typ := ""
	for line := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(line, "# "):
			n += int64(len(line))
			if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
				typ = strings.Fields(rest)[1]
			}
		case typ == "counter" || typ == "gauge":
			n += int64(strings.LastIndexByte(line, ' '))
		case strings.HasSuffix(line[:strings.IndexAny(line, "{ ")], "_count"):
			n += int64(strings.LastIndexByte(line, ' ') - len("_count"))
		}
	}
	return n
}

// TestEnvoyStatsExpositionBound: a store filled to its budgets with the longest
// lines senders can make (names of 1 KiB, node labels and tag values of
// 512 bytes that escape to twice that, a metric name's 2 KiB of label
// names, 64 buckets and quantiles with the longest floats) writes, in the
// text format and in OpenMetrics, no more than ExpositionBound of its
// series and label-set bytes, and so no more than MaxExpositionBytes.
func TestEnvoyStatsExpositionBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries, cfg.MaxLabelBytes = 300, 1<<20
	s := New(cfg)
	quote := strings.Repeat(`"`, MaxLabelValueLength)
	bounds := make([]float64, MaxHistogramBuckets)
	quantiles := make([]float64, 0, 2*maxQuantiles)
	for i := range bounds {
		bounds[i] = -2.2250738585072014e-200 / float64(i+1) // ascending, 24 bytes each
		quantiles = append(quantiles, 0.12345678901234567/float64(i+1), -2.2250738585072014e-300)
	}
	cum := make([]uint64, len(bounds))
	for i := range cum {
		cum[i] = math.MaxUint64
	}
	for i := range 100 { // the budget is spent after ~30 nodes
		node := NodeIdentity{ID: fmt.Sprint(i) + quote, Cluster: quote, Namespace: quote, Workload: quote, Pod: quote}
		name := func(kind string) string {
			n := fmt.Sprintf("%s.%d.", kind, i%7)
			return n + strings.Repeat("n", MaxStatNameLength-len(n))
		}
		labels := func(j int) []string {
			n := fmt.Sprintf("l%d_%d_", i%3, j)
			return []string{n + strings.Repeat("a", 248-len(n)), quote[:256]}
		}
		var tags []string
		for j := range 2 {
			tags = append(tags, labels(j)...)
		}
		s.Observe(node, families(
			withLabels(histFam(name("h"), math.MaxUint64, -2.2250738585072014e-308, bounds, cum), tags...),
			withLabels(summaryFam(name("s"), math.MaxUint64, -2.2250738585072014e-308, quantiles...), tags...),
			counterFam(name("c"), 1.2345678901234567e300),
			gaugeFam(name("g")+"\"\\", -2.2250738585072014e-308),
		), t0)
	}
	st := s.Stats()
	require.Positive(t, st.Rejected["label_bytes_limit"])
	assert.LessOrEqual(t, st.LabelBytes, cfg.MaxLabelBytes)
	bound := ExpositionBound(st.Series, st.LabelBytes)
	assert.LessOrEqual(t, bound, cfg.MaxExpositionBytes())
	for _, format := range []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics)} {
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, format)
		for _, mf := range gather(t, s) {
			require.NoError(t, enc.Encode(mf))
		}
		assert.LessOrEqual(t, int64(b.Len()), bound, "%s", format)
		t.Logf("%s: %d series, %d label-set bytes: %d bytes written, bound %d (%.0f%%)", format, st.Series, st.LabelBytes, b.Len(), bound, 100*float64(b.Len())/float64(bound))
	}
}
