package promsource

import (
	"context"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/topology/internal/promql"
)

// series is one stored series of the fake Prometheus.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// fakeProm answers the global graph's queries from the series of
// istiometrics aggregators, as a Prometheus that scraped them once, after
// the start of the window, would: every series is born inside the window
// and counts in full. It understands exactly the query shape the package
// sends: sum by (labels) ((m{sel} - m{sel} offset w) >= 0 or m{sel}).
type fakeProm struct {
	mu     sync.Mutex
	series []series
	// earlier holds the values at the start of the window (offset), by
	// series key; a series missing there was born inside the window.
	earlier map[string]float64
	queries []string
	// fail, when set, may fail a query.
	fail func(ctx context.Context, query string) error
}

// scrape adds the series of an aggregator as one target.
func (f *fakeProm) scrape(t testing.TB, job, instance string, a *istiometrics.Aggregator) {
	t.Helper()
	f.series = append(f.series, gather(t, job, instance, a)...)
}

// scrapeEarlier records the values of an aggregator's series at the start
// of the window.
func (f *fakeProm) scrapeEarlier(t testing.TB, job, instance string, a *istiometrics.Aggregator) {
	t.Helper()
	if f.earlier == nil {
		f.earlier = map[string]float64{}
	}
	for _, s := range gather(t, job, instance, a) {
		f.earlier[seriesKey(s)] = s.value
	}
}

func seriesKey(s series) string {
	names := slices.Sorted(maps.Keys(s.labels))
	var b strings.Builder
	b.WriteString(s.name)
	for _, n := range names {
		b.WriteString("\xff" + n + "=" + s.labels[n])
	}
	return b.String()
}

// gather returns an aggregator's series as Prometheus stores them.
func gather(t testing.TB, job, instance string, a *istiometrics.Aggregator) []series {
	t.Helper()
	var out []series
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(a.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	for _, fam := range fams {
		for _, m := range fam.GetMetric() {
			ls := map[string]string{"job": job, "instance": instance}
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != "" { // Prometheus drops empty labels
					ls[lp.GetName()] = lp.GetValue()
				}
			}
			name := fam.GetName()
			switch {
			case m.GetCounter() != nil:
				out = append(out, series{name, ls, m.GetCounter().GetValue()})
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					bl := maps.Clone(ls)
					bl["le"] = strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					out = append(out, series{name + "_bucket", bl, float64(b.GetCumulativeCount())})
				}
				inf := maps.Clone(ls)
				inf["le"] = "+Inf"
				out = append(out,
					series{name + "_bucket", inf, float64(h.GetSampleCount())},
					series{name + "_sum", ls, h.GetSampleSum()},
					series{name + "_count", ls, float64(h.GetSampleCount())})
			}
		}
	}
	return out
}

var queryRE = regexp.MustCompile(`^sum by \(([a-z_, ]+)\) \(\(([a-z_]+)\{(.*)\} - ([a-z_]+)\{.*\} offset (\d+)ms\) >= 0 or ([a-z_]+)\{.*\}\)$`)

func matches(m promql.Matcher, ls map[string]string) bool {
	v := ls[m.Name]
	switch m.Op {
	case "=":
		return v == m.Value
	case "!=":
		return v != m.Value
	case "=~":
		return regexp.MustCompile("^(?:" + m.Value + ")$").MatchString(v)
	default:
		return !regexp.MustCompile("^(?:" + m.Value + ")$").MatchString(v)
	}
}

func (f *fakeProm) query(ctx context.Context, q string, _ time.Time) ([]Sample, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	fail := f.fail
	f.mu.Unlock()
	if fail != nil {
		if err := fail(ctx, q); err != nil {
			return nil, err
		}
	}
	m := queryRE.FindStringSubmatch(q)
	if len(m) != 7 || m[4] != m[2] || m[6] != m[2] {
		return nil, fmt.Errorf("fake prometheus: unexpected query %q", q)
	}
	by := strings.Split(m[1], ", ")
	sel, err := promql.ParseMatchers(m[3])
	if err != nil {
		return nil, err
	}
	groups := map[string]*Sample{}
	var order []string
	for _, s := range f.series {
		if s.name != m[2] {
			continue
		}
		ok := true
		for _, mt := range sel {
			ok = ok && matches(mt, s.labels)
		}
		if !ok {
			continue
		}
		out := map[string]string{}
		var key strings.Builder
		for _, l := range by {
			if v, found := s.labels[l]; found {
				out[l] = v
			}
			key.WriteString(s.labels[l] + "\xff")
		}
		g := groups[key.String()]
		if g == nil {
			g = &Sample{Metric: out}
			groups[key.String()] = g
			order = append(order, key.String())
		}
		v := s.value
		if before, found := f.earlier[seriesKey(s)]; found && v >= before {
			v -= before
		}
		g.Value += v
	}
	res := make([]Sample, 0, len(order))
	for _, k := range order {
		if !math.IsNaN(groups[k].Value) {
			res = append(res, *groups[k])
		}
	}
	return res, nil
}
