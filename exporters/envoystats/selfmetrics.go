package envoystats

import "github.com/prometheus/client_golang/prometheus"

var (
	acceptedDesc = prometheus.NewDesc("meshlens_envoy_stats_samples_accepted_total",
		"Envoy stat samples from the Metrics Service stored for re-export.", nil, nil)
	rejectedDesc = prometheus.NewDesc("meshlens_envoy_stats_samples_rejected_total",
		"Envoy stat samples not re-exported, by reason.", []string{"reason"}, nil)
	seriesDesc = prometheus.NewDesc("meshlens_envoy_stats_series",
		"envoy_* series held.", nil, nil)
	labelBytesDesc = prometheus.NewDesc("meshlens_envoy_stats_label_bytes",
		"Label-set bytes of the envoy_* series held (envoy_stats::max_label_bytes): metric names and labels as each line writes them, and the HELP and TYPE lines.", nil, nil)
	resetsDesc = prometheus.NewDesc("meshlens_envoy_stats_restarts_total",
		"Envoy cumulative stats that went down (the Envoy restarted) and were kept cumulative by an offset.", nil, nil)
)

// SelfMetrics returns the store's own counters (samples accepted and
// rejected by reason, series and their label-set bytes held, restarts) as a Prometheus collector, for
// the registry of whoever holds the Locked store; they are read from Stats
// at scrape time.
func (l *Locked) SelfMetrics() prometheus.Collector { return selfMetrics{l} }

type selfMetrics struct{ l *Locked }

func (selfMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- acceptedDesc
	ch <- rejectedDesc
	ch <- seriesDesc
	ch <- labelBytesDesc
	ch <- resetsDesc
}

func (c selfMetrics) Collect(ch chan<- prometheus.Metric) {
	st := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(acceptedDesc, prometheus.CounterValue, float64(st.Accepted))
	for reason, n := range st.Rejected {
		ch <- prometheus.MustNewConstMetric(rejectedDesc, prometheus.CounterValue, float64(n), reason)
	}
	ch <- prometheus.MustNewConstMetric(seriesDesc, prometheus.GaugeValue, float64(st.Series))
	ch <- prometheus.MustNewConstMetric(labelBytesDesc, prometheus.GaugeValue, float64(st.LabelBytes))
	ch <- prometheus.MustNewConstMetric(resetsDesc, prometheus.CounterValue, float64(st.CounterResets))
}
