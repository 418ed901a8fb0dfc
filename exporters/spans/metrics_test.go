package spans

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
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
	require.Len(t, got, 4, "the gRPC failure and the 503 share their series")
	const name = "cart.shop.svc.cluster.local:8080/*"
	c := got[[4]string{"web", name, KindClient, StatusUnset}]
	assert.Equal(t, uint64(2), c.Calls)
	assert.InDelta(t, 2*12.345678, c.SumMillis, 1e-9)
	assert.Equal(t, uint64(2), c.Counts[5], "12.3 ms is in (10, 50]")
	s := got[[4]string{"cart", name, KindServer, StatusUnset}]
	assert.Equal(t, uint64(1), s.Calls)
	assert.Equal(t, uint64(1), s.Counts[4], "10 ms is in (8, 10]: le is inclusive")
	g := got[[4]string{"web", name, KindClient, StatusError}]
	assert.Equal(t, uint64(2), g.Calls, "gRPC UNAVAILABLE is an error, as is a 503")
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
	m.Observe(recs, t0) // 4 series wanted, 2 allowed
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
	labelBytes          int64
	Overflowed, Expired uint64
}

// labelEscaper escapes a label value as /metrics writes it: a series'
// label-set bytes are its service_name's and span_name's so escaped.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func newRefMetrics(cfg MetricsConfig) *refMetrics {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 10_000
	}
	if cfg.MaxLabelBytes <= 0 {
		cfg.MaxLabelBytes = 2 << 20
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
		lb := int64(len(labelEscaper.Replace(service)) + len(labelEscaper.Replace(string(k[nameAt:]))))
		if len(m.series) < m.cfg.MaxSeries && m.labelBytes+lb <= m.cfg.MaxLabelBytes {
			m.labelBytes += lb
		} else {
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
			if s.Service != OverflowLabel || s.Name != OverflowLabel {
				m.labelBytes -= int64(len(labelEscaper.Replace(s.Service)) + len(labelEscaper.Replace(s.Name)))
			}
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
	require.Equal(t, ref.labelBytes, m.LabelBytes(), msg+": label-set bytes")
	require.LessOrEqual(t, m.LabelBytes(), m.cfg.MaxLabelBytes, msg+": label-set bytes")
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

// aliasRecords varies what span names are made of the ways that map
// several raw keys to one span name, or one raw key to records with
// different paths: ports from the cluster, the authority or the local port,
// no port, no or an unknown host, invalid bytes, hosts cut at MaxNameLen,
// and paths, queries and fragments of all kinds, which must not matter.
func aliasRecords() []accesslog.Record {
	base := edgeRecords()[0]
	var out []accesslog.Record
	add := func(host, cluster, authority string, localPort uint32, path string, mut func(*accesslog.Record)) {
		r := base
		r.Service.Host = host
		r.Details.UpstreamCluster, r.Details.Authority, r.Details.LocalPort = []byte(cluster), []byte(authority), localPort
		r.Details.Path = []byte(path)
		if mut != nil {
			mut(&r)
		}
		out = append(out, r)
	}
	long := strings.Repeat("h", MaxNameLen)
	for _, mut := range []func(*accesslog.Record){
		nil,
		func(r *accesslog.Record) { r.Reporter = accesslog.ReporterDestination },
		func(r *accesslog.Record) { r.Reporter = accesslog.ReporterWaypoint },
		func(r *accesslog.Record) { r.ResponseCode = 503 },
		func(r *accesslog.Record) { r.Source.CanonicalService = "web-canary" },
	} {
		add("cart", "outbound|80||cart", "cart:80", 0, "/a", mut)
		add("cart", "outbound|80||cart", "cart:81", 0, "/a?x=1", mut)
		add("cart", "outbound_.80_._.cart", "", 0, "/a#f", mut)
		add("cart", "inbound|80||", "", 0, "/b/42", mut)
		add("cart", "inbound-vip|80|http|cart", "", 0, "", mut)
		add("cart", "", "cart:80", 0, "/", mut)
		add("cart", "PassthroughCluster", "cart:80", 9090, "?q", mut)
		add("cart", "", "cart", 80, "/c/0af7651916cd43dd8448eb211c80319c", mut)
		add("cart", "", "", 80, "/c/1", mut)
		add("cart", "", "", 0, "/c/2", mut)
		add("cart", "outbound|99999||cart", "cart:0", 70000, "/d", mut)
		add("cart", "outbound|81||cart", "", 0, "/a", mut)
		add("", "outbound|80||cart", "", 0, "/a", mut)
		add("unknown", "outbound|80||cart", "", 0, "/a", mut)
		add("", "", "", 0, "/a", mut)
		add("cart\xff", "outbound|80||cart", "", 0, "/\xff", mut)
		add("cart\xfe", "outbound|80||cart", "", 0, "/\xfe", mut)
		add("cart\uFFFD", "outbound|80||cart", "", 0, "/", mut)
		add("cart\xc3", "outbound|80||cart", "", 0, "/", mut)
		add(long+"b", "outbound|80||cart", "", 0, "/", mut)
		add(long+"c", "", "", 0, "/", mut)
		add(long[:MaxNameLen-8]+"\xff\xfe\xfd", "", "", 0, "/", mut)
		add(long[:MaxNameLen-8]+"\xfd\xfe\xff", "", "", 0, "/", mut)
		add(strings.Repeat("é", 200), "", "", 0, "/"+strings.Repeat("é", 200), mut)
		add(strings.Repeat("\xe9", 200), "", "", 0, "/"+strings.Repeat("\xe9", 200), mut)
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
		{"label-bytes budget", MetricsConfig{MaxLabelBytes: 2000, TTL: time.Minute}, false},
		{"both budgets/collisions", MetricsConfig{MaxSeries: 40, MaxLabelBytes: 1200, TTL: 20 * time.Second}, true},
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
	rec := func(host, cluster, authority, path string) accesslog.Record {
		r := edgeRecords()[0]
		r.Service.Host = host
		r.Details.UpstreamCluster, r.Details.Authority, r.Details.Path = []byte(cluster), []byte(authority), []byte(path)
		return r
	}
	const c80 = "outbound|80||cart"
	long := strings.Repeat("h", MaxNameLen)
	tests := []struct {
		name  string
		recs  []accesslog.Record
		calls map[string]uint64 // by span name
		raws  int               // raw keys remembered
	}{
		{
			"paths, ids and queries are not in the key",
			[]accesslog.Record{rec("a", c80, "", "/p?x=1"), rec("a", c80, "", "/p/42#f"), rec("a", c80, "", "/q/0af76519"), rec("a", c80, "", "")},
			map[string]uint64{"a:80/*": 4},
			1,
		},
		{
			"the port, wherever it comes from",
			[]accesslog.Record{rec("a", c80, "a:81", "/"), rec("a", "", "a:80", "/"), rec("a", "PassthroughCluster", "a:80", "/")},
			map[string]uint64{"a:80/*": 3},
			1,
		},
		{
			"no host and unknown",
			[]accesslog.Record{rec("", c80, "", "/"), rec("unknown", c80, "", "/")},
			map[string]uint64{"unknown:80/*": 2},
			1,
		},
		{
			"invalid bytes repaired to one name",
			[]accesslog.Record{rec("a\xff", c80, "", "/"), rec("a\xfe", c80, "", "/"), rec("a\uFFFD", c80, "", "/"), rec("a\xff", c80, "", "/")},
			map[string]uint64{"a\uFFFD:80/*": 4},
			3,
		},
		{
			"hosts cut at MaxNameLen to one name",
			[]accesslog.Record{rec(long+"1", c80, "", "/"), rec(long+"2", c80, "", "/")},
			map[string]uint64{long: 2},
			2,
		},
		{"raw keys per series bounded", []accesslog.Record{
			rec("a\x80", c80, "", "/"), rec("a\x81", c80, "", "/"), rec("a\x82", c80, "", "/"),
			rec("a\x83", c80, "", "/"), rec("a\x84", c80, "", "/"), rec("a\x85", c80, "", "/"),
		}, map[string]uint64{"a\uFFFD:80/*": 6}, maxRawPerSeries},
		{
			"distinct names",
			[]accesslog.Record{rec("a", c80, "", "/p"), rec("b", c80, "", "/p"), rec("a", "outbound|81||a", "", "/p"), rec("ab", c80, "", "/p"), rec("a", "", "", "/p")},
			map[string]uint64{"a:80/*": 1, "b:80/*": 1, "a:81/*": 1, "ab:80/*": 1, "a/*": 1},
			5,
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
	r1.Service.Host, r2.Service.Host = "c\xff", "c\xfe" // both "c\uFFFD:8080/*"
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
	assert.Equal(t, uint64(2), got[[4]string{"web", "cart.shop.svc.cluster.local:8080/*", KindClient, StatusUnset}].Calls)
	assert.Equal(t, uint64(2), got[[4]string{OverflowLabel, OverflowLabel, KindServer, StatusUnset}].Calls)

	m.Observe(nil, t0.Add(2*time.Minute)) // both expire
	assert.Zero(t, m.Len())
	assert.Zero(t, m.raws.n)
	m.Observe(recs[1:], t0.Add(2*time.Minute)) // the server record gets its series
	assert.Equal(t, uint64(2), m.Overflowed)
	got = seriesByKey(m)
	require.Len(t, got, 1)
	assert.Equal(t, uint64(1), got[[4]string{"cart", "cart.shop.svc.cluster.local:8080/*", KindServer, StatusUnset}].Calls)
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

// Issue 16: paths (ids in segments, query strings, random words) must not
// become span names or series. 10,000 records of one hop (web → cart, both
// reports, some failing), each with its own path, make exactly four series
// ({client, server} × {ok, error}), in any order and under a budget of
// exactly four; their spans carry the path in url.path and never the query.
func TestSpanMetricsBoundedByPaths(t *testing.T) {
	const n = 10_000
	const name = "cart.shop.svc.cluster.local:8080/*"
	rnd := rand.New(rand.NewPCG(16, 10_004))
	words := strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa")
	word := func() string { return words[rnd.IntN(len(words))] }
	base := edgeRecords()[:2] // the client's and the server's report of one hop
	recs := make([]accesslog.Record, n)
	raw := map[string]bool{}
	wantPaths := map[string]int{} // url.path → spans
	for i := range recs {
		var p string
		switch i % 4 {
		case 0: // ids in segments
			p = fmt.Sprintf("/cart/%d/items/%08x-%04x-4%03x", i, rnd.Uint32(), rnd.IntN(1<<16), rnd.IntN(1<<12))
		case 1: // one path, distinct query strings
			p = fmt.Sprintf("/search?q=%s+%s&page=%d", word(), word(), i)
		case 2: // random words, a fragment
			p = fmt.Sprintf("/%s/%s-%s-%d#%s", word(), word(), word(), i, word())
		case 3: // a query on an id path
			p = fmt.Sprintf("/api/v1/users/%d/orders?session=%016x", i, rnd.Uint64())
		}
		raw[p] = true
		wantPaths[string(pathOnly([]byte(p)))]++
		r := base[i%2]
		r.Details.Path = []byte(p)
		if rnd.IntN(10) == 0 {
			r.ResponseCode = 500
		}
		recs[i] = r
	}
	require.Len(t, raw, n, "every record has its own path")
	require.Greater(t, len(wantPaths), n/2, "and most their own url.path")

	calls := func(m *Metrics) map[[4]string]uint64 {
		out := map[[4]string]uint64{}
		for k, s := range seriesByKey(m) {
			out[k] = s.Calls
		}
		return out
	}
	m := NewMetrics(MetricsConfig{})
	m.Observe(recs, time.Unix(0, 0))
	require.Equal(t, 4, m.Len())
	got := calls(m)
	var total uint64
	for k, c := range got {
		assert.Equal(t, name, k[1])
		total += c
	}
	assert.Equal(t, uint64(n), total)
	assert.Contains(t, got, [4]string{"web", name, KindClient, StatusUnset})
	assert.Contains(t, got, [4]string{"web", name, KindClient, StatusError})
	assert.Contains(t, got, [4]string{"cart", name, KindServer, StatusUnset})
	assert.Contains(t, got, [4]string{"cart", name, KindServer, StatusError})
	assert.Equal(t, 4, m.raws.n, "one raw key per series: the path is not in it")

	// Order does not matter, and four series fit a budget of four.
	shuffled := slices.Clone(recs)
	rnd.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	m2 := NewMetrics(MetricsConfig{MaxSeries: 4})
	for i := 0; i < n; i += 100 {
		m2.Observe(shuffled[i:i+100], time.Unix(0, 0))
	}
	assert.Equal(t, got, calls(m2))
	assert.Zero(t, m2.Overflowed)

	// The spans: one name, the path in url.path, no query anywhere.
	gotPaths := map[string]int{}
	for _, v := range views(buildAll(keepAll(), recs)) {
		require.Equal(t, name, v.Name)
		p, _ := v.Attrs[AttrURLPath].(string)
		require.NotContains(t, p, "?")
		require.NotContains(t, v.Attrs, "url.query")
		gotPaths[p]++
	}
	assert.Equal(t, wantPaths, gotPaths)
}
