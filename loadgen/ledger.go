package loadgen

import "maps"

// Reporter is Istio's reporter label: which proxy wrote the entry.
type Reporter string

// Reporters.
const (
	// ReporterSource is the caller's sidecar or a gateway (client entries).
	ReporterSource Reporter = "source"
	// ReporterDestination is the callee's sidecar (server entries).
	ReporterDestination Reporter = "destination"
)

// Unknown is the workload name the ledger records for a peer the entry does
// not identify.
const Unknown = "unknown"

// RequestKey identifies one istio_requests_total series (reduced to the labels
// the ledger tracks).
type RequestKey struct {
	Reporter    Reporter
	Source      string // source workload
	Destination string // destination workload
	// ResponseCode is the HTTP status as a decimal string, "0" when the entry
	// has no response code.
	ResponseCode string
}

// RequestTotals accumulates HTTP and gRPC requests of one RequestKey.
type RequestTotals struct {
	Count int64
	// DurationNanos is the exact sum of the encoded durations.
	DurationNanos int64
	// DurationMs is the sum of float64(duration in ns)/1e6, accumulated per
	// generation chunk in call order, chunks added in order (a recount in
	// another order may differ in the last bits; compare with a tolerance or
	// use DurationNanos).
	DurationMs float64
	// RequestBytes and ResponseBytes sum downstream_wire_bytes_received and
	// downstream_wire_bytes_sent (istio_request_bytes / istio_response_bytes).
	RequestBytes  uint64
	ResponseBytes uint64
}

// PairKey identifies a (reporter, source workload, destination workload)
// series without response labels.
type PairKey struct {
	Reporter    Reporter
	Source      string
	Destination string
}

// TCPTotals accumulates the TCP series of one PairKey. Bytes are final
// cumulative values of each connection (downstream wire bytes: Received =
// client→server, Sent = server→client), so they equal the sum of the deltas a
// consumer derives from periodic entries.
type TCPTotals struct {
	Opened        int64
	Closed        int64
	SentBytes     uint64
	ReceivedBytes uint64
}

// GRPCTotals accumulates gRPC message counts (grpc_stats filter state) of one
// PairKey.
type GRPCTotals struct {
	RequestMessages  uint64
	ResponseMessages uint64
}

// GRPCStatusKey counts gRPC requests by the status an Istio consumer derives
// (grpc-status trailer, else header, else mapped from the HTTP code).
type GRPCStatusKey struct {
	Reporter    Reporter
	Source      string
	Destination string
	Status      string
}

// Ledger records what a generator produced, as the Istio standard metrics a
// correct consumer of the entries must derive from them.
//
// Rules (the consumer is assumed to use only the entries themselves: node
// metadata and peer filter state, no IP-to-pod lookup):
//
//   - Every HTTP/gRPC request yields one client entry (Reporter "source",
//     written by the caller's sidecar or by the gateway) and, if it reached
//     the server, one server entry (Reporter "destination", written by the
//     callee's sidecar). A request to a service outside the mesh and a
//     client-side connection failure have no server entry. Gateways are only
//     ever "source".
//   - The local workload of an entry is the writer's WORKLOAD_NAME; the peer
//     workload is the "workload" key of the peer filter state
//     (upstream_peer on client entries, downstream_peer on server entries),
//     or "unknown" when the entry carries no peer object. There is no peer
//     object when the destination is outside the mesh, when the client's
//     connection attempt failed (UF: no response, so no metadata exchange —
//     the intended server pod only appears as upstream_remote_address), and
//     for plaintext TCP (Istio exchanges TCP peer metadata only over mTLS),
//     on both sides.
//   - ResponseCode is response.response_code, "0" when absent. A gRPC
//     connection failure gets Envoy's gRPC local reply: HTTP 200 with
//     grpc-status 14 in the response headers, so its ResponseCode is "200"
//     and its GRPCStatus "14".
//   - Durations are the entries' duration field (client ≥ server for the same
//     request).
//   - TCP: each connection counts once as opened and once as closed per
//     reporter, whether or not periodic entries were written; periodic
//     entries (access_log_type TcpPeriodic) carry cumulative bytes and the
//     final TcpConnectionEnd entry the totals recorded here.
//   - Entries counts every entry written (HTTP, TCP, periodic); Messages every
//     StreamAccessLogsMessage.
type Ledger struct {
	Requests     map[RequestKey]RequestTotals
	GRPCStatuses map[GRPCStatusKey]int64
	GRPC         map[PairKey]GRPCTotals
	TCP          map[PairKey]TCPTotals

	// SimulatedRequests is the number of simulated calls (requests and TCP
	// connections), i.e. GenConfig.Requests.
	SimulatedRequests int64
	Entries           int64
	HTTPEntries       int64
	TCPEntries        int64
	// TCPPeriodicEntries is the subset of TCPEntries with TcpPeriodic type.
	TCPPeriodicEntries int64
	Messages           int64
	// MetricsMessages counts StreamMetricsMessages (Traffic.Metrics).
	MetricsMessages int64
	// Traced counts client entries carrying trace context, Sampled those of
	// them with the sampled flag set.
	Traced  int64
	Sampled int64
}

func newLedger() Ledger {
	return Ledger{
		Requests:     map[RequestKey]RequestTotals{},
		GRPCStatuses: map[GRPCStatusKey]int64{},
		GRPC:         map[PairKey]GRPCTotals{},
		TCP:          map[PairKey]TCPTotals{},
	}
}

func (l *Ledger) addRequest(k RequestKey, durNanos int64, reqBytes, respBytes uint64) {
	t := l.Requests[k]
	t.Count++
	t.DurationNanos += durNanos
	t.DurationMs += float64(durNanos) / 1e6
	t.RequestBytes += reqBytes
	t.ResponseBytes += respBytes
	l.Requests[k] = t
}

func (l *Ledger) addGRPC(k PairKey, status string, req, resp uint64) {
	g := l.GRPC[k]
	g.RequestMessages += req
	g.ResponseMessages += resp
	l.GRPC[k] = g
	l.GRPCStatuses[GRPCStatusKey{Reporter: k.Reporter, Source: k.Source, Destination: k.Destination, Status: status}]++
}

func (l *Ledger) addTCP(k PairKey, sent, received uint64) {
	t := l.TCP[k]
	t.Opened++
	t.Closed++
	t.SentBytes += sent
	t.ReceivedBytes += received
	l.TCP[k] = t
}

// merge adds o to l.
func (l *Ledger) merge(o *Ledger) {
	for k, v := range o.Requests {
		t := l.Requests[k]
		t.Count += v.Count
		t.DurationNanos += v.DurationNanos
		t.DurationMs += v.DurationMs
		t.RequestBytes += v.RequestBytes
		t.ResponseBytes += v.ResponseBytes
		l.Requests[k] = t
	}
	for k, v := range o.GRPCStatuses {
		l.GRPCStatuses[k] += v
	}
	for k, v := range o.GRPC {
		g := l.GRPC[k]
		g.RequestMessages += v.RequestMessages
		g.ResponseMessages += v.ResponseMessages
		l.GRPC[k] = g
	}
	for k, v := range o.TCP {
		t := l.TCP[k]
		t.Opened += v.Opened
		t.Closed += v.Closed
		t.SentBytes += v.SentBytes
		t.ReceivedBytes += v.ReceivedBytes
		l.TCP[k] = t
	}
	l.SimulatedRequests += o.SimulatedRequests
	l.Entries += o.Entries
	l.HTTPEntries += o.HTTPEntries
	l.TCPEntries += o.TCPEntries
	l.TCPPeriodicEntries += o.TCPPeriodicEntries
	l.Messages += o.Messages
	l.MetricsMessages += o.MetricsMessages
	l.Traced += o.Traced
	l.Sampled += o.Sampled
}

// Clone returns a deep copy.
func (l *Ledger) Clone() Ledger {
	c := *l
	c.Requests = maps.Clone(l.Requests)
	c.GRPCStatuses = maps.Clone(l.GRPCStatuses)
	c.GRPC = maps.Clone(l.GRPC)
	c.TCP = maps.Clone(l.TCP)
	return c
}

// RequestCount returns the total requests of a reporter.
func (l *Ledger) RequestCount(r Reporter) int64 {
	var n int64
	for k, v := range l.Requests {
		if k.Reporter == r {
			n += v.Count
		}
	}
	return n
}
