package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

var (
	ttProductpage = meshtest.Workload("bookinfo", "productpage-v1", "productpage", "v1")
	ttReviews1    = meshtest.Workload("bookinfo", "reviews-v1", "reviews", "v1")
	ttReviews2    = meshtest.Workload("bookinfo", "reviews-v2", "reviews", "v2")
	ttMongo       = meshtest.Workload("bookinfo", "mongodb-v1", "mongodb", "v1")
	ttReviewsSvc  = meshtest.Service("bookinfo", "reviews")
	ttBounds      = []float64{5, 10, 25}
)

func ok200(n float64) []topology.ResponseTotal {
	return []topology.ResponseTotal{{Code: 200, GRPCStatus: -1, Count: n}}
}

// TestSnapshotFromTotals checks the rules on hand-made totals: client-side
// connection failures to an unknown reviews workload are an edge to the
// reviews service node, each hop counts the server's requests plus the
// client's responses of kinds the server did not report, rates divide by
// the whole window and quantiles come from the buckets given.
func TestSnapshotFromTotals(t *testing.T) {
	uf := accesslog.FlagUpstreamConnectionFailure
	edges := []topology.EdgeTotals{
		{
			Source: ttProductpage, Destination: ttReviews1, Service: ttReviewsSvc, Protocol: accesslog.ProtocolHTTP,
			Client: []topology.Totals{{Requests: 10, Responses: ok200(10), MTLS: 10, DurationBounds: ttBounds, DurationCumulative: []float64{0, 10, 10, 10}, DurationSumMillis: 80}},
			Server: []topology.Totals{{Requests: 10, Responses: ok200(10), MTLS: 10, DurationBounds: ttBounds, DurationCumulative: []float64{10, 10, 10, 10}, DurationSumMillis: 40, BytesIn: 1000, BytesOut: 6000}},
		},
		{
			Source: ttProductpage, Destination: ttReviews2, Service: ttReviewsSvc, Protocol: accesslog.ProtocolHTTP,
			Server: []topology.Totals{{Requests: 30, Responses: ok200(30), DurationBounds: ttBounds, DurationCumulative: []float64{0, 0, 30, 30}, DurationSumMillis: 600}},
		},
		{
			Source: ttProductpage, Destination: meshtest.Unknown, Service: ttReviewsSvc, Protocol: accesslog.ProtocolHTTP,
			Client: []topology.Totals{{Requests: 8, Responses: []topology.ResponseTotal{{Code: 503, GRPCStatus: -1, Flags: uf, Count: 8}}}},
		},
		{
			Source: ttProductpage, Destination: ttMongo, Service: meshtest.Service("bookinfo", "mongodb"), Protocol: accesslog.ProtocolTCP,
			Server: []topology.Totals{{Opened: 2, Closed: 2, BytesIn: 300, BytesOut: 900, MTLS: 2, Responses: []topology.ResponseTotal{{GRPCStatus: -1, Count: 2}}}},
		},
		{ // idle: kept only with IncludeIdle
			Source: ttReviews1, Destination: ttMongo, Service: meshtest.Service("bookinfo", "mongodb"), Protocol: accesslog.ProtocolTCP,
			Server: []topology.Totals{{}},
		},
	}
	snap, err := topology.SnapshotFromTotals(edges, testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}})
	require.NoError(t, err)
	assert.Empty(t, snap.Source, "the caller names the source")
	require.Len(t, snap.Windows, 1)
	assert.InDelta(t, 60, snap.Windows[0].CoveredSeconds, 0)
	got := map[string]topology.EdgeStats{}
	for _, e := range snap.Edges {
		got[e.Source+" → "+e.Target+" "+e.Protocol] = e.Stats[0]
	}
	require.Len(t, got, 4, "%v", got)

	uf8 := got["wl_east_bookinfo_productpage-v1 → svc_east_bookinfo_reviews http"]
	assert.InDelta(t, 8, uf8.Requests, 1e-9)
	assert.InDelta(t, 8, uf8.ProxyErrors, 1e-9)

	r1 := got["wl_east_bookinfo_productpage-v1 → wl_east_bookinfo_reviews-v1 http"]
	assert.InDelta(t, 10, r1.Requests, 1e-9)
	assert.Zero(t, r1.ClientOnlyFailures)
	assert.Zero(t, r1.ProxyErrors)
	assert.InDelta(t, 10.0/60, r1.RequestRate, 1e-9)
	assert.InDelta(t, 1000.0/60, r1.BytesInRate, 1e-9)
	require.NotNil(t, r1.Latency)
	assert.InDelta(t, 7.5, r1.Latency.P50, 1e-9, "the client's histogram: all in (5, 10]")
	assert.InDelta(t, 8, r1.Latency.Avg, 1e-9)
	require.NotNil(t, r1.LatencyOverhead)
	assert.InDelta(t, 5, r1.LatencyOverhead.P50, 1e-9, "client 7.5 − server 2.5")
	require.NotNil(t, r1.MTLSPercent)
	assert.InDelta(t, 100, *r1.MTLSPercent, 1e-9)

	r2 := got["wl_east_bookinfo_productpage-v1 → wl_east_bookinfo_reviews-v2 http"]
	assert.InDelta(t, 30, r2.Requests, 1e-9)
	assert.Nil(t, r2.Client)
	assert.InDelta(t, 17.5, r2.Latency.P50, 1e-9, "no client view: the server's latency")

	tcp := got["wl_east_bookinfo_productpage-v1 → wl_east_bookinfo_mongodb-v1 tcp"]
	assert.InDelta(t, 900.0/60, tcp.BytesOutRate, 1e-9)
	assert.InDelta(t, 2, tcp.ConnectionsOpened, 1e-9)
	require.Len(t, tcp.Responses, 1)
	assert.Equal(t, "-", tcp.Responses[0].Code)

	idle, err := topology.SnapshotFromTotals(edges, testNow, topology.SnapshotOptions{Windows: []time.Duration{time.Minute}, IncludeIdle: true})
	require.NoError(t, err)
	assert.Len(t, idle.Edges, 5)
	assert.Equal(t, 5, idle.Stats.Edges)
	assert.Zero(t, idle.Stats.Records)
}

func TestSnapshotFromTotalsErrors(t *testing.T) {
	one := []topology.Totals{{}}
	tests := []struct {
		name  string
		edges []topology.EdgeTotals
		o     topology.SnapshotOptions
		want  string
	}{
		{"no window", nil, topology.SnapshotOptions{}, "window out of range: totals need their windows"},
		{"negative window", nil, topology.SnapshotOptions{Windows: []time.Duration{-time.Second}}, "window out of range: -1s"},
		{"bad granularity", nil, topology.SnapshotOptions{Granularity: 7, Windows: []time.Duration{time.Minute}}, "invalid granularity 7"},
		{
			"totals per window",
			[]topology.EdgeTotals{{Client: one, Server: []topology.Totals{{}, {}}}},
			topology.SnapshotOptions{Windows: []time.Duration{time.Minute}},
			"edge 0: 1 client and 2 server totals for 1 windows",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := topology.SnapshotFromTotals(tt.edges, testNow, tt.o)
			require.EqualError(t, err, tt.want)
		})
	}
}
