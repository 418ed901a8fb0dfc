package alsreceiver

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlens/meshlens/accesslog"
)

// Stream end reasons and message reject reasons (label values).
const (
	reasonMalformed    = "malformed"
	reasonNoIdentifier = "no_identifier"
	reasonBadIdent     = "bad_identifier"
	reasonTooLarge     = "too_large"
	reasonV2           = "v2_api"
	reasonStreamLimit  = "stream_limit"
	reasonMemoryLimit  = "memory_limit"
	reasonSinkError    = "sink_error"
	// reasonIdentityMismatch: the node identity is not the workload of the
	// client certificate (bind_spiffe_identity).
	reasonIdentityMismatch = "identity_mismatch"
	endClean               = "eof"
	endAborted             = "aborted"
	endRejected            = "rejected"

	serviceALS     = "als"
	serviceMetrics = "metrics"
)

// selfMetrics are the receiver's own metrics. They are registered on the
// hub's registry; nothing is global.
type selfMetrics struct {
	reg prometheus.Registerer

	messages         *prometheus.CounterVec // {service}
	messagesRejected *prometheus.CounterVec // {service, reason}
	bytes            *prometheus.CounterVec // {service}
	received         prometheus.Counter
	processed        prometheus.Counter
	rejected         *prometheus.CounterVec // {reason}
	dropped          *prometheus.CounterVec // {reason}
	identity         *prometheus.CounterVec // {side, source}
	streams          *prometheus.CounterVec // {service}
	streamsEnded     *prometheus.CounterVec // {service, reason}
	activeStreams    *prometheus.GaugeVec   // {service}
	internResets     *prometheus.CounterVec // {reason}
	labelsTruncated  *prometheus.CounterVec // {label}
	clamped          *prometheus.CounterVec // {field}
	tcpTracked       prometheus.GaugeFunc
	tcpUntracked     prometheus.CounterFunc
	metricFamilies   prometheus.Counter
	batchSeconds     prometheus.Histogram
	// tlsHandshakeFailures counts connections whose TLS handshake failed.
	tlsHandshakeFailures prometheus.Counter
	// connsEnded counts connections the event loops ended, by reason (an
	// HTTP/2 error code answered with GOAWAY, or idle).
	connsEnded *prometheus.CounterVec
	// receiving is the bytes of messages being received (guard.go).
	receiving prometheus.GaugeFunc

	// Pre-resolved children for the per-message path.
	alsMessages, alsBytes    prometheus.Counter
	rejectedBy               []prometheus.Counter
	identitySrc, identityDst []prometheus.Counter
	clampedBy                [accesslog.NumClampFields]prometheus.Counter
	rejectedIdentity         prometheus.Counter
	internResetsBy           [accesslog.NumResetReasons]prometheus.Counter
	truncatedBy              [accesslog.NumLabelFields]prometheus.Counter
}

var rejectReasons = accesslog.RejectReasons()

// batchBuckets resolve a batch's processing time below a millisecond.
var batchBuckets = []float64{25e-6, 50e-6, 100e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1}

func newSelfMetrics(reg prometheus.Registerer, tcpLen, tcpUntracked, receiving func() float64) (*selfMetrics, error) {
	m := &selfMetrics{
		reg: reg,
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_messages_total", Help: "gRPC messages received, by service (als, metrics).",
		}, []string{"service"}),
		messagesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_messages_rejected_total", Help: "Messages rejected whole, by service and reason.",
		}, []string{"service", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_bytes_total", Help: "Bytes of gRPC messages received, by service.",
		}, []string{"service"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_receiver_entries_received_total", Help: "Access log entries received in well-formed messages.",
		}),
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_receiver_entries_processed_total", Help: "Access log entries normalised and handed to the hub.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_entries_rejected_total", Help: "Access log entries rejected, by reason.",
		}, []string{"reason"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_entries_dropped_total", Help: "Normalised entries the hub could not take, by reason.",
		}, []string{"reason"}),
		identity: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_identity_source_total",
			Help: "Records by where each side's identity came from (side: source, destination).",
		}, []string{"side", "source"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_streams_total", Help: "gRPC streams opened, by service.",
		}, []string{"service"}),
		streamsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_streams_ended_total", Help: "gRPC streams ended, by service and reason.",
		}, []string{"service", "reason"}),
		activeStreams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshlens_receiver_active_streams", Help: "gRPC streams open now, by service.",
		}, []string{"service"}),
		internResets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_intern_table_resets_total",
			Help: "Times a stream's label string table was full and cleared, by the bound reached (max_interned_strings, max_interned_bytes).",
		}, []string{"reason"}),
		clamped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_values_clamped_total",
			Help: "Entries whose duration, bytes or gRPC message counts were beyond what Envoy can report, clamped to the plausibility bound, by field.",
		}, []string{"field"}),
		labelsTruncated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_label_values_truncated_total",
			Help: "Label values (from entries or node metadata) longer than normalizer.max_label_length, cut to it, by the field they came from.",
		}, []string{"label"}),
		tcpUntracked: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_receiver_tcp_connections_untracked_total",
			Help: "TCP connections not tracked because max_tcp_connections was reached (their periodic entries count their full cumulative bytes).",
		}, tcpUntracked),
		tcpTracked: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_receiver_tcp_connections_tracked", Help: "Open TCP connections tracked for byte deltas.",
		}, tcpLen),
		metricFamilies: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_receiver_envoy_metric_families_total", Help: "Metric families received over the Metrics Service.",
		}),
		tlsHandshakeFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_receiver_tls_handshake_failures_total",
			Help: "Connections to the gRPC port whose TLS handshake failed (no or untrusted client certificate, not TLS, bad version).",
		}),
		connsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_receiver_connections_ended_total",
			Help: "Connections the event loops (event_loop) ended: an HTTP/2 connection error answered with GOAWAY (reason: its error code), or idle.",
		}, []string{"reason"}),
		receiving: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meshlens_receiver_receiving_bytes",
			Help: "Bytes of gRPC messages being received (first byte arrived, last not yet), all streams; bounded by receive_budget_mib.",
		}, receiving),
		batchSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "meshlens_receiver_batch_duration_seconds",
			Help:    "Time from a message's arrival to its entries being aggregated (decode, normalise, metrics, graph).",
			Buckets: batchBuckets,
		}),
	}
	for _, c := range []prometheus.Collector{
		m.messages, m.messagesRejected, m.bytes, m.received, m.processed, m.rejected, m.dropped, m.identity,
		m.streams, m.streamsEnded, m.activeStreams, m.internResets, m.labelsTruncated, m.clamped, m.tcpTracked, m.tcpUntracked, m.metricFamilies, m.batchSeconds,
		m.tlsHandshakeFailures, m.receiving, m.connsEnded,
	} {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, err
		}
	}
	m.alsMessages = m.messages.WithLabelValues(serviceALS)
	m.alsBytes = m.bytes.WithLabelValues(serviceALS)
	m.messages.WithLabelValues(serviceMetrics)
	for f := range m.clampedBy {
		m.clampedBy[f] = m.clamped.WithLabelValues(accesslog.ClampField(f).String())
	}
	for r := range m.internResetsBy {
		m.internResetsBy[r] = m.internResets.WithLabelValues(accesslog.ResetReason(r).String())
	}
	for f := range m.truncatedBy {
		m.truncatedBy[f] = m.labelsTruncated.WithLabelValues(accesslog.LabelField(f).String())
	}
	for _, r := range rejectReasons {
		m.rejectedBy = append(m.rejectedBy, m.rejected.WithLabelValues(r.String()))
	}
	for _, s := range accesslog.IdentitySources() {
		m.identitySrc = append(m.identitySrc, m.identity.WithLabelValues("source", s.String()))
		m.identityDst = append(m.identityDst, m.identity.WithLabelValues("destination", s.String()))
	}
	m.rejectedIdentity = m.rejected.WithLabelValues(reasonIdentityMismatch)
	for _, r := range []string{reasonSinkError, reasonMemoryLimit} {
		m.dropped.WithLabelValues(r)
	}
	for _, svc := range []string{serviceALS, serviceMetrics} {
		m.activeStreams.WithLabelValues(svc)
		m.streams.WithLabelValues(svc)
		for _, r := range []string{reasonMalformed, reasonTooLarge, reasonNoIdentifier, reasonBadIdent, reasonIdentityMismatch} {
			m.messagesRejected.WithLabelValues(svc, r)
		}
	}
	return m, nil
}

// addTruncated counts the label values cut since before, by field.
func (m *selfMetrics) addTruncated(now, before accesslog.Truncations) {
	for f, n := range now {
		if d := n - before[f]; d > 0 {
			m.truncatedBy[f].Add(float64(d))
		}
	}
}

// addResets counts a stream's intern table resets, by reason.
func (m *selfMetrics) addResets(resets [accesslog.NumResetReasons]int) {
	for r, n := range resets {
		if n > 0 {
			m.internResetsBy[r].Add(float64(n))
		}
	}
}

func (m *selfMetrics) unregister() {
	for _, c := range []prometheus.Collector{
		m.messages, m.messagesRejected, m.bytes, m.received, m.processed, m.rejected, m.dropped, m.identity,
		m.streams, m.streamsEnded, m.activeStreams, m.internResets, m.labelsTruncated, m.clamped, m.tcpTracked, m.tcpUntracked, m.metricFamilies, m.batchSeconds,
		m.tlsHandshakeFailures, m.receiving, m.connsEnded,
	} {
		m.reg.Unregister(c)
	}
}
