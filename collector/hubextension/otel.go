package hubextension

import (
	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/exporters/spans"
)

// Aggregations are the hub's aggregations whose series /metrics serves,
// for readers outside the hub (the meshlens_metrics receiver). Each is
// safe for concurrent use and is read through its own read-only API
// (NewOTelReader), which takes the locks the exposition takes.
type Aggregations struct {
	Istio *istiometrics.Aggregator
	Envoy *envoystats.Locked
	Spans *spans.Locked
}

// Aggregations returns the hub's aggregations.
func (h *Hub) Aggregations() Aggregations {
	a := Aggregations{Istio: h.agg, Envoy: h.envoy}
	for _, g := range h.aggs {
		if s, ok := g.(*spans.Locked); ok {
			a.Spans = s
		}
	}
	return a
}
