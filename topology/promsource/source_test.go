package promsource

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
	"github.com/meshlens/meshlens/topology/internal/promql"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

var windows = []time.Duration{time.Minute, 10 * time.Minute}

// batches returns the synthetic mesh's records plus client-side connection
// failures towards an unknown workload of a known service (which the graph
// folds into the hops reviews' server side named).
func batches() ([][]accesslog.Record, []time.Time) {
	bs, ts := meshtest.Records(testNow)
	productpage := meshtest.Workload("bookinfo", "productpage-v1", "productpage", "v1")
	uf := meshtest.Call{
		From: productpage, To: meshtest.Unknown, Service: meshtest.Service("bookinfo", "reviews"),
		Protocol: accesslog.ProtocolHTTP, Code: 503, GRPC: -1,
		Flags:    accesslog.FlagUpstreamConnectionFailure | accesslog.FlagUpstreamRetryLimitExceeded,
		Duration: 2 * time.Millisecond, ReqBytes: 300, RespBytes: 91, Sides: meshtest.ClientSide, MTLS: true, Count: 7,
	}
	return append(bs, uf.Records()), append(ts, testNow.Add(-5*time.Second))
}

// replicas describes which replica sees which record.
type replicas func(r *accesslog.Record) string

// setup feeds the records to one live graph (all of them) and to one
// aggregator per replica scraped by a fake Prometheus under job="meshlens",
// plus an aggregator of another job that the selector must exclude.
func setup(t *testing.T, split replicas) (*topology.Graph, *fakeProm) {
	t.Helper()
	g, err := topology.NewGraph(topology.Config{})
	require.NoError(t, err)
	aggs := map[string]*istiometrics.Aggregator{}
	other := istiometrics.New(istiometrics.DefaultConfig())
	bs, ts := batches()
	for i, b := range bs {
		g.ObserveBatch(b, ts[i])
		other.ConsumeRecords(b, nil, ts[i])
		other.ConsumeRecords(b, nil, ts[i])
		for k := range b {
			name := split(&b[k])
			if aggs[name] == nil {
				aggs[name] = istiometrics.New(istiometrics.DefaultConfig())
			}
			aggs[name].ConsumeRecords(b[k:k+1], nil, ts[i])
		}
	}
	f := &fakeProm{}
	for name, a := range aggs {
		f.scrape(t, "meshlens", name, a)
	}
	f.scrape(t, "other", "elsewhere:9102", other)
	return g, f
}

// TestGlobalEqualsLocal checks that the graph built from the replicas'
// Istio metrics equals the live graph of one instance fed all the records,
// however the records were spread over the replicas.
func TestGlobalEqualsLocal(t *testing.T) {
	splits := map[string]replicas{
		"one replica": func(*accesslog.Record) string { return "a:9102" },
		"client and server sides on different replicas": func(r *accesslog.Record) string {
			if r.Reporter == accesslog.ReporterSource {
				return "a:9102"
			}
			return "b:9102"
		},
		"by caller": func(r *accesslog.Record) string { return r.Source.Name + ":9102" },
	}
	options := []struct {
		name string
		o    topology.SnapshotOptions
	}{
		{"workload", topology.SnapshotOptions{Granularity: topology.Workload}},
		{"app", topology.SnapshotOptions{Granularity: topology.App}},
		{"versionedApp injected", topology.SnapshotOptions{Granularity: topology.VersionedApp, InjectServiceNodes: true}},
		{"service", topology.SnapshotOptions{Granularity: topology.Service}},
		{"workload bookinfo", topology.SnapshotOptions{Granularity: topology.Workload, Namespaces: []string{"bookinfo"}}},
	}
	for splitName, split := range splits {
		g, f := setup(t, split)
		src, err := NewWithQuery(f.query, `job="meshlens"`, time.Second)
		require.NoError(t, err)
		for _, tt := range options {
			t.Run(splitName+"/"+tt.name, func(t *testing.T) {
				o := tt.o
				o.Windows = windows
				local, err := g.Snapshot(testNow, o)
				require.NoError(t, err)
				global, err := src.Snapshot(t.Context(), testNow, o)
				require.NoError(t, err)
				assert.Equal(t, "prometheus", global.Source)
				require.NotEmpty(t, local.Edges)
				assertSameGraph(t, local, global)
			})
		}
	}
}

// TestGlobalWindowDeltas checks the counting over the window: a series
// that existed at the window's start counts its increase, one whose value
// fell (a replica restarted) counts what it counted since.
func TestGlobalWindowDeltas(t *testing.T) {
	g, err := topology.NewGraph(topology.Config{})
	require.NoError(t, err)
	clients, servers := istiometrics.New(istiometrics.DefaultConfig()), istiometrics.New(istiometrics.DefaultConfig())
	restarted := istiometrics.New(istiometrics.DefaultConfig())
	bs, ts := batches()
	feed := func(a *istiometrics.Aggregator, rep accesslog.Reporter, times int) {
		for i, b := range bs {
			for k := range b {
				if (b[k].Reporter == accesslog.ReporterSource) == (rep == accesslog.ReporterSource) {
					for range times {
						a.ConsumeRecords(b[k:k+1], nil, ts[i])
					}
				}
			}
		}
	}
	f := &fakeProm{}
	feed(clients, accesslog.ReporterSource, 1) // before the window
	feed(servers, accesslog.ReporterDestination, 3)
	f.scrapeEarlier(t, "meshlens", "a:9102", clients)
	f.scrapeEarlier(t, "meshlens", "b:9102", servers)
	feed(clients, accesslog.ReporterSource, 1) // in the window
	feed(restarted, accesslog.ReporterDestination, 1)
	f.scrape(t, "meshlens", "a:9102", clients)
	f.scrape(t, "meshlens", "b:9102", restarted)
	for i, b := range bs {
		g.ObserveBatch(b, ts[i])
	}

	src, err := NewWithQuery(f.query, "", time.Second)
	require.NoError(t, err)
	o := topology.SnapshotOptions{Granularity: topology.Workload, Windows: windows}
	local, err := g.Snapshot(testNow, o)
	require.NoError(t, err)
	global, err := src.Snapshot(t.Context(), testNow, o)
	require.NoError(t, err)
	assertSameGraph(t, local, global)
}

// TestGlobalCountsOnce pins the numbers the equality rests on: the
// client-only failures towards an unknown reviews workload are an edge to
// the reviews service node (as Kiali draws their series), and productpage →
// details counts the server's 80 requests plus the 5 connection failures
// only the client saw.
func TestGlobalCountsOnce(t *testing.T) {
	_, f := setup(t, func(r *accesslog.Record) string { return r.Reporter.String() })
	src, err := NewWithQuery(f.query, `job="meshlens"`, time.Second)
	require.NoError(t, err)
	snap, err := src.Snapshot(t.Context(), testNow, topology.SnapshotOptions{Granularity: topology.App, Windows: []time.Duration{time.Minute}})
	require.NoError(t, err)
	byID := map[string]topology.EdgeStats{}
	for _, e := range snap.Edges {
		byID[e.Source+" "+e.Target+" "+e.Protocol] = e.Stats[0]
	}
	details := byID["app_east_bookinfo_productpage app_east_bookinfo_details http"]
	assert.InDelta(t, 85, details.Requests, 1e-9)
	assert.InDelta(t, 5, details.ClientOnlyFailures, 1e-9)
	assert.InDelta(t, 25, details.Errors, 1e-9, "20 500s and 5 connection failures")
	assert.InDelta(t, 5, details.ProxyErrors, 1e-9)
	assert.InDelta(t, 80, details.Server.Requests, 1e-9)
	assert.InDelta(t, 85, details.Client.Requests, 1e-9)

	reviews := byID["app_east_bookinfo_productpage app_east_bookinfo_reviews http"]
	assert.InDelta(t, 100, reviews.Requests, 1e-9)
	assert.Zero(t, reviews.ClientOnlyFailures)
	failed := byID["app_east_bookinfo_productpage svc_east_bookinfo_reviews http"]
	assert.InDelta(t, 7, failed.Requests, 1e-9, "the failures that named no reviews workload")
	assert.InDelta(t, 7, failed.ProxyErrors, 1e-9)
	assert.InDelta(t, 1.0/60, details.ClientOnlyFailures/details.Requests*details.RequestRate/5, 1e-9,
		"rates divide by the whole window")
}

// assertSameGraph compares two snapshots: the same nodes and edges, the
// same counts per edge and window (rates times the seconds they divide by),
// and latency loosely: the averages to the microsecond, the quantiles
// within the Istio bucket of the local value (the global graph only knows
// the Istio buckets).
func assertSameGraph(t *testing.T, local, global *topology.Snapshot) {
	t.Helper()
	require.Equal(t, local.Nodes, global.Nodes)
	require.Equal(t, edgeIDs(local), edgeIDs(global))
	require.Len(t, global.Windows, len(local.Windows))
	for i := range local.Edges {
		le, ge := local.Edges[i], global.Edges[i]
		assert.Equal(t, le.SourcePrincipal, ge.SourcePrincipal, le.ID)
		assert.Equal(t, le.DestPrincipal, ge.DestPrincipal, le.ID)
		for w := range le.Stats {
			ls, gs := le.Stats[w], ge.Stats[w]
			assert.Equal(t, counts(ls, local.Windows[w].CoveredSeconds), counts(gs, global.Windows[w].CoveredSeconds), "%s %s", le.ID, ls.Window)
			if ls.Latency == nil {
				assert.Nil(t, gs.Latency, le.ID)
				continue
			}
			require.NotNil(t, gs.Latency, le.ID)
			assert.InDelta(t, ls.Latency.Avg, gs.Latency.Avg, 0.002, "%s avg", le.ID)
			assert.InDelta(t, ls.Latency.Samples, gs.Latency.Samples, 1e-6, le.ID)
			for _, q := range [][2]float64{{ls.Latency.P50, gs.Latency.P50}, {ls.Latency.P95, gs.Latency.P95}, {ls.Latency.P99, gs.Latency.P99}} {
				lo, hi := istioBucket(q[0])
				assert.True(t, q[1] >= lo-1e-9 && q[1] <= hi+1e-9, "%s: global quantile %v outside the Istio bucket (%v, %v] of the local %v", le.ID, q[1], lo, hi, q[0])
			}
		}
	}
}

// istioBucket returns the Istio bucket holding v.
func istioBucket(v float64) (lo, hi float64) {
	for _, b := range istiometrics.DefaultBuckets {
		if v <= b {
			return lo, b
		}
		lo = b
	}
	return lo, math.Inf(1)
}

func edgeIDs(s *topology.Snapshot) []string {
	var ids []string
	for _, e := range s.Edges {
		ids = append(ids, e.ID)
	}
	return ids
}

// edgeCounts are the counts of one edge over one window, rounded to
// absorb the order of float additions.
type edgeCounts struct {
	Requests, Errors, ProxyErrors, AppErrors, NoResponse       float64
	Status3xx, Status4xx, Status5xx, GRPCErrors, ClientOnly    float64
	BytesIn, BytesOut, MessagesIn, MessagesOut, Opened, Closed float64
	ErrorPercent, MTLSPercent                                  float64
	Responses                                                  []topology.Response
	Client, Server                                             [4]float64 // requests, errors, proxy errors, mTLS %
}

func round(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func counts(s topology.EdgeStats, secs float64) edgeCounts {
	c := edgeCounts{
		Requests: round(s.Requests), Errors: round(s.Errors), ProxyErrors: round(s.ProxyErrors), AppErrors: round(s.AppErrors),
		NoResponse: round(s.NoResponse), Status3xx: round(s.Status3xx), Status4xx: round(s.Status4xx), Status5xx: round(s.Status5xx),
		GRPCErrors: round(s.GRPCErrors), ClientOnly: round(s.ClientOnlyFailures),
		BytesIn: round(s.BytesInRate * secs), BytesOut: round(s.BytesOutRate * secs),
		MessagesIn: round(s.MessagesInRate * secs), MessagesOut: round(s.MessagesOutRate * secs),
		Opened: round(s.ConnectionsOpened), Closed: round(s.ConnectionsClosed), ErrorPercent: round(s.ErrorPercent),
	}
	if s.MTLSPercent != nil {
		c.MTLSPercent = round(*s.MTLSPercent)
	}
	for _, r := range s.Responses {
		r.Requests, r.Percent = round(r.Requests), round(r.Percent)
		c.Responses = append(c.Responses, r)
	}
	for i, sd := range []*topology.Side{s.Client, s.Server} {
		if sd == nil {
			continue
		}
		v := [4]float64{round(sd.Requests), round(sd.Errors), round(sd.ProxyErrors), -1}
		if sd.MTLSPercent != nil {
			v[3] = round(*sd.MTLSPercent)
		}
		if i == 0 {
			c.Client = v
		} else {
			c.Server = v
		}
	}
	return c
}

func TestQueries(t *testing.T) {
	sel, err := promql.ParseMatchers(`job="meshlens"`)
	require.NoError(t, err)
	qs := Queries(sel, 90*time.Second)
	require.Len(t, qs, len(specs))
	assert.Equal(t, `sum by (reporter, source_cluster, source_workload_namespace, source_workload, source_canonical_service, `+
		`source_canonical_revision, destination_cluster, destination_workload_namespace, destination_workload, `+
		`destination_canonical_service, destination_canonical_revision, destination_service, destination_service_name, `+
		`destination_service_namespace, request_protocol, response_code, grpc_response_status, response_flags, `+
		`connection_security_policy, source_principal, destination_principal) `+
		`((istio_requests_total{job="meshlens"} - istio_requests_total{job="meshlens"} offset 90000ms) >= 0 `+
		`or istio_requests_total{job="meshlens"})`, qs[0])
	assert.Contains(t, qs[1], `, le) ((istio_request_duration_milliseconds_bucket{job="meshlens"} - `)
	assert.True(t, strings.HasSuffix(Queries(nil, time.Minute)[2],
		`((istio_request_duration_milliseconds_sum{} - istio_request_duration_milliseconds_sum{} offset 60000ms) >= 0 or istio_request_duration_milliseconds_sum{})`))
}

func TestLabelParsing(t *testing.T) {
	tests := []struct {
		flags string
		want  accesslog.ResponseFlags
	}{
		{"-", 0},
		{"", 0},
		{"UF", accesslog.FlagUpstreamConnectionFailure},
		{"UF,URX", accesslog.FlagUpstreamConnectionFailure | accesslog.FlagUpstreamRetryLimitExceeded},
		{"NR", accesslog.FlagNoRouteFound},
		{"XYZ,UF", accesslog.FlagUpstreamConnectionFailure},
	}
	for _, tt := range tests {
		t.Run("flags "+tt.flags, func(t *testing.T) {
			got := parseFlags(tt.flags)
			assert.Equal(t, tt.want, got)
			if tt.want != 0 {
				assert.Equal(t, strings.TrimPrefix(tt.flags, "XYZ,"), got.String(), "round trip")
			}
		})
	}
	for in, want := range map[string]uint32{"0": 0, "": 0, "200": 200, "503": 503, "x": 0} {
		assert.Equal(t, want, parseCode(in), in)
	}
	for in, want := range map[string]int32{"": -1, "0": 0, "14": 14, "-3": -1, "x": -1} {
		assert.Equal(t, want, parseGRPC(in), in)
	}
	for in, want := range map[string]int{"source": 0, "destination": 1, "waypoint": 1, "unknown": -1, "": -1} {
		assert.Equal(t, want, side(in), in)
	}
	for in, want := range map[string]accesslog.Protocol{"http": accesslog.ProtocolHTTP, "grpc": accesslog.ProtocolGRPC, "tcp": accesslog.ProtocolTCP, "": accesslog.ProtocolHTTP} {
		assert.Equal(t, want, parseProtocol(in), in)
	}
}

// TestBuilderIgnores checks what the summing step leaves out.
func TestBuilderIgnores(t *testing.T) {
	b := newBuilder(1)
	b.add(fRequests, 0, []Sample{
		{Metric: map[string]string{"reporter": "unknown", "source_workload": "a"}, Value: 3},
		{Metric: map[string]string{"reporter": "source", "source_workload": "a"}, Value: math.NaN()},
		{Metric: map[string]string{"reporter": "source", "source_workload": "a"}, Value: math.Inf(1)},
	})
	b.add(fBuckets, 0, []Sample{{Metric: map[string]string{"reporter": "source", "source_workload": "a", "le": "bad"}, Value: 1}})
	res := b.result()
	require.Len(t, res, 1, "the bucket sample made the edge")
	assert.Nil(t, res[0].Server)
	assert.Zero(t, res[0].Client[0].Requests)
	assert.Nil(t, res[0].Client[0].DurationBounds)
}

func TestCumulative(t *testing.T) {
	bounds, cum := cumulative(map[float64]float64{5: 3, 0.5: 1, math.Inf(1): 4, 1: 1})
	assert.Equal(t, []float64{0.5, 1, 5}, bounds)
	assert.Equal(t, []float64{1, 1, 3, 4}, cum)
	bounds, cum = cumulative(map[float64]float64{5: 3})
	assert.Equal(t, []float64{5}, bounds)
	assert.Equal(t, []float64{3, 3}, cum, "a missing +Inf bucket is the last count")
}

func TestSnapshotErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		fail    func(ctx context.Context, q string) error
		windows []time.Duration
		want    string
		is      error
	}{
		{
			name: "a failing query fails the snapshot",
			// One query fails (the 1m window's: the queries run
			// concurrently, so only one may fail for the message to be
			// the same every run).
			fail: func(_ context.Context, q string) error {
				if strings.Contains(q, "istio_tcp_sent_bytes_total") && strings.Contains(q, "offset 60000ms") {
					return boom
				}
				return nil
			},
			windows: windows,
			want:    "prometheus query failed: istio_tcp_sent_bytes_total over 1m0s: boom",
			is:      ErrUpstream,
		},
		{
			name: "a slow endpoint times out",
			fail: func(ctx context.Context, _ string) error {
				<-ctx.Done()
				return ctx.Err()
			},
			windows: windows,
			want:    "prometheus query failed: the query endpoint did not answer within 50ms (topology::global::timeout)",
			is:      ErrUpstream,
		},
		{name: "no window", windows: nil, want: "window out of range: the global graph needs a window", is: topology.ErrWindow},
		{name: "sub-millisecond window", windows: []time.Duration{time.Microsecond}, want: "window out of range: 1µs is shorter than a millisecond", is: topology.ErrWindow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeProm{fail: tt.fail}
			src, err := NewWithQuery(f.query, "", 50*time.Millisecond)
			require.NoError(t, err)
			_, err = src.Snapshot(t.Context(), testNow, topology.SnapshotOptions{Windows: tt.windows})
			require.ErrorIs(t, err, tt.is)
			assert.EqualError(t, err, tt.want)
		})
	}
}

// TestFirstErrorCancelsTheRest checks that one failing query stops the
// queries still running and that no more are started.
func TestFirstErrorCancelsTheRest(t *testing.T) {
	var started, canceled atomic.Int32
	q := func(ctx context.Context, query string, _ time.Time) ([]Sample, error) {
		started.Add(1)
		if strings.Contains(query, "istio_requests_total") {
			return nil, errors.New("boom")
		}
		<-ctx.Done()
		canceled.Add(1)
		return nil, ctx.Err()
	}
	_, err := Totals(t.Context(), q, nil, testNow, windows, 4)
	require.EqualError(t, err, "istio_requests_total over 1m0s: boom")
	assert.Equal(t, started.Load()-1, canceled.Load())
	assert.Less(t, int(started.Load()), 2*len(specs), "no query starts after the failure")
}

func TestNewWithQueryBadSelector(t *testing.T) {
	_, err := NewWithQuery(nil, `job=meshlens`, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `selector "job=meshlens"`)
	s, err := NewWithQuery(nil, "", 0)
	require.NoError(t, err)
	assert.Equal(t, topology.DefaultGlobalTimeout, s.timeout)
	s.Close()
}

func TestSpiffe(t *testing.T) {
	assert.True(t, spiffe("spiffe://cluster.local/ns/a/sa/b"))
	assert.False(t, slices.ContainsFunc([]string{"", "unknown", "spiffe:/x"}, spiffe))
}
