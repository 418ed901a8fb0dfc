package istiometrics

import "github.com/prometheus/client_golang/prometheus"

// SelfMetrics returns the aggregation's own metrics (series and their
// label-set bytes held, records overflowed and series expired, by family), read from Stats at scrape time, for
// the registry of whoever holds the Aggregator.
func (a *Aggregator) SelfMetrics() []prometheus.Collector {
	stats := func(get func(Stats) float64) func() float64 {
		return func() float64 { return get(a.Stats()) }
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_active", Help: "Istio series held, by family.", ConstLabels: prometheus.Labels{"family": "http"},
		}, stats(func(s Stats) float64 { return float64(s.HTTPSeries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_active", Help: "Istio series held, by family.", ConstLabels: prometheus.Labels{"family": "tcp"},
		}, stats(func(s Stats) float64 { return float64(s.TCPSeries) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_label_bytes", Help: "Label-set bytes of the Istio series held (max_label_bytes), by family.", ConstLabels: prometheus.Labels{"family": "http"},
		}, stats(func(s Stats) float64 { return float64(s.HTTPBytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_series_label_bytes", Help: "Label-set bytes of the Istio series held (max_label_bytes), by family.", ConstLabels: prometheus.Labels{"family": "tcp"},
		}, stats(func(s Stats) float64 { return float64(s.TCPBytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_overflow_total", Help: "Records aggregated into an overflow series because the family's max_series or max_label_bytes budget was spent.",
			ConstLabels: prometheus.Labels{"family": "http"},
		}, stats(func(s Stats) float64 { return float64(s.OverflowHTTP) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_overflow_total", Help: "Records aggregated into an overflow series because the family's max_series or max_label_bytes budget was spent.",
			ConstLabels: prometheus.Labels{"family": "tcp"},
		}, stats(func(s Stats) float64 { return float64(s.OverflowTCP) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_series_expired_total", Help: "Istio series removed after series_ttl without records.",
		}, stats(func(s Stats) float64 { return float64(s.Expired) })),
	}
}
