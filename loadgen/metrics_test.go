package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMetricsStreamsFollowTraffic(t *testing.T) {
	tr := bookinfoTraffic(t, GenConfig{Seed: 17, Requests: 4000, Interval: 4 * time.Millisecond, MetricsInterval: 5 * time.Second})
	require.Len(t, tr.Metrics, len(Bookinfo().Workloads)+1)
	var msgs int64
	for _, ms := range tr.Metrics {
		decoded, err := ms.Decode()
		require.NoError(t, err)
		msgs += int64(len(decoded))
		prev := map[string]float64{}
		var last float64
		for i, m := range decoded {
			require.NoError(t, m.ValidateAll())
			if i == 0 {
				require.NotNil(t, m.Identifier)
				assert.Equal(t, ms.NodeID, m.Identifier.Node.Id)
			} else {
				require.Nil(t, m.Identifier)
			}
			for _, f := range m.EnvoyMetrics {
				require.Len(t, f.Metric, 1)
				assert.Equal(t, tr.Start.Add(time.Duration(i+1)*5*time.Second).UnixMilli(), f.Metric[0].GetTimestampMs())
				if f.Metric[0].Counter != nil {
					v := f.Metric[0].Counter.GetValue()
					assert.GreaterOrEqual(t, v, prev[f.GetName()], "counter %s is cumulative", f.GetName())
					prev[f.GetName()] = v
				} else {
					assert.GreaterOrEqual(t, f.Metric[0].Gauge.GetValue(), 0.0, f.GetName())
				}
			}
			last = float64(i)
		}
		assert.Positive(t, last, "several flushes")
	}
	assert.Equal(t, tr.Ledger.MetricsMessages, msgs)

	// The last flush of productpage's sidecars counts every reviews request
	// they sent (ledger: reporter source, productpage-v1 → any, all codes
	// except the external calls).
	final := func(node, name string) float64 {
		for _, ms := range tr.Metrics {
			if ms.NodeID != node {
				continue
			}
			d, err := ms.Decode()
			require.NoError(t, err)
			for _, f := range d[len(d)-1].EnvoyMetrics {
				if f.GetName() == name {
					if f.Metric[0].Counter != nil {
						return f.Metric[0].Counter.GetValue()
					}
					return f.Metric[0].Gauge.GetValue()
				}
			}
		}
		return 0
	}
	var reviews float64
	var ratingsInbound2xx float64
	for k, v := range tr.Ledger.Requests {
		if k.Reporter == ReporterSource && k.Source == "productpage-v1" &&
			(k.Destination == "reviews-v1" || k.Destination == "reviews-v2" || k.Destination == "reviews-v3") {
			reviews += float64(v.Count)
		}
		if k.Reporter == ReporterDestination && k.Destination == "ratings-v1" && k.ResponseCode[0] == '2' {
			ratingsInbound2xx += float64(v.Count)
		}
	}
	var got float64
	var failures float64
	for _, w := range Bookinfo().Workloads {
		if w.Name != "productpage-v1" {
			continue
		}
		for _, p := range w.Pods {
			node := "sidecar~" + p.IP + "~" + p.Name + ".default~default.svc.cluster.local"
			got += final(node, "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total")
			failures += final(node, "cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_retry_limit_exceeded")
		}
	}
	assert.InDelta(t, reviews+failures, got, 0, "upstream_rq_total = delivered + connection failures")
	rp := Bookinfo().Workloads[6].Pods[0]
	assert.InDelta(t, ratingsInbound2xx, final("sidecar~"+rp.IP+"~"+rp.Name+".default~default.svc.cluster.local", "http.inbound_0.0.0.0_9080.downstream_rq_2xx"), 0)
	assert.InDelta(t, 1.0, final(tr.Metrics[0].NodeID, "server.live"), 0)
}
