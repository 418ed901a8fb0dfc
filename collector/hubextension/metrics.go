package hubextension

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/meshlens/meshlens/exporters/istiometrics"
)

var (
	formatText = expfmt.NewFormat(expfmt.TypeTextPlain)
	formatOM   = expfmt.NewFormat(expfmt.TypeOpenMetrics)
)

// serveMetrics writes the hub's own registry (process, receiver, hub and
// Envoy stats) with client_golang's encoder and the Istio series with the
// aggregator's direct writer, in the format the scraper asked for
// (OpenMetrics carries exemplars).
func (h *Hub) serveMetrics(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, formatOM, formatText)
	om := format.FormatType() == expfmt.TypeOpenMetrics
	if !om {
		format = formatText
	}
	fams, err := h.reg.Gather()
	if err != nil && len(fams) == 0 {
		http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", string(format))
	enc := expfmt.NewEncoder(w, format)
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			return
		}
	}
	f := istiometrics.FormatText
	if om {
		f = istiometrics.FormatOpenMetrics
	}
	if err := h.agg.WriteText(w, f); err != nil {
		return
	}
	if om {
		_, _ = expfmt.FinalizeOpenMetrics(w)
	}
}

// registerSelfMetrics registers the aggregations' own metrics and the
// API's, which the hub owns.
func (h *Hub) registerSelfMetrics() {
	h.reg.MustRegister(h.agg.SelfMetrics()...)
	h.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_api_bad_requests_total", Help: "Graph API requests answered 400: bad or over-limit query parameters.",
		}, func() float64 { return float64(h.graph.BadQueries()) }),
	)
}
