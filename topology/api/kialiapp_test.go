package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKialiEndpoints checks the JSON of every endpoint Kiali's UI calls
// besides the namespace graph, against golden files (-update), on the
// generated mesh: its shape is Kiali's (kiali/kiali handlers and models,
// kiali-ui types), its numbers meshlens's.
func TestKialiEndpoints(t *testing.T) {
	l := meshLive(t)
	h := l.Handler(fixedNow)
	for _, tc := range []struct{ name, target string }{
		{"auth-info", "/api/auth/info"},
		{"authenticate", "/api/authenticate"},
		{"config", "/api/config"},
		{"status", "/api/status"},
		{"namespaces", "/api/namespaces"},
		{"health-workload", "/api/namespaces/bookinfo/health?type=workload&rateInterval=60s"},
		{"health-app", "/api/namespaces/bookinfo/health?type=app&rateInterval=60s"},
		{"health-service", "/api/namespaces/bookinfo/health?type=service&rateInterval=60s"},
		{"health-one-workload", "/api/namespaces/bookinfo/workloads/reviews-v3/health?rateInterval=60s"},
		{"health-unseen-workload", "/api/namespaces/bookinfo/workloads/nobody/health"},
		{"node-graph-workload", "/api/namespaces/bookinfo/workloads/reviews-v2/graph?graphType=workload&duration=60s&injectServiceNodes=true"},
		{"node-graph-app", "/api/namespaces/bookinfo/applications/reviews/graph?graphType=app&duration=60s"},
		{"node-graph-version", "/api/namespaces/bookinfo/applications/reviews/versions/v3/graph?graphType=versionedApp&duration=60s"},
		{"node-graph-service", "/api/namespaces/bookinfo/services/ratings/graph?graphType=workload&duration=60s&injectServiceNodes=true"},
		{"metrics-workload-in", "/api/namespaces/bookinfo/workloads/ratings-v1/metrics?queryTime=" + itoa(testNow.Unix()) +
			"&duration=60&step=30&rateInterval=30s&filters[]=request_count&filters[]=request_error_count&byLabels[]=request_protocol&direction=inbound&reporter=destination"},
		{"metrics-app-out", "/api/namespaces/bookinfo/apps/reviews/metrics?duration=60&step=30&rateInterval=60s&filters[]=request_count&filters[]=request_duration_millis&quantiles[]=0.95&direction=outbound"},
		{"metrics-service-tcp", "/api/namespaces/bookinfo/services/tcp/metrics?duration=60&step=60&rateInterval=60s&filters[]=tcp_sent&filters[]=tcp_received&direction=inbound"},
		{"validations", "/api/namespaces/bookinfo/validations"},
		{"tls", "/api/namespaces/bookinfo/tls"},
		{"mesh-tls", "/api/mesh/tls"},
		{"istio-status", "/api/istio/status"},
		{"istio-permissions", "/api/istio/permissions?namespaces=bookinfo,bankapp"},
		{"jaeger", "/api/jaeger"},
		{"grafana", "/api/grafana"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, tc.target)
			require.Equal(t, http.StatusOK, code, string(body))
			checkGolden(t, "kiali/endpoints/"+tc.name+".golden.json", indent(t, body))
		})
	}
	code, _ := get(t, h, "/api/logout")
	assert.Equal(t, http.StatusNoContent, code)
}

// TestKialiEndpointErrors checks that bad parameters of the Kiali
// endpoints are 400 with the reason.
func TestKialiEndpointErrors(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	for _, tc := range []struct{ name, target, want string }{
		{"health type", "/api/namespaces/bookinfo/health?type=pod", `invalid type "pod"`},
		{"health interval", "/api/namespaces/bookinfo/health?rateInterval=1h", "exceeds the longest window"},
		{"health namespace", "/api/namespaces/Bad_NS/health", `invalid namespace "Bad_NS"`},
		{"metrics points", "/api/namespaces/bookinfo/workloads/a/metrics?duration=86400&step=1", "more than 120 points"},
		{"metrics filter", "/api/namespaces/bookinfo/workloads/a/metrics?filters[]=cpu", `invalid filter "cpu"`},
		{"metrics direction", "/api/namespaces/bookinfo/workloads/a/metrics?direction=up", `invalid direction "up"`},
		{"metrics byLabels", "/api/namespaces/bookinfo/workloads/a/metrics?byLabels[]=source_workload", `invalid byLabels "source_workload"`},
		{"metrics quantile", "/api/namespaces/bookinfo/workloads/a/metrics?quantiles[]=2", `invalid quantile "2"`},
		{"node graph type", "/api/namespaces/bookinfo/workloads/a/graph?graphType=pods", `invalid graphType "pods"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, h, tc.target)
			assert.Equal(t, http.StatusBadRequest, code)
			var e errorBody
			require.NoError(t, json.Unmarshal(body, &e))
			assert.Contains(t, e.Error, tc.want)
		})
	}
}

// TestKialiAppenderNames checks that the appender names of Kiali's UIs are
// accepted, "healthConfig" (Kiali 1.x) included, and that a name no Kiali
// knows is still refused, as Kiali refuses it.
func TestKialiAppenderNames(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	for _, appenders := range []string{
		"deadNode,sidecarsCheck,serviceEntry,istio,healthConfig", // kiali-ui 1.35
		"deadNode,sidecarsCheck,serviceEntry,istio,healthConfig,idleNode,securityPolicy,responseTime,aggregateNode",
		"health,meshCheck,throughput,workloadEntry,ambient,labeler,outsider,trafficGenerator",
	} {
		code, body := get(t, h, "/api/namespaces/graph?namespaces=bookinfo&appenders="+appenders)
		assert.Equal(t, http.StatusOK, code, "%s: %s", appenders, body)
	}
	code, body := get(t, h, "/api/namespaces/graph?namespaces=bookinfo&appenders=istio,magic")
	assert.Equal(t, http.StatusBadRequest, code)
	var e errorBody
	require.NoError(t, json.Unmarshal(body, &e))
	assert.True(t, strings.HasPrefix(e.Error, `bad query: invalid appender "magic"`), e.Error)
}
