package board

import "strings"

// Metric names, exactly as meshlens exports them: Istio's standard metrics
// (exporters/istiometrics/names.go in the root module) and meshlens's own.
// The dashboards module does not import the root module; the end-to-end
// contract test (e2e/dashboards_test.go) checks every name used in the
// generated JSON against what a running meshlens exports.
const (
	requestsTotal    = "istio_requests_total"
	durationBucket   = "istio_request_duration_milliseconds_bucket"
	durationSum      = "istio_request_duration_milliseconds_sum"
	durationCount    = "istio_request_duration_milliseconds_count"
	requestBytesB    = "istio_request_bytes_bucket"
	requestBytesSum  = "istio_request_bytes_sum"
	responseBytesB   = "istio_response_bytes_bucket"
	responseBytesSum = "istio_response_bytes_sum"
	requestMessages  = "istio_request_messages_total"
	responseMessages = "istio_response_messages_total"
	tcpOpened        = "istio_tcp_connections_opened_total"
	tcpClosed        = "istio_tcp_connections_closed_total"
	tcpSent          = "istio_tcp_sent_bytes_total"
	tcpReceived      = "istio_tcp_received_bytes_total"

	// Span metrics (exporters/spans), as Jaeger's Monitor tab reads them:
	// labelled service_name, span_name, span_kind, status_code.
	spanCalls          = "traces_span_metrics_calls_total"
	spanDurationBucket = "traces_span_metrics_duration_milliseconds_bucket"

	// selfMetric is the meshlens series every running meshlens exports; the
	// job and instance variables list the values of its target labels.
	selfMetric = "meshlens_receiver_entries_received_total"
)

// rateInterval is Grafana's range for rate(): at least four scrape
// intervals, so a rate always has samples to work with.
const rateInterval = "$__rate_interval"

// Label matchers. Every selector a dashboard renders starts with the job and
// instance matchers (dashboard-linter's target-job-rule and
// target-instance-rule), so one Grafana can watch several meshlens.
func eq(label, value string) string  { return label + `="` + value + `"` }
func neq(label, value string) string { return label + `!="` + value + `"` }
func re(label, value string) string  { return label + `=~"` + value + `"` }
func nre(label, value string) string { return label + `!~"` + value + `"` }

// sel renders metric{job=~"$job",instance=~"$instance",matchers...}.
func sel(metric string, matchers ...string) string {
	all := append([]string{re("job", "$job"), re("instance", "$instance")}, matchers...)
	return metric + "{" + strings.Join(all, ",") + "}"
}

// with returns a copy of base with more matchers (base is never modified,
// so scopes can be shared between panels).
func with(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// rate renders rate(selector[$__rate_interval]).
func rate(selector string) string { return "rate(" + selector + "[" + rateInterval + "])" }

// sumBy renders sum(expr) or sum by (labels) (expr).
func sumBy(by, expr string) string {
	if by == "" {
		return "sum(" + expr + ")"
	}
	return "sum by (" + by + ") (" + expr + ")"
}

// sumRate renders sum by (by) (rate(metric{scope}[$__rate_interval])).
func sumRate(by, metric string, scope ...string) string {
	return sumBy(by, rate(sel(metric, scope...)))
}

// quantile renders the Istio latency (or size) quantile of a histogram's
// buckets, grouped by the given labels: histogram_quantile(q, sum by (le, by)
// (rate(bucket{scope}[$__rate_interval]))).
func quantile(q, by, bucket string, scope ...string) string {
	le := "le"
	if by != "" {
		le += ", " + by
	}
	return "histogram_quantile(" + q + ", " + sumRate(le, bucket, scope...) + ")"
}

// ratio renders num / den, both already aggregated the same way.
func ratio(num, den string) string { return num + " / " + den }

// meanLatency renders the mean request duration over the rate interval: the
// rate of the histogram's sum divided by the rate of its count.
func meanLatency(scope ...string) string {
	return ratio(sumRate("", durationSum, scope...), sumRate("", durationCount, scope...))
}

// appErrors renders the rate of requests the application failed: a 5xx
// response or a gRPC error status, without any Envoy response flag. The two
// selectors pick disjoint series (different response codes), so the sum of
// their union counts each request once, and has data if either has.
func appErrors(scope []string) string {
	return "sum(" + rate(sel(requestsTotal, with(scope, appFlagless, server5xx)...)) +
		" or " + rate(sel(requestsTotal, with(scope, appFlagless, not5xx, grpcError)...)) + ")"
}

// topk renders topk(k, expr).
func topk(k, expr string) string { return "topk(" + k + ", " + expr + ")" }

// Outcome matchers, as Istio's dashboards define them.
var (
	// server5xx selects requests that failed on the server side of HTTP.
	server5xx = re("response_code", "5..")
	// not5xx selects what Istio's dashboards count as success.
	not5xx = nre("response_code", "5..")
	// proxyFlagged selects requests the proxy ended or marked itself:
	// Envoy set a response flag (UF, URX, UH, NR, …).
	proxyFlagged = neq("response_flags", "-")
	// appFlagless selects requests without any proxy flag: their outcome
	// is the application's.
	appFlagless = eq("response_flags", "-")
	// grpcError selects gRPC calls whose status is not OK ("" is plain HTTP,
	// "0" is OK).
	grpcError = nre("grpc_response_status", "|0")
)

// orZero renders expr or on() vector(0): 0 instead of no data when expr
// has no series, for counts of failures, where no series means that none
// happened (a panel then shows 0, not "No data").
func orZero(expr string) string { return "(" + expr + " or on() vector(0))" }

// orNone is orZero for an expression grouped by label: the zero series
// carries label="none", so the legend reads "none", not an empty name.
func orNone(expr, label string) string {
	return "(" + expr + ` or on() label_replace(vector(0), "` + label + `", "none", "", ""))`
}

// ratioOrZero renders num / den where num counts a subset of den (grouped
// the same way): a group of den without num series is 0, not no data.
func ratioOrZero(num, den string) string {
	return "(" + num + " or " + den + " * 0) / " + den
}
