package hubextension

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/meshlens/meshlens/exporters/envoystats"
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

// hubMetrics are the hub's own metrics about its aggregations.
func (h *Hub) registerSelfMetrics() {
	stats := func(get func(istiometrics.Stats) float64) func() float64 {
		return func() float64 { return get(h.agg.Stats()) }
	}
	h.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_active", Help: "Istio series held, by family.", ConstLabels: prometheus.Labels{"family": "http"},
		}, stats(func(s istiometrics.Stats) float64 { return float64(s.HTTPSeries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_active", Help: "Istio series held, by family.", ConstLabels: prometheus.Labels{"family": "tcp"},
		}, stats(func(s istiometrics.Stats) float64 { return float64(s.TCPSeries) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_overflow_total", Help: "Records aggregated into an overflow series because the family's max_series budget was spent.",
			ConstLabels: prometheus.Labels{"family": "http"},
		}, stats(func(s istiometrics.Stats) float64 { return float64(s.OverflowHTTP) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_overflow_total", Help: "Records aggregated into an overflow series because the family's max_series budget was spent.",
			ConstLabels: prometheus.Labels{"family": "tcp"},
		}, stats(func(s istiometrics.Stats) float64 { return float64(s.OverflowTCP) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_expired_total", Help: "Istio series removed after series_ttl without records.",
		}, stats(func(s istiometrics.Stats) float64 { return float64(s.Expired) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_join_joined_total", Help: "Request hops whose client-side and server-side reports were joined.",
		}, func() float64 { j, _, _ := h.join.stats(); return float64(j) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_join_overflow_total", Help: "Request hops not remembered for joining because join.max_pending was reached.",
		}, func() float64 { _, o, _ := h.join.stats(); return float64(o) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_join_pending", Help: "Request hops seen from one side, waiting for the other.",
		}, func() float64 { _, _, p := h.join.stats(); return float64(p) }),
	)
}

// envoyStatsCollector exports the Envoy stats store's own counters.
type envoyStatsCollector struct{ s *envoystats.Locked }

var (
	envoyAcceptedDesc = prometheus.NewDesc("meshlens_envoy_stats_samples_accepted_total",
		"Envoy stat samples from the Metrics Service stored for re-export.", nil, nil)
	envoyRejectedDesc = prometheus.NewDesc("meshlens_envoy_stats_samples_rejected_total",
		"Envoy stat samples not re-exported, by reason.", []string{"reason"}, nil)
	envoySeriesDesc = prometheus.NewDesc("meshlens_envoy_stats_series",
		"envoy_* series held.", nil, nil)
	envoyResetsDesc = prometheus.NewDesc("meshlens_envoy_stats_restarts_total",
		"Envoy cumulative stats that went down (the Envoy restarted) and were kept cumulative by an offset.", nil, nil)
)

func (c envoyStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- envoyAcceptedDesc
	ch <- envoyRejectedDesc
	ch <- envoySeriesDesc
	ch <- envoyResetsDesc
}

func (c envoyStatsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(envoyAcceptedDesc, prometheus.CounterValue, float64(st.Accepted))
	for reason, n := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(envoyRejectedDesc, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(envoySeriesDesc, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(envoyResetsDesc, prometheus.CounterValue, float64(st.CounterResets))
}
