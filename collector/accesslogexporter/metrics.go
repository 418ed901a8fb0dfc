package accesslogexporter

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlens/meshlens/accesslog"
)

// Reasons (label values).
const (
	reasonNoReporter  = "no_reporter"  // the resource names no proxy
	reasonMalformed   = "malformed"    // neither the attributes nor the body could be read
	reasonStreamLimit = "stream_limit" // max_streams busy proxies
	reasonSinkError   = "sink_error"
	reasonIdle        = "idle"    // a proxy forgotten after stream_idle_timeout
	reasonEvicted     = "evicted" // a proxy replaced by a new one at max_streams
)

// selfMetrics are the exporter's own metrics, on the hub's registry.
type selfMetrics struct {
	reg       prometheus.Registerer
	received  prometheus.Counter
	processed prometheus.Counter
	rejected  *prometheus.CounterVec
	dropped   *prometheus.CounterVec
	evicted   *prometheus.CounterVec
	streams   prometheus.GaugeFunc
	// What the normaliser did to the values of the records it took, as the
	// envoyals receiver counts them (labels: field, label, reason).
	clamped   *prometheus.CounterVec
	truncated *prometheus.CounterVec
	resets    *prometheus.CounterVec
	all       []prometheus.Collector
}

func newSelfMetrics(reg prometheus.Registerer, streams func() float64) (*selfMetrics, error) {
	m := &selfMetrics{
		reg: reg,
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_accesslogs_entries_received_total", Help: "Access-log entries received as OpenTelemetry log records.",
		}),
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_accesslogs_entries_processed_total", Help: "Log-record entries normalised and taken by the hub.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_accesslogs_entries_rejected_total", Help: "Log-record entries rejected, by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_accesslogs_entries_dropped_total", Help: "Log-record entries dropped, by reason.",
		}, []string{"reason"}),
		evicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_accesslogs_streams_removed_total", Help: "Reporting proxies forgotten, by reason (idle, evicted).",
		}, []string{"reason"}),
		streams: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_accesslogs_streams", Help: "Reporting proxies tracked, each with its normaliser.",
		}, streams),
	}
	m.clamped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshlens_accesslogs_values_clamped_total", Help: "Log-record entries whose duration, bytes or messages were beyond the plausibility bounds, clamped (still processed).",
	}, []string{"field"})
	m.truncated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshlens_accesslogs_label_values_truncated_total", Help: "Label values of log-record entries cut to normalizer::max_label_length, by the field they came from.",
	}, []string{"label"})
	m.resets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meshlens_accesslogs_intern_table_resets_total", Help: "Per-proxy label tables cleared, by the bound reached.",
	}, []string{"reason"})
	for f := range accesslog.NumClampFields {
		m.clamped.WithLabelValues(f.String())
	}
	for f := range accesslog.NumLabelFields {
		m.truncated.WithLabelValues(f.String())
	}
	for r := range accesslog.NumResetReasons {
		m.resets.WithLabelValues(r.String())
	}
	for _, r := range []string{reasonNoReporter, reasonMalformed} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range accesslog.RejectReasons() {
		m.rejected.WithLabelValues(r.String())
	}
	for _, r := range []string{reasonStreamLimit, reasonSinkError} {
		m.dropped.WithLabelValues(r)
	}
	for _, r := range []string{reasonIdle, reasonEvicted} {
		m.evicted.WithLabelValues(r)
	}
	m.all = []prometheus.Collector{m.received, m.processed, m.rejected, m.dropped, m.evicted, m.streams, m.clamped, m.truncated, m.resets}
	var errs error
	for i, c := range m.all {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all[:i] {
				reg.Unregister(done)
			}
			return nil, errors.Join(errs, err)
		}
	}
	return m, nil
}

// count adds the normaliser's rejections.
func (m *selfMetrics) count(out *accesslog.Outcome) {
	for r, n := range out.Rejected {
		if n > 0 {
			m.rejected.WithLabelValues(accesslog.RejectReason(r).String()).Add(float64(n)) //nolint:gosec // an index of the reasons
		}
	}
}

// normalised counts what the normaliser of a stream did to a batch's
// values: its counters after the batch against before.
func (m *selfMetrics) normalised(st *accesslog.Stream, truncated accesslog.Truncations, clamped [accesslog.NumClampFields]int, resets [accesslog.NumResetReasons]int) {
	for f, n := range st.LabelsTruncated {
		if d := n - truncated[f]; d > 0 {
			m.truncated.WithLabelValues(accesslog.LabelField(f).String()).Add(float64(d))
		}
	}
	for f, n := range st.Clamped {
		if d := n - clamped[f]; d > 0 {
			m.clamped.WithLabelValues(accesslog.ClampField(f).String()).Add(float64(d))
		}
	}
	for r, n := range st.InternResets {
		if d := n - resets[r]; d > 0 {
			m.resets.WithLabelValues(accesslog.ResetReason(r).String()).Add(float64(d))
		}
	}
}

func (m *selfMetrics) unregister() {
	for _, c := range m.all {
		m.reg.Unregister(c)
	}
}
