package istiometrics

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/meshlens/meshlens/accesslog"
)

// Override disables metrics or removes labels from them, as an entry of
// the metrics overrides of Istio's Telemetry API
// (telemetry.istio.io/v1 Telemetry, spec.metrics[].overrides[]): Match
// picks the metrics and the side, Disabled switches them off or on again,
// TagOverrides removes labels. Overrides apply in order; a later one wins
// for what it sets.
type Override struct {
	// Match selects the metrics (default: all) and the reporting side
	// (default: both).
	Match MetricSelector `mapstructure:"match"`
	// Disabled switches the matched metrics off (true) or on again (false);
	// unset: unchanged.
	Disabled *bool `mapstructure:"disabled"`
	// TagOverrides maps an Istio label name to what to do with it. Only
	// operation REMOVE is supported (see TagOverride).
	TagOverrides map[string]TagOverride `mapstructure:"tag_overrides"`
}

// MetricSelector is Istio's MetricSelector with its WorkloadMode.
type MetricSelector struct {
	// Metric is an Istio metric selector name (REQUEST_COUNT,
	// REQUEST_DURATION, REQUEST_SIZE, RESPONSE_SIZE, TCP_OPENED_CONNECTIONS,
	// TCP_CLOSED_CONNECTIONS, TCP_SENT_BYTES, TCP_RECEIVED_BYTES,
	// GRPC_REQUEST_MESSAGES, GRPC_RESPONSE_MESSAGES) or ALL_METRICS (the
	// default).
	Metric string `mapstructure:"metric"`
	// Mode is CLIENT (reporter="source"), SERVER (reporter="destination"
	// and "waypoint") or CLIENT_AND_SERVER (the default).
	Mode string `mapstructure:"mode"`
}

// TagOverride is what to do with one label. Istio's default operation is
// UPSERT, whose value is a CEL expression over Envoy's request attributes
// evaluated in the proxy; an access-log entry carries only what the log
// format names, so meshlens refuses UPSERT (and therefore an empty
// operation) rather than guess: add constant labels with Prometheus
// relabelling instead.
type TagOverride struct {
	// Operation is REMOVE.
	Operation string `mapstructure:"operation"`
	// Value is UPSERT's CEL expression (not supported).
	Value string `mapstructure:"value"`
}

// metric indexes the ten Istio standard metrics.
type metric uint8

const (
	mRequestCount metric = iota
	mRequestDuration
	mRequestSize
	mResponseSize
	mGRPCRequestMessages
	mGRPCResponseMessages
	mTCPOpened
	mTCPClosed
	mTCPSent
	mTCPReceived
	numMetrics
)

// selectorNames are Istio's MetricSelector names of the metrics.
var selectorNames = [numMetrics]string{
	"REQUEST_COUNT", "REQUEST_DURATION", "REQUEST_SIZE", "RESPONSE_SIZE",
	"GRPC_REQUEST_MESSAGES", "GRPC_RESPONSE_MESSAGES",
	"TCP_OPENED_CONNECTIONS", "TCP_CLOSED_CONNECTIONS", "TCP_SENT_BYTES", "TCP_RECEIVED_BYTES",
}

// metricNames are the metrics' names in the exposition.
var metricNames = [numMetrics]string{
	RequestsTotal, RequestDuration, RequestBytes, ResponseBytes, RequestMessages, ResponseMessages,
	TCPConnectionsOpened, TCPConnectionsClosed, TCPSentBytes, TCPReceivedBytes,
}

// allMetrics is Istio's selector of every metric.
const allMetrics = "ALL_METRICS"

func (m metric) tcp() bool { return m >= mTCPOpened }

// fam is a family index: 0 HTTP, 1 TCP.
func fam(tcp bool) int {
	if tcp {
		return 1
	}
	return 0
}

// Workload modes, as Istio names them.
const (
	modeClient          = "CLIENT"
	modeServer          = "SERVER"
	modeClientAndServer = "CLIENT_AND_SERVER"
)

// side maps a reporter to its mode: 0 CLIENT (source), 1 SERVER (every
// other reporter: destination, waypoint, unknown).
func side(r accesslog.Reporter) int {
	if r == accesslog.ReporterSource {
		return 0
	}
	return 1
}

// labelMask is a set of labels, bit i for HTTPLabels[i] (the TCP labels
// are a subset, under the same bits).
type labelMask uint32

// Indices of HTTPLabels.
const (
	lReporter = iota
	lSrcWorkload
	lSrcCanonicalService
	lSrcCanonicalRevision
	lSrcNamespace
	lSrcPrincipal
	lSrcApp
	lSrcVersion
	lSrcCluster
	lDstWorkload
	lDstNamespace
	lDstPrincipal
	lDstApp
	lDstVersion
	lDstService
	lDstCanonicalService
	lDstCanonicalRevision
	lDstServiceName
	lDstServiceNamespace
	lDstCluster
	lProtocol
	lResponseCode
	lGRPCStatus
	lFlags
	lSecurity
	numLabels
)

// tcpLabelIndex maps the index of a TCPLabels label to its HTTPLabels one.
func tcpLabelIndex(j int) int {
	if j > lProtocol {
		return j + 2 // response_flags, connection_security_policy
	}
	return j
}

func (m labelMask) has(i int) bool { return m&(1<<i) != 0 }

// apply clears the removed labels of l, so that label sets differing only
// in them are one series; the exposition leaves them out (plan.names).
func (m labelMask) apply(l *labels) {
	if m == 0 {
		return
	}
	l.removed = m
	for w, at := range [2][8]int{
		{lSrcWorkload, lSrcNamespace, lSrcCanonicalService, lSrcCanonicalRevision, lSrcApp, lSrcVersion, lSrcCluster, lSrcPrincipal},
		{lDstWorkload, lDstNamespace, lDstCanonicalService, lDstCanonicalRevision, lDstApp, lDstVersion, lDstCluster, lDstPrincipal},
	} {
		wl := &l.src
		if w == 1 {
			wl = &l.dst
		}
		for k, f := range [8]*string{&wl.Name, &wl.Namespace, &wl.CanonicalService, &wl.CanonicalRevision, &wl.App, &wl.Version, &wl.Cluster, &wl.Principal} {
			if m.has(at[k]) {
				*f = ""
			}
		}
	}
	if m.has(lDstService) {
		l.svc.Host = ""
	}
	if m.has(lDstServiceName) {
		l.svc.Name = ""
	}
	if m.has(lDstServiceNamespace) {
		l.svc.Namespace = ""
	}
	if m.has(lProtocol) {
		l.protocol = 0
	}
	if m.has(lResponseCode) {
		l.code = 0
	}
	if m.has(lGRPCStatus) {
		l.grpc = -1
	}
	if m.has(lFlags) {
		l.flags = 0
	}
	if m.has(lSecurity) {
		l.security = 0
	}
}

// plan is the overrides resolved per metric and side: what the hot path
// and the exposition read.
type plan struct {
	// off: the metric is disabled for the side.
	off [numMetrics][2]bool
	// skip: every metric of the family is disabled for the side: its
	// records are not aggregated at all.
	skip [2][2]bool
	// removed: the labels removed from the family's series of the side.
	removed [2][2]labelMask
}

// plan resolves the overrides, or explains why it cannot: each error
// names the override and its key.
func (c *Config) plan() (plan, error) {
	var p plan
	var removed [numMetrics][2]labelMask
	var errs error
	for i, o := range c.Overrides {
		at := fmt.Sprintf("overrides[%d]", i)
		metrics, err := o.Match.metrics()
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s::match::%w", at, err))
			continue
		}
		sides, err := o.Match.sides()
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s::match::%w", at, err))
			continue
		}
		var rm labelMask
		for _, tag := range slices.Sorted(mapKeys(o.TagOverrides)) {
			if err := o.TagOverrides[tag].check(tag); err != nil {
				errs = errors.Join(errs, fmt.Errorf("%s::tag_overrides::%w", at, err))
				continue
			}
			idx := slices.Index(HTTPLabels, tag)
			if !slices.ContainsFunc(metrics, func(m metric) bool { return !m.tcp() || slices.Contains(TCPLabels, tag) }) {
				errs = errors.Join(errs, fmt.Errorf("%s::tag_overrides::%s: no matched metric has this label", at, tag))
				continue
			}
			rm |= 1 << idx
		}
		for _, m := range metrics {
			for _, s := range sides {
				if o.Disabled != nil {
					p.off[m][s] = *o.Disabled
				}
				removed[m][s] |= rm
			}
		}
	}
	if errs != nil {
		return plan{}, errs
	}
	// The metrics of a family share one series per label set: the enabled
	// ones of a side must remove the same labels.
	for f := range 2 {
		for s := range 2 {
			first := numMetrics
			p.skip[f][s] = true
			for m := range numMetrics {
				if fam(m.tcp()) != f || p.off[m][s] {
					continue
				}
				rm := removed[m][s]
				if m.tcp() {
					rm &^= 1<<lResponseCode | 1<<lGRPCStatus
				}
				if first == numMetrics {
					first, p.skip[f][s], p.removed[f][s] = m, false, rm
					continue
				}
				if rm != p.removed[f][s] {
					errs = errors.Join(errs, fmt.Errorf("overrides: %s and %s remove different labels for %s (%s vs %s): the metrics of a family (HTTP, TCP) share one series per label set, so a side's enabled metrics must remove the same labels; match ALL_METRICS",
						selectorNames[first], selectorNames[m], [2]string{modeClient, modeServer}[s], p.removed[f][s].names(f == 1), rm.names(f == 1)))
				}
			}
		}
	}
	return p, errs
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// names lists the labels of m (of the family) for messages.
func (m labelMask) names(tcp bool) string {
	var out []string
	for i, n := range HTTPLabels {
		if m.has(i) && (!tcp || slices.Contains(TCPLabels, n)) {
			out = append(out, n)
		}
	}
	return "[" + strings.Join(out, " ") + "]"
}

// metrics returns the metrics the selector names.
func (s *MetricSelector) metrics() ([]metric, error) {
	if s.Metric == "" || s.Metric == allMetrics {
		out := make([]metric, 0, numMetrics)
		for m := range numMetrics {
			out = append(out, m)
		}
		return out, nil
	}
	for m, n := range selectorNames {
		if n == s.Metric {
			return []metric{metric(m)}, nil
		}
	}
	return nil, fmt.Errorf("metric %q is not an Istio metric: one of %s, %s", s.Metric, allMetrics, strings.Join(selectorNames[:], ", "))
}

// sides returns the sides (0 CLIENT, 1 SERVER) the selector names.
func (s *MetricSelector) sides() ([]int, error) {
	switch s.Mode {
	case "", modeClientAndServer:
		return []int{0, 1}, nil
	case modeClient:
		return []int{0}, nil
	case modeServer:
		return []int{1}, nil
	}
	return nil, fmt.Errorf("mode %q is not one of %s, %s, %s", s.Mode, modeClient, modeServer, modeClientAndServer)
}

// check reports whether meshlens can apply the override of label tag.
func (t TagOverride) check(tag string) error {
	if !slices.Contains(HTTPLabels, tag) {
		return fmt.Errorf("%s: not an Istio standard label (custom labels need UPSERT, which is not supported)", tag)
	}
	switch t.Operation {
	case "REMOVE":
		if tag == "reporter" {
			return fmt.Errorf("%s: removing reporter is not supported: the client's and the server's report of each call would add up in one series (each call counted twice); disable a side with match::mode instead", tag)
		}
		if t.Value != "" {
			return fmt.Errorf("%s: operation REMOVE takes no value", tag)
		}
		return nil
	case "", "UPSERT":
		return fmt.Errorf("%s: operation UPSERT (Istio's default) is not supported: its value is a CEL expression Istio evaluates over the proxy's request attributes, which an access-log entry does not carry; set operation: REMOVE, or add constant labels with Prometheus relabelling", tag)
	}
	return fmt.Errorf("%s: operation %q is not REMOVE", tag, t.Operation)
}
