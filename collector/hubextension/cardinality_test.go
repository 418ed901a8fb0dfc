package hubextension

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
)

// TestCardinalityAttack floods the hub with records whose workloads,
// services, paths and response codes are all distinct: the series, the
// graph stay within their budgets, and the overflow is
// counted, not lost.
func TestCardinalityAttack(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.MaxSeries = 1000
	cfg.Topology.MaxEdges = 500
	cfg.Topology.MaxNodes = 500
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), func() time.Time { return time.Unix(1_800_000_000, 0) })
	require.NoError(t, err)
	const n = 100_000
	batch := make([]accesslog.Record, 0, 100)
	for i := range n {
		id := strconv.Itoa(i)
		w := accesslog.Workload{Name: "w" + id, Namespace: "ns" + id, CanonicalService: "s" + id, CanonicalRevision: "v", App: "a", Version: "v", Cluster: "c", Principal: "unknown"}
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: w, Service: accesslog.Service{Host: "h" + id, Name: "h" + id, Namespace: "ns" + id},
			ResponseCode: uint32(100 + i%900), GRPCStatus: -1, Final: true, DurationNanos: 1e6,
		}
		r.Details.RequestID = []byte(id)
		r.Details.PeerAddress, r.Details.PeerPort = []byte("10.0.0.1"), 80
		r.Details.Path = []byte("/p/" + id)
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), batch))
			batch = batch[:0]
		}
	}
	st := h.agg.Stats()
	assert.Equal(t, int64(1000), st.HTTPSeries, "series stop at max_series")
	assert.Equal(t, uint64(n-1000), st.OverflowHTTP, "every record over the budget is counted")
	gs := h.graph.Stats()
	assert.Positive(t, gs.EdgesOverflow+gs.NodesOverflow, "the graph stops at max_nodes / max_edges")
	assert.LessOrEqual(t, gs.Edges, 500)
	assert.LessOrEqual(t, gs.Nodes, 500)
	// Every request is still counted in the Istio totals (overflow series
	// keep reporter and status), so rates stay right in aggregate.
	fams, err := gatherIstio(h)
	require.NoError(t, err)
	assert.InDelta(t, float64(n), fams, 0)
}

// gatherIstio sums istio_requests_total over every series.
func gatherIstio(h *Hub) (float64, error) {
	reg := newRegistryWith(h.agg.Collector())
	fams, err := reg.Gather()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, f := range fams {
		if f.GetName() == "istio_requests_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}
