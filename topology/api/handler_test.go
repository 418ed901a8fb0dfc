package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

func TestGraphGolden(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	tests := []struct{ name, target string }{
		{"graph-service.golden.json", "/api/v1/graph?graphType=service&duration=1m"},
		{"graph-workload-bookinfo.golden.json", "/api/v1/graph?namespaces=bookinfo&duration=10m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.target)
			require.Equal(t, http.StatusOK, code, string(body))
			checkGolden(t, "api/"+tt.name, indent(t, body))
		})
	}
}

func TestGraphDOT(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	code, dot := get(t, h, "/api/v1/graph.dot?graphType=service&duration=1m")
	require.Equal(t, http.StatusOK, code)
	checkGolden(t, "api/graph-service.golden.dot", dot)
	code, viaFormat := get(t, h, "/api/v1/graph?graphType=service&duration=1m&format=dot")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, string(dot), string(viaFormat))
}

// TestGraphAllWindows checks that without a duration /api/v1/graph has the
// stats of every configured window.
func TestGraphAllWindows(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	code, body := get(t, h, "/api/v1/graph?graphType=app")
	require.Equal(t, http.StatusOK, code)
	var snap topology.Snapshot
	require.NoError(t, json.Unmarshal(body, &snap))
	require.Len(t, snap.Windows, 2)
	assert.Equal(t, "1m", snap.Windows[0].Name)
	assert.Equal(t, "10m", snap.Windows[1].Name)
	for _, e := range snap.Edges {
		assert.Len(t, e.Stats, 2, e.ID)
	}
}

func TestBadQueries(t *testing.T) {
	h := newLive(t, Options{}).Handler(fixedNow)
	tests := []struct {
		name, target, want string
	}{
		{"graphType", "/api/v1/graph?graphType=nodes", `bad query: invalid graphType "nodes": want one of workload, app, versionedApp, service`},
		{"duration syntax", "/api/v1/graph?duration=ten", `bad query: invalid duration "ten": want a duration such as 60s, 1m or 10m`},
		{"duration too long", "/api/namespaces/graph?namespaces=a&duration=1h", `bad query: duration 1h0m0s exceeds the longest window (10m0s)`},
		{"duration zero", "/api/v1/graph?duration=0s", `bad query: invalid duration "0s": must be positive`},
		{"namespace format", "/api/namespaces/graph?namespaces=Book_Info", `bad query: invalid namespace "Book_Info": a namespace is a DNS-1123 label (lowercase letters, digits and '-', at most 63)`},
		{"namespaces required", "/api/namespaces/graph?graphType=app", `bad query: namespaces is required: a comma-separated list of namespace names`},
		{"empty namespace", "/api/namespaces/graph?namespaces=a,,b", `bad query: invalid namespace "": a namespace is a DNS-1123 label (lowercase letters, digits and '-', at most 63)`},
		{"bool", "/api/v1/graph?includeIdleEdges=maybe", `bad query: invalid includeIdleEdges "maybe": want true or false`},
		{"boxBy", "/api/namespaces/graph?namespaces=a&boxBy=zone", `bad query: invalid boxBy "zone": want a list of app, namespace, cluster or none`},
		{"rateTcp", "/api/namespaces/graph?namespaces=a&rateTcp=packets", `bad query: invalid rateTcp "packets": want one of sent, received, total, none`},
		{"appender", "/api/namespaces/graph?namespaces=a&appenders=magic", `bad query: invalid appender "magic": want a list of ` + strings.Join(kialiAppenders(), ", ")},
		{"queryTime syntax", "/api/v1/graph?queryTime=yesterday", `bad query: invalid queryTime "yesterday": want unix seconds`},
		{"queryTime too old", "/api/namespaces/graph?namespaces=a&queryTime=1000", `bad query: queryTime 1000 is too old: the graph keeps 10m0s of history and the window is 10m0s`},
		{"format", "/api/v1/graph?format=svg", `bad query: invalid format "svg": want one of json, dot`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, tt.target)
			assert.Equal(t, http.StatusBadRequest, code)
			var e errorBody
			require.NoError(t, json.Unmarshal(body, &e), string(body))
			assert.Equal(t, tt.want, e.Error)
		})
	}
}

func TestGoodQueries(t *testing.T) {
	h := meshLive(t).Handler(fixedNow)
	for _, target := range []string{
		"/api/namespaces/graph?namespaces=bookinfo,bankapp&graphType=versionedApp&duration=600s&boxBy=app,namespace&includeIdleEdges=true",
		"/api/namespaces/graph?namespaces=bookinfo&duration=300&queryTime=" + itoa(testNow.Add(-30*time.Second).Unix()),
		"/api/namespaces/graph?namespaces=bookinfo&queryTime=" + itoa(testNow.Add(time.Hour).Unix()) + "&responseTime=avg&throughputType=request",
		"/api/namespaces/graph?namespaces=bookinfo&rateHttp=none&rateGrpc=sent&rateTcp=received&configVendor=cytoscape&telemetryVendor=istio&refreshInterval=15000&ambientTraffic=none",
		"/api/v1/graph?graphType=service&duration=90s&injectServiceNodes=true",
	} {
		code, body := get(t, h, target)
		assert.Equal(t, http.StatusOK, code, "%s: %s", target, body)
	}
}

func TestRoutes(t *testing.T) {
	h := newLive(t, Options{}).Handler(nil)
	code, _ := get(t, h, "/api/v1/nothing")
	assert.Equal(t, http.StatusNotFound, code)
	rec := serve(t, h, http.MethodPost, "/api/v1/graph")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

// TestConcurrentUse feeds records while clients read every endpoint.
// Snapshots are read one edge per step, so that batches and expiries
// (which free node ids for reuse) land between the steps of a snapshot.
func TestConcurrentUse(t *testing.T) {
	l := newLive(t, Options{})
	l.stepWork = 1
	h := l.Handler(fixedNow)
	batches, times := meshtest.Records(testNow)
	var wg sync.WaitGroup
	wg.Go(func() {
		for round := range 5 {
			for i := range batches {
				l.ConsumeRecords(batches[i], times[i])
			}
			l.Expire(testNow)
			if round%2 == 0 { // drop everything: the next round reuses ids
				l.Expire(testNow.Add(time.Hour))
			}
		}
	})
	wg.Go(func() {
		for range 20 {
			for _, g := range []topology.Granularity{topology.Workload, topology.Service} {
				snap, err := l.Snapshot(testNow, topology.SnapshotOptions{Granularity: g, IncludeIdle: true})
				if assert.NoError(t, err) {
					checkConsistent(t, snap)
				}
			}
		}
	})
	for _, target := range []string{
		"/api/v1/graph", "/api/v1/graph.dot?graphType=app",
		"/api/namespaces/graph?namespaces=bookinfo&graphType=service",
	} {
		wg.Go(func() {
			for range 20 {
				code, body := get(t, h, target)
				assert.Equal(t, http.StatusOK, code, string(body))
			}
		})
	}
	wg.Wait()
	assert.Positive(t, l.Stats().Records)
}

// checkConsistent checks that a snapshot's nodes and edges are unique and
// sorted, and that every edge joins two of its nodes.
func checkConsistent(t *testing.T, snap *topology.Snapshot) {
	t.Helper()
	nodes := map[string]bool{}
	for i, n := range snap.Nodes {
		assert.False(t, nodes[n.ID], "duplicate node %s", n.ID)
		nodes[n.ID] = true
		if i > 0 {
			assert.Less(t, snap.Nodes[i-1].ID, n.ID)
		}
	}
	for i, e := range snap.Edges {
		assert.True(t, nodes[e.Source] && nodes[e.Target], "edge %s without its nodes", e.ID)
		assert.Equal(t, e.Source+"."+e.Target+"."+e.Protocol, e.ID)
		if i > 0 {
			assert.Less(t, snap.Edges[i-1].ID, e.ID)
		}
	}
}
