package istiometrics

import "github.com/meshlens/meshlens/accesslog"

// Metric names, as Istio exports them.
const (
	RequestsTotal        = "istio_requests_total"
	RequestDuration      = "istio_request_duration_milliseconds"
	RequestBytes         = "istio_request_bytes"
	ResponseBytes        = "istio_response_bytes"
	RequestMessages      = "istio_request_messages_total"
	ResponseMessages     = "istio_response_messages_total"
	TCPConnectionsOpened = "istio_tcp_connections_opened_total"
	TCPConnectionsClosed = "istio_tcp_connections_closed_total"
	TCPSentBytes         = "istio_tcp_sent_bytes_total"
	TCPReceivedBytes     = "istio_tcp_received_bytes_total"
)

var help = map[string]string{
	RequestsTotal:        "Requests, by reporter, source, destination and outcome (Istio standard metric).",
	RequestDuration:      "Request duration in milliseconds (Istio standard metric).",
	RequestBytes:         "Request size in downstream wire bytes (Istio standard metric).",
	ResponseBytes:        "Response size in downstream wire bytes (Istio standard metric).",
	RequestMessages:      "gRPC request messages (Istio standard metric).",
	ResponseMessages:     "gRPC response messages (Istio standard metric).",
	TCPConnectionsOpened: "TCP connections opened (Istio standard metric).",
	TCPConnectionsClosed: "TCP connections closed (Istio standard metric).",
	TCPSentBytes:         "Bytes sent to the client on TCP connections (Istio standard metric).",
	TCPReceivedBytes:     "Bytes received from the client on TCP connections (Istio standard metric).",
}

// HTTPLabels are the 25 labels of the HTTP/gRPC metrics, in Istio's order.
var HTTPLabels = []string{
	"reporter",
	"source_workload", "source_canonical_service", "source_canonical_revision", "source_workload_namespace",
	"source_principal", "source_app", "source_version", "source_cluster",
	"destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
	"destination_version", "destination_service", "destination_canonical_service", "destination_canonical_revision",
	"destination_service_name", "destination_service_namespace", "destination_cluster",
	"request_protocol", "response_code", "grpc_response_status", "response_flags", "connection_security_policy",
}

// TCPLabels are the 23 labels of the TCP metrics, in Istio's order.
var TCPLabels = append(append(append([]string{}, HTTPLabels[:20]...), "request_protocol"), "response_flags", "connection_security_policy")

// values appends the label values of l in HTTPLabels (tcp=false) or
// TCPLabels (tcp=true) order.
func (l *labels) values(dst []string, tcp bool) []string {
	dst = append(dst, l.reporter.String(),
		l.src.Name, l.src.CanonicalService, l.src.CanonicalRevision, l.src.Namespace,
		l.src.Principal, l.src.App, l.src.Version, l.src.Cluster,
		l.dst.Name, l.dst.Namespace, l.dst.Principal, l.dst.App,
		l.dst.Version, l.svc.Host, l.dst.CanonicalService, l.dst.CanonicalRevision,
		l.svc.Name, l.svc.Namespace, l.dst.Cluster,
		l.protocol.String())
	if !tcp {
		r := accesslog.Record{ResponseCode: l.code, GRPCStatus: l.grpc}
		dst = append(dst, r.ResponseCodeLabel(), r.GRPCStatusLabel())
	}
	flags := l.flags.String()
	if l.over {
		flags = overflow
	}
	return append(dst, flags, l.security.String())
}

// each calls f with the name and value of every label the series of l
// carries, in HTTPLabels (tcp=false) or TCPLabels (tcp=true) order: the
// labels the overrides removed are left out.
func (l *labels) each(tcp bool, f func(name, value string)) {
	names := HTTPLabels
	if tcp {
		names = TCPLabels
	}
	var buf [numLabels]string
	for i, v := range l.values(buf[:0], tcp) {
		if l.has(i, tcp) {
			f(names[i], v)
		}
	}
}

// has reports whether the series of l carries the label of index j in
// HTTPLabels (tcp=false) or TCPLabels (tcp=true): every reader of the
// series (WriteText, Collector, OTelReader through the label block) leaves
// out the labels the overrides removed.
func (l *labels) has(j int, tcp bool) bool {
	if tcp {
		j = tcpLabelIndex(j)
	}
	return !l.removed.has(j)
}

// enabled reports whether metric m is exposed for l's series.
func (a *Aggregator) enabled(m metric, l *labels) bool {
	return !a.plan.off[m][side(l.reporter)]
}

// enabledBits returns the bits of the metrics from..to that are on for k
// (what a reader of the series emits of a label set).
func (a *Aggregator) enabledBits(k *labels, from, to metric) uint16 {
	var on uint16
	for m := from; m <= to; m++ {
		if a.enabled(m, k) {
			on |= 1 << m
		}
	}
	return on
}
