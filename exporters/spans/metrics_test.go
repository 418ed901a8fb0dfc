package spans

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

func seriesByKey(m interface{ Range(func(*Series)) }) map[[4]string]Series {
	out := map[[4]string]Series{}
	m.Range(func(s *Series) {
		c := *s
		c.Counts = append([]uint64(nil), s.Counts...)
		out[[4]string{s.Service, s.Name, s.Kind, s.Status}] = c
	})
	return out
}

func TestMetricsFromRecords(t *testing.T) {
	recs := edgeRecords()
	tcp := recs[0]
	tcp.Kind = accesslog.KindTCP
	notFinal := recs[0]
	notFinal.Final = false
	m := NewMetrics(MetricsConfig{})
	now := time.Unix(100, 0)
	m.Observe(append(recs, tcp, notFinal), now)
	m.Observe(recs[:1], now)

	got := seriesByKey(m)
	require.Len(t, got, 5)
	c := got[[4]string{"web", "cart.shop:8080/cart/42", KindClient, StatusUnset}]
	assert.Equal(t, uint64(2), c.Calls)
	assert.InDelta(t, 2*12.345678, c.SumMillis, 1e-9)
	assert.Equal(t, uint64(2), c.Counts[5], "12.3 ms is in (10, 50]")
	s := got[[4]string{"cart", "cart.shop:8080/cart/42", KindServer, StatusUnset}]
	assert.Equal(t, uint64(1), s.Calls)
	assert.Equal(t, uint64(1), s.Counts[4], "10 ms is in (8, 10]: le is inclusive")
	g := got[[4]string{"web", "[fd00::9]:7070/hipstershop.CartService/GetCart", KindClient, StatusError}]
	assert.Equal(t, uint64(1), g.Calls, "gRPC UNAVAILABLE is an error")
	w := got[[4]string{"cart", string(AppendName(nil, &recs[3])), KindServer, StatusError}]
	assert.Equal(t, uint64(1), w.Calls, "a waypoint counts as a server; no duration counts as 0 ms")
	assert.Equal(t, uint64(1), w.Counts[0])
}

// The span metrics must be what the spanmetrics connector would compute from
// the spans meshlens builds: same service, name, kind and status.
func TestMetricsMatchSpans(t *testing.T) {
	recs := trafficRecords(t, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 4, Requests: 500}))
	m := NewMetrics(MetricsConfig{})
	m.Observe(recs, time.Unix(0, 0))
	want := map[[4]string]uint64{}
	for _, v := range views(buildAll(keepAll(), recs)) {
		kind, status := KindServer, StatusUnset
		if v.Kind == 3 { // client
			kind = KindClient
		}
		if v.Error {
			status = StatusError
		}
		want[[4]string{v.Service, v.Name, kind, status}]++
	}
	got := map[[4]string]uint64{}
	for k, s := range seriesByKey(m) {
		got[k] = s.Calls
	}
	assert.Equal(t, want, got)
}

func TestMetricsBoundedAndExpire(t *testing.T) {
	m := NewMetrics(MetricsConfig{MaxSeries: 2, TTL: time.Minute})
	recs := edgeRecords()
	t0 := time.Unix(1000, 0)
	m.Observe(recs, t0) // 5 series wanted, 2 allowed
	assert.Equal(t, uint64(3), m.Overflowed)
	got := seriesByKey(m)
	var overflow uint64
	for k, s := range got {
		if k[0] == OverflowLabel {
			assert.Equal(t, OverflowLabel, k[1])
			overflow += s.Calls
		}
	}
	assert.Equal(t, uint64(3), overflow)

	m.Observe(recs[:1], t0.Add(50*time.Second)) // keeps one series alive
	m.Observe(nil, t0.Add(90*time.Second))      // sweeps: the others are idle > 1m
	assert.Equal(t, 1, m.Len())
	assert.Positive(t, m.Expired)
}

func TestMetricsSteadyStateAllocatesNothing(t *testing.T) {
	recs := trafficRecords(t, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 5, Requests: 300}))
	m := NewMetrics(MetricsConfig{TTL: time.Hour})
	now := time.Unix(0, 0)
	m.Observe(recs, now)
	allocs := testing.AllocsPerRun(20, func() { m.Observe(recs, now) })
	assert.Zero(t, allocs)
}

// refMetrics is Metrics as it was before its fast path: every record builds
// its span name with AppendName (the name its spans carry) and looks its
// series up by labels. It is the reference the tests compare Metrics with.
type refMetrics struct {
	cfg                 MetricsConfig
	boundsNs            []int64
	series              map[string]*Series
	key                 []byte
	lastSweep           int64
	Overflowed, Expired uint64
}

func newRefMetrics(cfg MetricsConfig) *refMetrics {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 10_000
	}
	if cfg.Buckets == nil {
		cfg.Buckets = DefaultMetricsBuckets
	}
	m := &refMetrics{cfg: cfg, series: map[string]*Series{}}
	for _, b := range cfg.Buckets {
		m.boundsNs = append(m.boundsNs, int64(b*1e6))
	}
	return m
}

func (m *refMetrics) Observe(recs []accesslog.Record, now time.Time) {
	ts := now.UnixNano()
	for i := range recs {
		r := &recs[i]
		if r.Kind != accesslog.KindHTTP || !r.Final || r.Reporter == 0 {
			continue
		}
		m.observe(r, ts)
	}
	if ttl := int64(m.cfg.TTL); ttl > 0 && ts-m.lastSweep >= ttl/4 {
		m.Expire(now)
	}
}

func (m *refMetrics) observe(r *accesslog.Record, ts int64) {
	kind, w := KindServer, &r.Destination
	if r.Reporter == accesslog.ReporterSource {
		kind, w = KindClient, &r.Source
	}
	status := StatusUnset
	if r.IsError() {
		status = StatusError
	}
	service := ServiceName(w)
	m.key = append(m.key[:0], kind[10], status[12])
	m.key = append(m.key, service...)
	m.key = append(m.key, 0)
	nameAt := len(m.key)
	m.key = AppendName(m.key, r)
	k := m.key
	s, ok := m.series[string(k)]
	if !ok {
		if len(m.series) >= m.cfg.MaxSeries {
			m.Overflowed++
			k = append(k[:2], OverflowLabel...)
			k = append(k, 0)
			nameAt = len(k)
			k = append(k, OverflowLabel...)
			m.key = k
			service = OverflowLabel
			s, ok = m.series[string(k)]
		}
		if !ok {
			s = &Series{
				Service: service, Name: string(k[nameAt:]), Kind: kind, Status: status,
				Counts: make([]uint64, len(m.boundsNs)+1),
			}
			m.series[string(k)] = s
		}
	}
	d := max(r.DurationNanos, 0)
	b := 0
	for b < len(m.boundsNs) && d > m.boundsNs[b] {
		b++
	}
	s.Counts[b]++
	s.Calls++
	s.SumMillis += float64(d) / 1e6
	s.last = ts
}

func (m *refMetrics) Expire(now time.Time) int {
	ts := now.UnixNano()
	m.lastSweep = ts
	if m.cfg.TTL <= 0 {
		return 0
	}
	cutoff := ts - int64(m.cfg.TTL)
	n := 0
	for k, s := range m.series {
		if s.last < cutoff {
			delete(m.series, k)
			n++
		}
	}
	m.Expired += uint64(n)
	return n
}

func (m *refMetrics) Range(f func(s *Series)) {
	for _, s := range m.series {
		f(s)
	}
}

// requireSameMetrics fails unless m and ref hold the same series, counts
// and sums, and counters.
func requireSameMetrics(t testing.TB, ref *refMetrics, m *Metrics, msg string) {
	t.Helper()
	require.Equal(t, seriesByKey(ref), seriesByKey(m), msg)
	require.Equal(t, ref.Overflowed, m.Overflowed, msg+": overflowed")
	require.Equal(t, ref.Expired, m.Expired, msg+": expired")
	require.Equal(t, len(ref.series), m.Len(), msg+": len")
	// Every remembered raw key leads to a live series, at most
	// maxRawPerSeries to each, and they are all counted.
	keys, total := map[*series]int{}, 0
	for _, sl := range m.raws.slots {
		if sl.key == nil {
			continue
		}
		s := sl.key.series
		label := string(appendLabelKey(nil, s.Kind, s.Status, s.Service)) + s.Name
		require.Same(t, s, m.series[label], msg)
		keys[s]++
		total++
	}
	require.Equal(t, m.raws.n, total, msg)
	for s, n := range keys {
		require.LessOrEqual(t, n, maxRawPerSeries, msg)
		require.Equal(t, s.rawKeys, n, msg)
	}
}

// aliasRecords varies the raw names of a few records the ways that map
// several raw names to one span name, or to none remembered: queries and
// fragments, invalid bytes, empty and "/" paths, names cut at MaxNameLen, a
// missing authority, a host that holds part of the path.
func aliasRecords() []accesslog.Record {
	base := edgeRecords()[0]
	var out []accesslog.Record
	add := func(authority, path, host string, mut func(*accesslog.Record)) {
		r := base
		r.Details.Authority, r.Details.Path, r.Service.Host = []byte(authority), []byte(path), host
		if mut != nil {
			mut(&r)
		}
		out = append(out, r)
	}
	long := "/" + strings.Repeat("a", MaxNameLen)
	for _, mut := range []func(*accesslog.Record){
		nil,
		func(r *accesslog.Record) { r.Reporter = accesslog.ReporterDestination },
		func(r *accesslog.Record) { r.ResponseCode = 503 },
		func(r *accesslog.Record) { r.Source.CanonicalService = "web-canary" },
	} {
		add("cart:80", "/a", "", mut)
		add("cart:80", "/a?x=1", "", mut)
		add("cart:80", "/a#f", "", mut)
		add("cart:80", "/a?x=2#f", "", mut)
		add("cart:80", "", "", mut)
		add("cart:80", "/", "", mut)
		add("cart:80", "?q", "", mut)
		add("", "/a", "cart:80", mut)
		add("", "/a", "", mut)
		add("unknown", "/a", "", mut)
		add("cart", ":80/a", "", mut)
		add("cart:80/", "a", "", mut)
		add("cart:80", "/\xff", "", mut)
		add("cart:80", "/\xfe", "", mut)
		add("cart:80", "/\xef\xbf\xbd", "", mut)
		add("cart:80", "/\xc3", "", mut)
		add("cart:80\xff", "/", "", mut)
		add("cart:80", long+"b", "", mut)
		add("cart:80", long+"c", "", mut)
		add("cart:80", long[:MaxNameLen-8]+"\xff\xfe\xfd", "", mut)
		add("cart:80", long[:MaxNameLen-8]+"\xfd\xfe\xff", "", mut)
		add("cart:80", "/"+strings.Repeat("é", 200), "", mut)
		add("cart:80", "/"+strings.Repeat("\xe9", 200), "", mut)
		add(strings.Repeat("h", 40), "/"+strings.Repeat("p", 40), "", mut)
		add(strings.Repeat("h", 41), strings.Repeat("p", 40), "", mut)
	}
	for i, d := range []int64{-1, 0, 2e6, 2e6 + 1, 15e9, 1e12} {
		out[i].DurationNanos = d
	}
	return out
}

// Metrics must count exactly as the reference does, whatever the raw names,
// the series budget, expiry, and hash collisions.
func TestMetricsMatchesReference(t *testing.T) {
	recs := append(edgeRecords(), aliasRecords()...)
	recs = append(recs, trafficRecords(t, loadgen.Synthetic(12, 2, 40, 5).Generate(loadgen.GenConfig{Seed: 5, Requests: 600}))...)
	for _, tc := range []struct {
		name    string
		cfg     MetricsConfig
		collide bool
	}{
		{"unbounded", MetricsConfig{}, false},
		{"unbounded/collisions", MetricsConfig{}, true},
		{"budget and ttl", MetricsConfig{MaxSeries: 40, TTL: time.Minute}, false},
		{"budget and ttl/collisions", MetricsConfig{MaxSeries: 40, TTL: time.Minute}, true},
		{"tiny budget", MetricsConfig{MaxSeries: 3, TTL: 20 * time.Second}, true},
		{"buckets", MetricsConfig{Buckets: []float64{1, 10}, TTL: time.Second}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(1, 2))
			m, ref := NewMetrics(tc.cfg), newRefMetrics(tc.cfg)
			if tc.collide {
				m.hashMask = 0
			}
			now := time.Unix(1000, 0)
			for step := range 300 {
				// A random window of the records: series come, go idle,
				// expire and come back.
				i := rnd.IntN(len(recs))
				batch := recs[i:min(len(recs), i+1+rnd.IntN(60))]
				m.Observe(batch, now)
				ref.Observe(batch, now)
				requireSameMetrics(t, ref, m, fmt.Sprintf("step %d", step))
				now = now.Add(time.Duration(rnd.IntN(10_000)) * time.Millisecond)
			}
		})
	}
}

func TestMetricsRawKeys(t *testing.T) {
	rec := func(authority, path string) accesslog.Record {
		r := edgeRecords()[0]
		r.Details.Authority, r.Details.Path = []byte(authority), []byte(path)
		return r
	}
	long := "/" + strings.Repeat("x", MaxNameLen)
	tests := []struct {
		name  string
		recs  []accesslog.Record
		calls map[string]uint64 // by span name
		raws  int               // raw keys remembered
	}{
		{
			"query and fragment cut off: one raw key",
			[]accesslog.Record{rec("a", "/p?x=1"), rec("a", "/p#f"), rec("a", "/p")},
			map[string]uint64{"a/p": 3},
			1,
		},
		{
			"empty path and slash",
			[]accesslog.Record{rec("a", ""), rec("a", "/"), rec("a", "?x")},
			map[string]uint64{"a/": 3},
			2,
		},
		{
			"invalid bytes repaired to one name",
			[]accesslog.Record{rec("a", "/\xff"), rec("a", "/\xfe"), rec("a", "/\uFFFD"), rec("a", "/\xff")},
			map[string]uint64{"a/\uFFFD": 4},
			3,
		},
		{
			"host and path split differently",
			[]accesslog.Record{rec("a", "/b/c"), rec("a/b", "/c"), rec("a/b/", "c")},
			map[string]uint64{"a/b/c": 3},
			3,
		},
		{
			"names cut at MaxNameLen: not remembered",
			[]accesslog.Record{rec("a", long+"1"), rec("a", long+"2")},
			map[string]uint64{("a" + long)[:MaxNameLen]: 2},
			0,
		},
		{"raw keys per series bounded", []accesslog.Record{
			rec("a", "/\x80"), rec("a", "/\x81"), rec("a", "/\x82"), rec("a", "/\x83"), rec("a", "/\x84"), rec("a", "/\x85"),
		}, map[string]uint64{"a/\uFFFD": 6}, maxRawPerSeries},
		{
			"distinct names",
			[]accesslog.Record{rec("a", "/p"), rec("b", "/p"), rec("a", "/q"), rec("ab", "/p")},
			map[string]uint64{"a/p": 1, "b/p": 1, "a/q": 1, "ab/p": 1},
			4,
		},
	}
	for _, tt := range tests {
		for _, collide := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/collide=%v", tt.name, collide), func(t *testing.T) {
				m := NewMetrics(MetricsConfig{})
				if collide {
					m.hashMask = 0
				}
				for i := range tt.recs {
					m.Observe(tt.recs[i:i+1], time.Unix(0, 0))
				}
				m.Observe(tt.recs, time.Unix(0, 0)) // all remembered now, or still not
				got := map[string]uint64{}
				m.Range(func(s *Series) { got[s.Name] = s.Calls })
				want := map[string]uint64{}
				for k, v := range tt.calls {
					want[k] = 2 * v
				}
				assert.Equal(t, want, got)
				assert.Equal(t, tt.raws, m.raws.n)
			})
		}
	}
}

// A series and its raw keys expire together, whichever raw key kept it
// alive; when it comes back it starts from zero.
func TestMetricsExpireRawAlias(t *testing.T) {
	r1, r2 := edgeRecords()[0], edgeRecords()[0]
	r1.Details.Path, r2.Details.Path = []byte("/\xff"), []byte("/\xfe") // both "/\uFFFD"
	for _, collide := range []bool{false, true} {
		m := NewMetrics(MetricsConfig{TTL: time.Minute})
		if collide {
			m.hashMask = 0
		}
		t0 := time.Unix(1000, 0)
		m.Observe([]accesslog.Record{r1, r2}, t0)
		require.Equal(t, 1, m.Len())
		require.Equal(t, 2, m.raws.n)

		m.Observe([]accesslog.Record{r2}, t0.Add(50*time.Second)) // the alias keeps the series alive
		m.Observe(nil, t0.Add(90*time.Second))
		require.Equal(t, 1, m.Len())
		require.Equal(t, 2, m.raws.n, "both raw keys stay with their series")

		m.Observe(nil, t0.Add(200*time.Second))
		require.Zero(t, m.Len())
		require.Zero(t, m.raws.n, "raw keys expire with their series")
		require.Equal(t, uint64(1), m.Expired)

		m.Observe([]accesslog.Record{r1}, t0.Add(201*time.Second))
		got := seriesByKey(m)
		require.Len(t, got, 1)
		for _, s := range got {
			assert.Equal(t, uint64(1), s.Calls, "a new series, not the expired one")
		}
	}
}

// Records of series beyond the budget go to the overflow series, each one
// counted in Overflowed; their raw keys are not remembered, so that a
// series can be created when expiry frees the budget.
func TestMetricsOverflowRawKeys(t *testing.T) {
	recs := edgeRecords()[:2] // one client, one server series
	m := NewMetrics(MetricsConfig{MaxSeries: 1, TTL: time.Minute})
	t0 := time.Unix(1000, 0)
	m.Observe(recs, t0)
	m.Observe(recs, t0.Add(time.Second))
	assert.Equal(t, uint64(2), m.Overflowed)
	assert.Equal(t, 2, m.Len(), "the series and one overflow series")
	assert.Equal(t, 1, m.raws.n)
	got := seriesByKey(m)
	assert.Equal(t, uint64(2), got[[4]string{"web", "cart.shop:8080/cart/42", KindClient, StatusUnset}].Calls)
	assert.Equal(t, uint64(2), got[[4]string{OverflowLabel, OverflowLabel, KindServer, StatusUnset}].Calls)

	m.Observe(nil, t0.Add(2*time.Minute)) // both expire
	assert.Zero(t, m.Len())
	assert.Zero(t, m.raws.n)
	m.Observe(recs[1:], t0.Add(2*time.Minute)) // the server record gets its series
	assert.Equal(t, uint64(2), m.Overflowed)
	got = seriesByKey(m)
	require.Len(t, got, 1)
	assert.Equal(t, uint64(1), got[[4]string{"cart", "cart.shop:8080/cart/42", KindServer, StatusUnset}].Calls)
	assert.Equal(t, 1, m.raws.n)
}

func TestPathOnly(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("/a?#\xff\xc3\xa9é")
	for n := range 40 {
		for range 200 {
			p := make([]byte, n)
			for i := range p {
				p[i] = alphabet[rnd.IntN(len(alphabet))]
			}
			want := p
			if i := bytes.IndexAny(p, "?#"); i >= 0 {
				want = p[:i]
			}
			require.Equal(t, string(want), string(pathOnly(p)), "%q", p)
		}
	}
}
