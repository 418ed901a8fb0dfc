package envoystats

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

var (
	nodeA = NodeIdentity{ID: "sidecar~10.44.2.55~productpage-v1-d66dcfdc5-kh6v7.default~default.svc.cluster.local", Cluster: "productpage.default", Namespace: "default", Workload: "productpage-v1", Pod: "productpage-v1-d66dcfdc5-kh6v7"}
	nodeB = NodeIdentity{ID: "sidecar~10.44.2.56~reviews-v1-5c5b7b9f8d-x2x2x.default~default.svc.cluster.local", Cluster: "reviews.default", Namespace: "default", Workload: "reviews-v1", Pod: "reviews-v1-5c5b7b9f8d-x2x2x"}
)

const upstreamRqTotal = "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total"

func counterValue(t *testing.T, s *Store, name string, labels L) float64 {
	t.Helper()
	return find(t, gather(t, s), name, labels).GetCounter().GetValue()
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{"default", DefaultConfig(), ""},
		{"zero max_series", Config{TTL: time.Minute}, "invalid envoystats config: max_series must be positive, got 0"},
		{"negative ttl", Config{MaxSeries: 1, TTL: -time.Second}, "invalid envoystats config: ttl must be positive, got -1s"},
		{"negative cache", Config{MaxSeries: 1, TTL: time.Second, NameCacheSize: -1}, "invalid envoystats config: name_cache_size must not be negative, got -1"},
		{"zero max_label_bytes", Config{MaxSeries: 1, TTL: time.Second}, "invalid envoystats config: max_label_bytes must be positive, got 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
			assert.ErrorIs(t, err, ErrInvalidConfig)
		})
	}
	// New never fails: invalid fields fall back to the defaults.
	s := New(Config{})
	assert.Equal(t, DefaultConfig(), s.cfg)
}

// TestCounterReconnectReset: a node reconnects (to the store, only the same
// node id again) after its Envoy restarted;
// its counters restart from 0 but the exported value keeps growing.
func TestCounterReconnectReset(t *testing.T) {
	s := New(DefaultConfig())
	lbl := L{"envoy_cluster_name": "outbound|9080||reviews.default.svc.cluster.local", LabelNodeID: nodeA.ID}
	steps := []struct {
		reconnect bool
		sent      float64
		want      float64
	}{
		{false, 10, 10},
		{false, 15, 15},
		{true, 3, 18}, // Envoy restarted: offset 15
		{false, 5, 20},
		{true, 7, 22}, // reconnect without restart: counter continues
		{true, 1, 23}, // restarted again: offset 15+7
	}
	now := t0
	for i, st := range steps {
		now = now.Add(5 * time.Second)
		acc, rej := s.Observe(nodeA, families(counterFam(upstreamRqTotal, st.sent)), now)
		require.Equal(t, 1, acc)
		require.Zero(t, rej)
		assert.InDelta(t, st.want, counterValue(t, s, "envoy_cluster_upstream_rq_total", lbl), 0, "step %d", i)
	}
	st := s.Stats()
	assert.Equal(t, uint64(2), st.CounterResets)
}

func TestCounterDeltas(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CountersAsDeltas = true
	s := New(cfg)
	now := t0
	for _, d := range []float64{1, 2, 0, 3} {
		now = now.Add(5 * time.Second)
		s.Observe(nodeA, families(counterFam("cluster_manager.cds.update_attempt", d)), now)
	}
	assert.InDelta(t, 6.0, counterValue(t, s, "envoy_cluster_manager_cds_update_attempt", nil), 0)
	assert.Zero(t, s.Stats().CounterResets)
}

func TestGaugeLastValue(t *testing.T) {
	s := New(DefaultConfig())
	s.Observe(nodeA, families(gaugeFam("server.memory_allocated", 100)), t0)
	s.Observe(nodeA, families(gaugeFam("server.memory_allocated", 40)), t0.Add(time.Second))
	untyped := fam("server.uptime", dto.MetricType_UNTYPED, &dto.Metric{Untyped: &dto.Untyped{Value: proto.Float64(7)}})
	acc, _ := s.Observe(nodeA, families(untyped), t0.Add(time.Second))
	require.Equal(t, 1, acc)
	mfs := gather(t, s)
	assert.InDelta(t, 40.0, find(t, mfs, "envoy_server_memory_allocated", nil).GetGauge().GetValue(), 0)
	assert.InDelta(t, 7.0, find(t, mfs, "envoy_server_uptime", nil).GetGauge().GetValue(), 0, "UNTYPED is a gauge")
}

// TestHistogramIntervals: Envoy's histograms are per-flush intervals; the
// exported one is their running sum.
func TestHistogramIntervals(t *testing.T) {
	s := New(DefaultConfig())
	name := "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_time"
	bounds := []float64{0.5, 1, 5, 10}
	s.Observe(nodeA, families(histFam(name, 3, 4.5, bounds, []uint64{1, 2, 3, 3})), t0)
	s.Observe(nodeA, families(histFam(name, 2, 12, bounds, []uint64{0, 0, 1, 2})), t0.Add(5*time.Second))
	s.Observe(nodeA, families(histFam(name, 0, 0, bounds, []uint64{0, 0, 0, 0})), t0.Add(10*time.Second))

	h := find(t, gather(t, s), "envoy_cluster_upstream_rq_time", nil).GetHistogram()
	require.NotNil(t, h)
	assert.Equal(t, uint64(5), h.GetSampleCount())
	assert.InDelta(t, 16.5, h.GetSampleSum(), 1e-9)
	var got []uint64
	for _, b := range h.Bucket {
		if !math.IsInf(b.GetUpperBound(), 1) {
			got = append(got, b.GetCumulativeCount())
		}
	}
	assert.Equal(t, []uint64{1, 2, 4, 5}, got)

	// A new bucket layout restarts the accumulation.
	s.Observe(nodeA, families(histFam(name, 1, 2, []float64{1, 2}, []uint64{0, 1})), t0.Add(15*time.Second))
	h = find(t, gather(t, s), "envoy_cluster_upstream_rq_time", nil).GetHistogram()
	assert.Equal(t, uint64(1), h.GetSampleCount())
	assert.Len(t, h.Bucket, 2)
}

// TestSummary: quantiles are the last interval's; count and sum accumulate.
func TestSummary(t *testing.T) {
	s := New(DefaultConfig())
	name := "cluster.xds-grpc.upstream_cx_connect_ms"
	s.Observe(nodeA, families(summaryFam(name, 2, 3, 0.5, 1, 0.99, 2)), t0)
	s.Observe(nodeA, families(summaryFam(name, 1, 4, 0.5, 4, 0.99, math.NaN())), t0.Add(5*time.Second))
	sm := find(t, gather(t, s), "envoy_cluster_upstream_cx_connect_ms", nil).GetSummary()
	assert.Equal(t, uint64(3), sm.GetSampleCount())
	assert.InDelta(t, 7.0, sm.GetSampleSum(), 0)
	require.Len(t, sm.Quantile, 2)
	assert.InDelta(t, 4.0, sm.Quantile[0].GetValue(), 0)
	assert.True(t, math.IsNaN(sm.Quantile[1].GetValue()), "an empty interval's quantile is NaN, as Envoy sends it")
}

// TestHistogramBeatsSummary: Envoy's default histogram_emit_mode sends each
// histogram as a SUMMARY and a HISTOGRAM of the same name; the histogram wins.
func TestHistogramBeatsSummary(t *testing.T) {
	s := New(DefaultConfig())
	name := "cluster.xds-grpc.upstream_cx_connect_ms"
	flush := families(summaryFam(name, 1, 2, 0.5, 2), histFam(name, 1, 2, []float64{1, 5}, []uint64{0, 1}))
	acc, rej := s.Observe(nodeA, flush, t0)
	assert.Equal(t, 2, acc, "first summary is stored, then replaced by the histogram")
	assert.Zero(t, rej)
	acc, rej = s.Observe(nodeA, flush, t0.Add(5*time.Second))
	assert.Equal(t, 1, acc)
	assert.Equal(t, 1, rej)
	st := s.Stats()
	assert.Equal(t, uint64(1), st.Rejected["summary_shadowed"])
	assert.Equal(t, uint64(1), st.Replaced)
	assert.Equal(t, 1, st.Series)
	h := find(t, gather(t, s), "envoy_cluster_upstream_cx_connect_ms", nil).GetHistogram()
	assert.Equal(t, uint64(2), h.GetSampleCount())
}

func TestExpire(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TTL = time.Minute
	s := New(cfg)
	s.Observe(nodeA, families(counterFam(upstreamRqTotal, 1), gaugeFam("server.live", 1)), t0)
	s.Observe(nodeB, families(gaugeFam("server.live", 1)), t0.Add(30*time.Second))
	assert.Zero(t, s.Expire(t0.Add(time.Minute)), "exactly TTL old is kept")
	s.Observe(nodeA, families(gaugeFam("server.live", 1)), t0.Add(50*time.Second)) // refreshed

	assert.Equal(t, 1, s.Expire(t0.Add(61*time.Second)), "A's counter")
	assert.Equal(t, 2, s.Stats().Series)
	assert.Equal(t, 1, s.Expire(t0.Add(91*time.Second)), "B's gauge")
	assert.Equal(t, 1, s.Expire(t0.Add(111*time.Second)), "A's gauge")
	st := s.Stats()
	assert.Zero(t, st.Series)
	assert.Zero(t, st.Families)
	assert.Zero(t, st.Nodes)
	assert.Equal(t, uint64(3), st.Expired)
	assert.Empty(t, gather(t, s))
}

func TestMaxSeries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxSeries = 3
	cfg.TTL = time.Minute
	s := New(cfg)
	var flush []*dto.MetricFamily
	for i := range 5 {
		flush = append(flush, gaugeFam(fmt.Sprintf("server.g%d", i), 1))
	}
	acc, rej := s.Observe(nodeA, flush, t0)
	assert.Equal(t, 3, acc)
	assert.Equal(t, 2, rej)
	// Known series keep updating at the limit; new ones stay out.
	acc, rej = s.Observe(nodeA, flush, t0.Add(5*time.Second))
	assert.Equal(t, 3, acc)
	assert.Equal(t, 2, rej)
	assert.Equal(t, uint64(4), s.Stats().Rejected["series_limit"])
	assert.Len(t, gather(t, s), 3)
	// Room comes back after expiry.
	s.Expire(t0.Add(2 * time.Minute))
	acc, _ = s.Observe(nodeB, flush[3:], t0.Add(2*time.Minute))
	assert.Equal(t, 2, acc)
}

// TestTypeConflict: one Prometheus name keeps its first type.
func TestTypeConflict(t *testing.T) {
	s := New(DefaultConfig())
	acc, _ := s.Observe(nodeA, families(gaugeFam("server.foo", 1)), t0)
	require.Equal(t, 1, acc)
	acc, rej := s.Observe(nodeB, families(counterFam("server.foo", 2)), t0)
	assert.Zero(t, acc)
	assert.Equal(t, 1, rej)
	// Also across a flattened name and a tag-extracted one.
	s.Observe(nodeA, families(counterFam(upstreamRqTotal, 1)), t0)
	_, rej = s.Observe(nodeB, families(withLabels(gaugeFam("cluster.upstream_rq_total", 1), "envoy.cluster_name", "x")), t0)
	assert.Equal(t, 1, rej)
	assert.Equal(t, uint64(2), s.Stats().Rejected["type_conflict"])
	mfs := gather(t, s)
	assert.Equal(t, dto.MetricType_GAUGE, mfsType(mfs, "envoy_server_foo"))
	assert.Equal(t, dto.MetricType_COUNTER, mfsType(mfs, "envoy_cluster_upstream_rq_total"))
}

func mfsType(mfs []*dto.MetricFamily, name string) dto.MetricType {
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetType()
		}
	}
	return -1
}

// TestLabelPadding: with emit_tags_as_labels two nodes may send one name
// with different tag sets; the family gets the union, missing ones are "".
func TestLabelPadding(t *testing.T) {
	s := New(DefaultConfig())
	s.Observe(nodeA, families(withLabels(counterFam("cluster.upstream_rq", 4),
		"envoy.cluster_name", "x", "envoy.response_code", "200")), t0)
	s.Observe(nodeB, families(withLabels(counterFam("cluster.upstream_rq", 5),
		"envoy.cluster_name", "y", "envoy.response_code", "503", "custom.tag", "z")), t0)
	s.Observe(nodeB, families(counterFam("cluster.x.upstream_rq_200", 6)), t0) // flattened form, same family
	out := render(t, s)
	for _, want := range []string{
		`# HELP envoy_cluster_upstream_rq Envoy stat cluster.upstream_rq`,
		`envoy_cluster_upstream_rq{custom_tag="",envoy_cluster_name="x",envoy_response_code="200",namespace="default",node_cluster="productpage.default",node_id="` + nodeA.ID + `",pod="productpage-v1-d66dcfdc5-kh6v7",workload="productpage-v1"} 4`,
		`envoy_cluster_upstream_rq{custom_tag="z",envoy_cluster_name="y",envoy_response_code="503",namespace="default",node_cluster="reviews.default",node_id="` + nodeB.ID + `",pod="reviews-v1-5c5b7b9f8d-x2x2x",workload="reviews-v1"} 5`,
		`envoy_cluster_upstream_rq{custom_tag="",envoy_cluster_name="x",envoy_response_code="200",namespace="default",node_cluster="reviews.default",node_id="` + nodeB.ID + `",pod="reviews-v1-5c5b7b9f8d-x2x2x",workload="reviews-v1"} 6`,
	} {
		assert.Contains(t, out, want)
	}
}

// TestReservedLabels: a tag named like a node label (or le/quantile) is renamed.
func TestReservedLabels(t *testing.T) {
	s := New(DefaultConfig())
	acc, _ := s.Observe(nodeA, families(withLabels(gaugeFam("server.x", 1), "pod", "p", "exported_pod", "q", "le", "1")), t0)
	require.Equal(t, 1, acc)
	m := find(t, gather(t, s), "envoy_server_x", L{"exported_exported_pod": "p", "exported_pod": "q", "exported_le": "1", "pod": nodeA.Pod})
	assert.NotNil(t, m)
}

// TestDuplicateSeries: two stats of one node that export the same series.
func TestDuplicateSeries(t *testing.T) {
	s := New(DefaultConfig())
	acc, rej := s.Observe(nodeA, families(
		counterFam("cluster.x.upstream_rq_total", 1),
		withLabels(counterFam("cluster.upstream_rq_total", 2), "envoy.cluster_name", "x"),
		counterFam("server.a-b", 1),
		counterFam("server.a_b", 1),
		withLabels(gaugeFam("server.g", 1), "t", ""),
		gaugeFam("server.g", 2),
	), t0)
	assert.Equal(t, 3, acc)
	assert.Equal(t, 3, rej)
	assert.Equal(t, uint64(3), s.Stats().Rejected["duplicate_series"])
	gather(t, s) // and the exposition stays valid
}

// TestNameCollision: names that would break the exposition next to a
// summary or histogram are refused.
func TestNameCollision(t *testing.T) {
	s := New(DefaultConfig())
	s.Observe(nodeA, families(summaryFam("http.a.rq_time", 1, 1, 0.5, 1)), t0)
	_, rej := s.Observe(nodeA, families(counterFam("http.a.rq_time_count", 1), gaugeFam("http.a.rq_time_sum", 1)), t0)
	assert.Equal(t, 2, rej)
	acc, _ := s.Observe(nodeA, families(counterFam("http.a.rq_time_bucket", 1)), t0)
	assert.Equal(t, 1, acc, "_bucket is fine next to a summary")
	_, rej = s.Observe(nodeA, families(histFam("http.a.rq_time", 1, 1, []float64{1}, []uint64{1})), t0)
	assert.Equal(t, 1, rej, "but the summary can then not become a histogram")
	acc, _ = s.Observe(nodeA, families(counterFam("server.b_time_count", 1)), t0)
	assert.Equal(t, 1, acc)
	_, rej = s.Observe(nodeA, families(histFam("server.b_time", 1, 1, []float64{1}, []uint64{1})), t0)
	assert.Equal(t, 1, rej)
	assert.Equal(t, uint64(4), s.Stats().Rejected["name_collision"])
	gather(t, s)
}

func TestIstioCustomSkipped(t *testing.T) {
	s := New(DefaultConfig())
	acc, rej := s.Observe(nodeA, families(
		counterFam("istiocustom.istio_requests_total.reporter.source.source_workload.productpage-v1.response_code.200", 3),
		withLabels(counterFam("istiocustom.istio_requests_total", 3), "reporter", "source"),
		counterFam("reporter=.=source;.;source_workload=.=productpage-v1;.;istio_requests_total", 1),
		gaugeFam("server.live", 1),
	), t0)
	assert.Equal(t, 1, acc)
	assert.Equal(t, 3, rej)
	assert.Equal(t, uint64(3), s.Stats().Rejected["istiocustom_skipped"])
	assert.Equal(t, []string{"envoy_server_live"}, familyNames(gather(t, s)))
}

func TestRejections(t *testing.T) {
	h := func(bounds ...float64) *dto.MetricFamily {
		return histFam("cluster.c.h", 1, 1, bounds, make([]uint64, len(bounds)))
	}
	tests := []struct {
		name   string
		node   NodeIdentity
		family *dto.MetricFamily
		reason string
	}{
		{"no node id", NodeIdentity{}, gaugeFam("server.live", 1), "no_node_id"},
		{"empty name", nodeA, gaugeFam("", 1), "invalid_name"},
		{"non-UTF-8 name", nodeA, gaugeFam("server.\xff", 1), "invalid_name"},
		{"1 MiB name", nodeA, gaugeFam("cluster."+strings.Repeat("c", 1<<20)+".upstream_rq_total", 1), "invalid_name"},
		{"over-long label value", nodeA, withLabels(gaugeFam("server.x", 1), "a", strings.Repeat("v", MaxLabelValueLength+1)), "invalid_name"},
		{"non-UTF-8 label", nodeA, withLabels(gaugeFam("server.x", 1), "a", "\xff"), "invalid_name"},
		{"empty label name", nodeA, withLabels(gaugeFam("server.x", 1), "", "v"), "invalid_name"},
		{"repeated label", nodeA, withLabels(gaugeFam("server.x", 1), "a", "1", "a", "2"), "invalid_name"},
		{"labels equal after sanitizing", nodeA, withLabels(gaugeFam("server.x", 1), "a.b", "1", "a_b", "2"), "invalid_name"},
		{"gauge histogram", nodeA, fam("server.x", dto.MetricType_GAUGE_HISTOGRAM, &dto.Metric{Histogram: &dto.Histogram{}}), "unsupported_type"},
		{"unknown type", nodeA, fam("server.x", dto.MetricType(42), &dto.Metric{Gauge: &dto.Gauge{}}), "unsupported_type"},
		{"NaN counter", nodeA, counterFam("server.x", math.NaN()), "nan"},
		{"NaN gauge", nodeA, gaugeFam("server.x", math.NaN()), "nan"},
		{"NaN histogram sum", nodeA, histFam("cluster.c.h", 1, math.NaN(), nil, nil), "nan"},
		{"negative counter", nodeA, counterFam("server.x", -1), "invalid_value"},
		{"infinite counter", nodeA, counterFam("server.x", math.Inf(1)), "invalid_value"},
		{"counter without value", nodeA, fam("server.x", dto.MetricType_COUNTER, &dto.Metric{Gauge: &dto.Gauge{}}), "invalid_value"},
		{"nil metric", nodeA, &dto.MetricFamily{Name: proto.String("server.x"), Metric: []*dto.Metric{nil}}, "invalid_value"},
		{"unordered buckets", nodeA, h(5, 1), "invalid_value"},
		{"NaN bucket", nodeA, h(math.NaN()), "invalid_value"},
		{"+Inf not last", nodeA, h(math.Inf(1), 5), "invalid_value"},
		{"NaN quantile", nodeA, summaryFam("cluster.c.s", 1, 1, math.NaN(), 1), "invalid_value"},
		{"too many quantiles", nodeA, summaryFam("cluster.c.s", 1, 1, seq(2*(maxQuantiles+1))...), "invalid_value"},
		{"too many buckets", nodeA, h(seq(MaxHistogramBuckets + 1)...), "too_many_buckets"},
		{"too many labels", nodeA, withLabels(gaugeFam("server.x", 1), stringSeq(2*(maxLabels+1))...), "invalid_name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(DefaultConfig())
			acc, rej := s.Observe(tc.node, families(tc.family), t0)
			assert.Zero(t, acc)
			assert.Equal(t, 1, rej)
			assert.Equal(t, uint64(1), s.Stats().Rejected[tc.reason])
			assert.Zero(t, s.Stats().Series)
		})
	}
	// Fine: +Inf as the last bucket, limits reached, nil family, empty flush.
	s := New(DefaultConfig())
	acc, rej := s.Observe(nodeA, families(h(1, 5, math.Inf(1)), nil,
		summaryFam("cluster.c.s", 1, 1, seq(2*maxQuantiles)...),
		histFam("cluster.c.h2", 1, 1, seq(MaxHistogramBuckets), make([]uint64, MaxHistogramBuckets)),
		withLabels(gaugeFam("server.x", 1), stringSeq(2*maxLabels)...)), t0)
	assert.Equal(t, 4, acc)
	assert.Zero(t, rej)
	// A family's label union is bounded too.
	for i := range 3 {
		_, rej = s.Observe(NodeIdentity{ID: fmt.Sprint(i)}, families(withLabels(gaugeFam("server.x", 1), stringSeq(2*maxLabels)...)), t0)
		assert.Equal(t, min(i, 1), rej, "node %d", i)
	}
	acc, rej = s.Observe(nodeA, nil, t0)
	assert.Zero(t, acc+rej)
}

// TestNameCache: tag extraction runs once per stat name, whatever the number
// of nodes and flushes, and the cache stays bounded.
func TestNameCache(t *testing.T) {
	s := New(DefaultConfig())
	flush := benchFlush(200)
	s.Observe(nodeA, flush, t0)
	assert.Equal(t, uint64(200), s.Stats().Extractions)
	s.Observe(nodeA, flush, t0.Add(5*time.Second))
	s.Observe(nodeB, flush, t0.Add(5*time.Second))
	assert.Equal(t, uint64(200), s.Stats().Extractions, "steady state and a new node reuse the cache")

	cfg := DefaultConfig()
	cfg.NameCacheSize = 8
	s = New(cfg)
	s.Observe(nodeA, flush, t0)
	assert.LessOrEqual(t, s.names.len(), 8)
	assert.Equal(t, 200, s.Stats().Series)
}

// TestIdentityChange: node labels follow the latest identity of a node ID.
func TestIdentityChange(t *testing.T) {
	s := New(DefaultConfig())
	s.Observe(nodeA, families(gaugeFam("server.live", 1)), t0)
	moved := nodeA
	moved.Workload = "productpage-v2"
	moved.Pod = "bad\xffpod"
	s.Observe(moved, nil, t0.Add(time.Second)) // a new stream of the same node
	m := find(t, gather(t, s), "envoy_server_live", nil)
	assert.Contains(t, m.String(), `value:"productpage-v2"`)
	assert.Contains(t, m.String(), "bad\uFFFDpod")
	assert.Equal(t, 1, s.Stats().Series)
}

// TestLockedConcurrent drives a Locked store from several goroutines while a
// registry scrapes it; run with -race.
func TestLockedConcurrent(t *testing.T) {
	l := NewLocked(Config{MaxSeries: 10_000, TTL: time.Minute})
	flush := benchFlush(50)
	var wg sync.WaitGroup
	for n := range 4 {
		node := NodeIdentity{ID: fmt.Sprintf("node-%d", n)}
		wg.Go(func() {
			for i := range 50 {
				l.Observe(node, flush, t0.Add(time.Duration(i)*time.Second))
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			gather(t, l)
			l.Expire(t0.Add(time.Duration(i) * time.Second))
			_ = l.Stats()
		}
	})
	wg.Wait()
	assert.Equal(t, 200, l.Stats().Series)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(l.SelfMetrics())
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP meshlens_envoy_stats_samples_accepted_total Envoy stat samples from the Metrics Service stored for re-export.
# TYPE meshlens_envoy_stats_samples_accepted_total counter
meshlens_envoy_stats_samples_accepted_total 10000
# HELP meshlens_envoy_stats_series envoy_* series held.
# TYPE meshlens_envoy_stats_series gauge
meshlens_envoy_stats_series 200
`), "meshlens_envoy_stats_samples_accepted_total", "meshlens_envoy_stats_series"))
	assert.Equal(t, 200, l.Expire(t0.Add(time.Hour)))
	assert.Empty(t, render(t, l))
}

// seq returns 1, 2, …, n.
func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i + 1)
	}
	return out
}

// stringSeq returns n strings "l0", "l1", … unique per call site and n, so
// that label sets of different calls differ.
func stringSeq(n int) []string {
	stringSeqCalls++
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("l%d_%d", stringSeqCalls, i)
	}
	return out
}

var stringSeqCalls int
