package hubextension

import (
	"github.com/meshlens/meshlens/exporters/completeness"
	"github.com/meshlens/meshlens/topology/api"
)

// proxySource answers GET /api/v1/proxies from the completeness tracker.
type proxySource struct{ c *completeness.Locked }

var _ api.ProxySource = proxySource{}

// Proxies implements api.ProxySource: the workload's proxies, each with its
// state by the alert rule's threshold (completeness.IncompleteBelow).
func (s proxySource) Proxies(q api.ProxyQuery) api.ProxyReport {
	ps := s.c.Of(completeness.Workload{Cluster: q.Cluster, Namespace: q.Namespace, Name: q.Workload})
	rep := api.ProxyReport{IncompleteBelow: completeness.IncompleteBelow, Proxies: make([]api.ProxyTelemetry, 0, len(ps))}
	for i := range ps {
		p := &ps[i]
		t := api.ProxyTelemetry{NodeID: p.NodeID, Cluster: p.Workload.Cluster, Received: p.Received, State: api.ProxyNoCounters}
		if p.HasStats {
			t.State = api.ProxyComplete
			if p.Incomplete() {
				t.State = api.ProxyIncomplete
			}
			t.Envoy = &api.EnvoyCounters{
				Written: p.Written, Dropped: p.Dropped, Received: p.ReceivedSinceStats,
				Missing: p.Missing(), Ratio: p.Ratio(),
			}
		}
		rep.Proxies = append(rep.Proxies, t)
	}
	return rep
}
