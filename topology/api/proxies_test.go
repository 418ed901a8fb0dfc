package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeProxies answers for productpage-v1 in default: a proxy that lost
// entries, one that sent everything, one without counters (in another
// cluster); nothing for any other workload.
var fakeProxies = ProxySourceFunc(func(q ProxyQuery) ProxyReport {
	rep := ProxyReport{IncompleteBelow: 0.99}
	if q.Namespace != "default" || q.Workload != "productpage-v1" {
		return rep
	}
	all := []ProxyTelemetry{
		{
			NodeID: "sidecar~10.244.1.17~productpage-v1-0.default~default.svc.cluster.local", Cluster: "Kubernetes",
			State: ProxyIncomplete, Received: 412,
			Envoy: &EnvoyCounters{Written: 400, Dropped: 25, Received: 400, Missing: 25, Ratio: 400.0 / 425},
		},
		{
			NodeID: "sidecar~10.244.3.22~productpage-v1-1.default~default.svc.cluster.local", Cluster: "Kubernetes",
			State: ProxyComplete, Received: 380,
			Envoy: &EnvoyCounters{Written: 380, Received: 380, Ratio: 1},
		},
		{
			NodeID: "sidecar~10.8.0.4~productpage-v1-0.default~default.svc.cluster.local", Cluster: "east",
			State: ProxyNoCounters, Received: 57,
		},
	}
	for _, p := range all {
		if q.Cluster == "" || q.Cluster == p.Cluster {
			rep.Proxies = append(rep.Proxies, p)
		}
	}
	return rep
})

func TestProxiesGolden(t *testing.T) {
	h := newLive(t, Options{Proxies: fakeProxies}).Handler(fixedNow)
	tests := []struct{ name, target string }{
		{"proxies-workload", "/api/v1/proxies?namespace=default&workload=productpage-v1"},
		{"proxies-cluster", "/api/v1/proxies?cluster=east&namespace=default&workload=productpage-v1"},
		{"proxies-none", "/api/v1/proxies?cluster=Kubernetes&namespace=default&workload=ratings-v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.target)
			require.Equal(t, http.StatusOK, code, string(body))
			checkGolden(t, "api/"+tt.name+".golden.json", indent(t, body))
		})
	}
}

func TestProxiesBadQueries(t *testing.T) {
	l := newLive(t, Options{Proxies: fakeProxies})
	h := l.Handler(fixedNow)
	const required = `{"error":"bad query: namespace and workload are required: the workload's namespace and name, as in the graph's nodes"}` + "\n"
	tests := []struct{ name, target, want string }{
		{"no parameters", "/api/v1/proxies", required},
		{"no workload", "/api/v1/proxies?namespace=default", required},
		{"no namespace", "/api/v1/proxies?workload=productpage-v1", required},
		{"empty workload", "/api/v1/proxies?namespace=default&workload=", required},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.target)
			assert.Equal(t, http.StatusBadRequest, code)
			assert.Equal(t, tt.want, string(body))
		})
	}
	assert.Equal(t, uint64(len(tests)), l.BadQueries())
}

// TestProxiesNotServed: without a source (Options.Proxies) the route does
// not exist.
func TestProxiesNotServed(t *testing.T) {
	h := newLive(t, Options{}).Handler(fixedNow)
	code, _ := get(t, h, "/api/v1/proxies?namespace=default&workload=productpage-v1")
	assert.Equal(t, http.StatusNotFound, code)
}
