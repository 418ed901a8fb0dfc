package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/internal/kialigraph"
	"github.com/meshlens/meshlens/loadgen"
	"github.com/meshlens/meshlens/topology"
)

// splitByProxy returns the streams of the even-numbered proxies (in order
// of first appearance) and those of the odd-numbered ones: every stream
// stays whole, and the two reports of most hops land on different halves.
func splitByProxy(tr *loadgen.Traffic) (even, odd *loadgen.Traffic) {
	even, odd = &loadgen.Traffic{}, &loadgen.Traffic{}
	ordinal := map[string]int{}
	for _, s := range tr.Streams {
		if _, ok := ordinal[s.NodeID]; !ok {
			ordinal[s.NodeID] = len(ordinal)
		}
		if ordinal[s.NodeID]%2 == 0 {
			even.Streams = append(even.Streams, s)
		} else {
			odd.Streams = append(odd.Streams, s)
		}
	}
	return even, odd
}

// graphJSON fetches a graph from a meshlens.
func graphJSON(t *testing.T, m *meshlens, query string) []byte {
	t.Helper()
	code, body, err := httpGet("http://"+m.HTTP+query, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, "%s: %s", query, body)
	return []byte(body)
}

func graph(t *testing.T, m *meshlens, query string) *topology.Snapshot {
	t.Helper()
	var s topology.Snapshot
	require.NoError(t, json.Unmarshal(graphJSON(t, m, query), &s))
	return &s
}

// TestE2EReplicas is the global graph end to end: two meshlens replicas (A
// and B) each get half of a generated Bookinfo mesh's streams, a real
// Prometheus scrapes both, and a third meshlens (C) gets all the traffic.
// The graph A builds from Prometheus (?source=prometheus) must equal C's
// live graph: same nodes, same edges per protocol, and per edge the same
// request, error, response, client-only failure, byte, message and
// connection counts, exactly (up to float rounding), for a 10-minute
// window that covers all the traffic.
//
// Why exact: the global graph counts, per series, its value now minus its
// value 10 minutes ago (nothing: every series was born in the window, so it
// counts in full). No rate extrapolation is involved, so the window
// arithmetic adds no error; rates are compared as totals (rate × the
// seconds each graph divides by: 600 for the global graph, the covered
// part of the ring for the live one).
//
// The two graphs count alike because both apply Kiali's rules to the same
// labels: per response kind the server's report where it has one, and a
// client report that names no callee as an edge of its own.
//
// Latency is compared loosely: the averages to 2 µs (the live graph sums
// whole microseconds), the quantiles only within
// the Istio bucket of the live value or a neighbouring one (the global
// graph knows only the Istio buckets; the live graph's finer buckets can
// straddle one Istio bound).
func TestE2EReplicas(t *testing.T) {
	need(t, "prometheus")
	const job = "meshlens-replicas"
	promAddr := freePort(t)
	a := startMeshlens(t,
		"--set", "extensions::meshlens::topology::global::prometheus_url=http://"+promAddr,
		"--set", `extensions::meshlens::topology::global::selector=job="`+job+`"`,
	)
	b := startMeshlens(t)
	c := startMeshlens(t)
	prom := startPrometheusAt(t, promAddr, job, a.HTTP, b.HTTP)

	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 23, Requests: 6000, StreamsPerProxy: 2, TCPPeriodic: true})
	half1, half2 := splitByProxy(tr)
	require.NotEmpty(t, half1.Streams)
	require.NotEmpty(t, half2.Streams)
	require.Equal(t, tr.EntryCount(), half1.EntryCount()+half2.EntryCount())
	t.Logf("%d streams, %d entries: %d to A, %d to B, all to C", len(tr.Streams), tr.EntryCount(), half1.EntryCount(), half2.EntryCount())
	for _, send := range []struct {
		m  *meshlens
		tr *loadgen.Traffic
	}{{a, half1}, {b, half2}, {c, tr}} {
		_, err := loadgen.Send(context.Background(), dial(t, send.m.GRPC), send.tr, loadgen.SendOptions{})
		require.NoError(t, err)
		waitProcessed(t, send.m, float64(send.tr.EntryCount()))
	}
	// A scrape of each replica after everything was processed.
	now := time.Now()
	scraped := prom.waitScrapes(t, a.HTTP, now)
	if tb := prom.waitScrapes(t, b.HTTP, now); tb.After(scraped) {
		scraped = tb
	}

	for _, gt := range []string{"workload", "app", "versionedApp", "service"} {
		t.Run(gt, func(t *testing.T) {
			q := "/api/v1/graph?duration=10m&injectServiceNodes=true&graphType=" + gt
			global := graph(t, a, q+"&source=prometheus")
			local := graph(t, c, q)
			assert.Equal(t, "prometheus", global.Source)
			assert.Empty(t, local.Source)
			require.Len(t, global.Windows, 1)
			assert.InDelta(t, 600, global.Windows[0].CoveredSeconds, 0)
			require.GreaterOrEqual(t, len(local.Edges), 8, "a real graph")
			compareGraphs(t, local, global)
		})
	}

	t.Run("Kiali's PromQL on the real Prometheus", func(t *testing.T) {
		// Kiali's own computation (internal/kialigraph) over what the real
		// Prometheus answers to its group-by sums: C's live graph shows
		// the same edges between the same nodes with the same numbers.
		// (Every series was born inside the window: its value is its
		// increase.)
		var series []kialigraph.Series
		for _, metric := range kialigraph.Metrics {
			for _, reporter := range []string{"destination", "source"} {
				q := fmt.Sprintf(`sum by (%s) (%s{job=%q, reporter=%q})`, strings.Join(kialigraph.GroupBy, ", "), metric, job, reporter)
				for _, smp := range prom.query(t, q, scraped) {
					smp.Metric["reporter"] = reporter
					series = append(series, kialigraph.Series{Name: metric, Labels: smp.Metric, Value: smp.Value})
				}
			}
		}
		require.NotEmpty(t, series)
		for _, gt := range []string{"workload", "app"} {
			want := kialigraph.Compute(series, gt)
			got := kialigraph.FromSnapshot(graph(t, c, "/api/v1/graph?duration=10m&graphType="+gt))
			assert.Empty(t, kialigraph.Diff(want, got, 1e-6), "%s graph", gt)
			assert.GreaterOrEqual(t, len(want), 8, "a real graph")
		}
	})

	t.Run("the replica alone sees part of it", func(t *testing.T) {
		q := "/api/v1/graph?duration=10m&graphType=service"
		total := func(s *topology.Snapshot) (n float64) {
			for _, e := range s.Edges {
				n += e.Stats[0].Requests
			}
			return n
		}
		global, own := total(graph(t, a, q+"&source=prometheus")), total(graph(t, a, q))
		assert.Positive(t, own)
		assert.Less(t, own, global)
	})

	t.Run("client-only failures survive the split", func(t *testing.T) {
		// productpage → reviews has connection failures that only
		// productpage's sidecar reported, on one replica, while the
		// reviews workloads' sidecars reported the requests they served on
		// the other.
		global := graph(t, a, "/api/v1/graph?duration=10m&graphType=app&source=prometheus")
		var found bool
		for _, e := range global.Edges {
			if e.Source == "app_Kubernetes_default_productpage" && strings.HasPrefix(e.Target, "app_Kubernetes_default_reviews") {
				found = true
				assert.Positive(t, e.Stats[0].ProxyErrors)
				require.NotNil(t, e.Stats[0].Server)
			}
		}
		if !found {
			var ids []string
			for _, e := range global.Edges {
				ids = append(ids, e.ID)
			}
			t.Fatalf("no productpage → reviews edge in %v", ids)
		}
	})

	t.Run("Kiali route", func(t *testing.T) {
		q := "/api/namespaces/graph?namespaces=default,istio-system&graphType=app&duration=10m"
		global, local := kialiShape(t, graphJSON(t, a, q+"&source=prometheus")), kialiShape(t, graphJSON(t, c, q))
		assert.Equal(t, local, global)
		assert.NotEmpty(t, local)
	})
}

// kialiShape is what must match in two Kiali graphs of the same traffic
// over windows of different covered lengths: node ids, and per edge the
// protocol and the response percentages.
func kialiShape(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var g struct {
		Elements struct {
			Nodes []struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			} `json:"nodes"`
			Edges []struct {
				Data struct {
					ID      string `json:"id"`
					Traffic struct {
						Protocol  string          `json:"protocol"`
						Responses json.RawMessage `json:"responses"`
					} `json:"traffic"`
				} `json:"data"`
			} `json:"edges"`
		} `json:"elements"`
	}
	require.NoError(t, json.Unmarshal(b, &g))
	out := map[string]string{}
	for _, n := range g.Elements.Nodes {
		out["node "+n.Data.ID] = ""
	}
	for _, e := range g.Elements.Edges {
		out["edge "+e.Data.ID] = e.Data.Traffic.Protocol + " " + string(e.Data.Traffic.Responses)
	}
	return out
}

// compareGraphs checks that the global graph equals the local one (see
// TestE2EReplicas for what is compared and how).
func compareGraphs(t *testing.T, local, global *topology.Snapshot) {
	t.Helper()
	require.Equal(t, local.Nodes, global.Nodes)
	ids := func(s *topology.Snapshot) (out []string) {
		for _, e := range s.Edges {
			out = append(out, e.ID)
		}
		return out
	}
	require.Equal(t, ids(local), ids(global))
	ls, gs := local.Windows[0].CoveredSeconds, global.Windows[0].CoveredSeconds
	for i := range local.Edges {
		le, ge := local.Edges[i], global.Edges[i]
		assert.Equal(t, le.SourcePrincipal, ge.SourcePrincipal, le.ID)
		assert.Equal(t, le.DestPrincipal, ge.DestPrincipal, le.ID)
		l, g := le.Stats[0], ge.Stats[0]
		assert.Equal(t, edgeTotals(l, ls), edgeTotals(g, gs), le.ID)
		if l.Latency == nil {
			assert.Nil(t, g.Latency, le.ID)
			continue
		}
		require.NotNil(t, g.Latency, le.ID)
		assert.InDelta(t, l.Latency.Samples, g.Latency.Samples, 1e-6, le.ID)
		assert.InDelta(t, l.Latency.Avg, g.Latency.Avg, 0.002, "%s: average latency", le.ID)
		for _, q := range [][3]float64{{50, l.Latency.P50, g.Latency.P50}, {95, l.Latency.P95, g.Latency.P95}, {99, l.Latency.P99, g.Latency.P99}} {
			lo, hi := istioNeighbourhood(q[1])
			assert.True(t, q[2] >= lo && q[2] <= hi, "%s: global p%v %v outside (%v, %v] around the live %v", le.ID, q[0], q[2], lo, hi, q[1])
		}
	}
}

// istioNeighbourhood returns the Istio bucket holding v widened by one
// bucket on each side.
func istioNeighbourhood(v float64) (lo, hi float64) {
	bounds := append([]float64{0}, istiometrics.DefaultBuckets...)
	i, _ := slices.BinarySearch(bounds, v) // bounds[i-1] < v <= bounds[i]
	lo = bounds[max(0, i-2)]
	if i+1 < len(bounds) {
		hi = bounds[i+1]
	} else {
		hi = math.Inf(1)
	}
	return lo, hi
}

// totals are one edge's counts over a window, rounded to absorb the order
// of float additions.
type totals struct {
	Requests, Errors, ProxyErrors, AppErrors, NoResponse       float64
	Status3xx, Status4xx, Status5xx, GRPCErrors, ClientOnly    float64
	BytesIn, BytesOut, MessagesIn, MessagesOut, Opened, Closed float64
	MTLSPercent                                                float64
	Responses                                                  string
	Client, Server                                             [3]float64 // requests, errors, proxy errors
}

func edgeTotals(s topology.EdgeStats, secs float64) totals {
	r := func(v float64) float64 { return math.Round(v*1e3) / 1e3 }
	out := totals{
		Requests: r(s.Requests), Errors: r(s.Errors), ProxyErrors: r(s.ProxyErrors), AppErrors: r(s.AppErrors),
		NoResponse: r(s.NoResponse), Status3xx: r(s.Status3xx), Status4xx: r(s.Status4xx), Status5xx: r(s.Status5xx),
		GRPCErrors: r(s.GRPCErrors), ClientOnly: r(s.ClientOnlyFailures),
		BytesIn: r(s.BytesInRate * secs), BytesOut: r(s.BytesOutRate * secs),
		MessagesIn: r(s.MessagesInRate * secs), MessagesOut: r(s.MessagesOutRate * secs),
		Opened: r(s.ConnectionsOpened), Closed: r(s.ConnectionsClosed), MTLSPercent: -1,
	}
	if s.MTLSPercent != nil {
		out.MTLSPercent = r(*s.MTLSPercent)
	}
	var resp []string
	for _, x := range s.Responses {
		resp = append(resp, fmt.Sprintf("%s/%s/%s=%v", x.Code, x.Flags, x.Host, r(x.Requests)))
	}
	out.Responses = strings.Join(resp, " ")
	if s.Client != nil {
		out.Client = [3]float64{r(s.Client.Requests), r(s.Client.Errors), r(s.Client.ProxyErrors)}
	}
	if s.Server != nil {
		out.Server = [3]float64{r(s.Server.Requests), r(s.Server.Errors), r(s.Server.ProxyErrors)}
	}
	return out
}
