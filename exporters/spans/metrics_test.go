package spans

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/loadgen"
)

func seriesByKey(m *Metrics) map[[4]string]Series {
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
