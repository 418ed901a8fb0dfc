package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// TestKialiGolden renders the synthetic mesh through the Kiali endpoint for
// every graph type and compares with testdata/kiali/*.golden.json.
func TestKialiGolden(t *testing.T) {
	l := meshLive(t)
	h := l.Handler(fixedNow)
	tests := []struct{ name, query string }{
		{"workload", "graphType=workload&duration=60s"},
		{"workload-injected", "graphType=workload&duration=60s&injectServiceNodes=true"},
		{"app", "graphType=app&duration=1m"},
		{"versionedApp", "graphType=versionedApp&duration=60s"},
		{"service", "graphType=service&duration=600s"},
		{"workload-box-namespace", "graphType=workload&duration=60s&boxBy=namespace,cluster&appenders=responseTime,securityPolicy"},
		{"workload-rates-total", "graphType=workload&duration=60s&rateGrpc=total&rateTcp=total&appenders="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, h, "/api/namespaces/graph?namespaces=bookinfo&"+tt.query)
			require.Equal(t, http.StatusOK, code, string(body))
			checkGolden(t, "kiali/"+tt.name+".golden.json", indent(t, body))
		})
	}
}

// shape maps each JSON path of a document to the JSON types seen there.
// Keys of maps whose keys are data (responses, flags, hosts, labels) are
// replaced by "*".
type shape map[string]map[string]bool

var dataKeyed = []string{".responses", ".flags", ".hosts", ".labels"}

func (s shape) walk(path string, v any) {
	typ := "null"
	switch x := v.(type) {
	case map[string]any:
		typ = "object"
		for k, c := range x {
			key := k
			if slices.ContainsFunc(dataKeyed, func(suffix string) bool { return strings.HasSuffix(path, suffix) }) {
				key = "*"
			}
			s.walk(path+"."+key, c)
		}
	case []any:
		typ = "array"
		for _, c := range x {
			s.walk(path+"[]", c)
		}
	case string:
		typ = "string"
	case float64:
		typ = "number"
	case bool:
		typ = "bool"
	}
	if s[path] == nil {
		s[path] = map[string]bool{}
	}
	s[path][typ] = true
}

func shapeOf(t *testing.T, b []byte) shape {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	s := shape{}
	s.walk("", v)
	return s
}

// kialiOnly are paths of Kiali's responses that meshlens cannot produce:
// ambient waypoints, and app boxes in graphs whose test mesh had several
// versions under one app (covered by the versionedApp case).
var kialiOnly = []string{".waypoint", ".isWaypoint"}

// allowedExtra are keys kiali-graph.md documents that Kiali's test
// responses (made without appenders) happen not to contain.
var allowedExtra = []string{
	".elements.edges[].data.responseTime", ".elements.edges[].data.throughput",
	".elements.edges[].data.isMTLS", ".elements.edges[].data.sourcePrincipal",
	".elements.edges[].data.destPrincipal", ".elements.nodes[].data.isServiceEntry",
	".elements.edges[].data.traffic.rates.httpNoResponse", ".elements.edges[].data.traffic.rates.grpcNoResponse",
	".elements.edges[].data.traffic.rates.grpcErr", ".elements.edges[].data.traffic.rates.grpcPercentErr",
	".elements.nodes[].data.traffic[].rates.httpInNoResponse", ".elements.nodes[].data.traffic[].rates.grpcInNoResponse",
	".elements.nodes[].data.traffic[].rates.grpcInErr",
}

// TestKialiShape checks that meshlens's Kiali responses for a comparable
// mesh have the shape of Kiali's own test responses: every key meshlens
// emits exists in Kiali's responses (or is documented) with the same JSON
// type, and every key of Kiali's response for the same graph type is
// emitted.
func TestKialiShape(t *testing.T) {
	l := meshLive(t)
	h := l.Handler(fixedNow)
	files, err := filepath.Glob(captures.Dir(t, "kiali", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	union := shape{}
	byType := map[string]shape{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		s := shapeOf(t, b)
		for p, ts := range s {
			if union[p] == nil {
				union[p] = map[string]bool{}
			}
			for ty := range ts {
				union[p][ty] = true
			}
		}
		var head struct{ GraphType string }
		require.NoError(t, json.Unmarshal(b, &head))
		if strings.Contains(f, "_node_") || strings.Contains(f, "ambient") || strings.Contains(f, "rates") {
			continue // node-detail, ambient and rate-option graphs: compared through the union only
		}
		byType[head.GraphType] = s
	}
	require.Len(t, byType, 4, "one Kiali response per graph type")
	for gt, want := range byType {
		t.Run(gt, func(t *testing.T) {
			for _, appenders := range []string{"&appenders=", ""} {
				code, body := get(t, h, fmt.Sprintf("/api/namespaces/graph?namespaces=bookinfo&graphType=%s%s", gt, appenders))
				require.Equal(t, http.StatusOK, code, string(body))
				got := shapeOf(t, body)
				for _, p := range sortedPaths(got) {
					if slices.Contains(allowedExtra, p) || strings.HasPrefix(p, ".elements.nodes[].data.isServiceEntry.") {
						continue
					}
					// Kiali's captures were made without health (their
					// healthData is null); meshlens's health appender fills
					// it with Kiali's health models (TestKialiHealthShape).
					if strings.HasPrefix(p, ".elements.nodes[].data.healthData") {
						continue
					}
					require.Contains(t, union, p, "meshlens emits a key Kiali does not have")
					for ty := range got[p] {
						assert.True(t, union[p][ty], "%s: meshlens type %s, Kiali %v", p, ty, union[p])
					}
				}
				if appenders != "" {
					for _, p := range sortedPaths(want) {
						if slices.ContainsFunc(kialiOnly, func(k string) bool { return strings.Contains(p, k) }) {
							continue
						}
						assert.Contains(t, got, p, "Kiali's %s graph has %s", gt, p)
					}
				}
			}
		})
	}
}

func sortedPaths(s shape) []string {
	out := make([]string, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// TestKialiBookinfo serves the replayed real Bookinfo captures through the
// Kiali endpoint: a service graph of gateway → productpage → details,
// reviews.
func TestKialiBookinfo(t *testing.T) {
	l := newLive(t, Options{})
	err := meshtest.ReplayBookinfo(captures.Dir(t, meshtest.BookinfoDir...), testNow, func(recs []accesslog.Record, now time.Time) { l.ConsumeRecords(recs, nil, now) })
	require.NoError(t, err)
	code, body := get(t, l.Handler(func() time.Time { return testNow.Add(time.Second) }),
		"/api/namespaces/graph?namespaces=default&graphType=service&duration=60s")
	require.Equal(t, http.StatusOK, code, string(body))
	checkGolden(t, "kiali/bookinfo-service.golden.json", indent(t, body))
	var cfg struct {
		Elements struct {
			Nodes []struct{ Data map[string]any }
			Edges []struct{ Data map[string]any }
		}
	}
	require.NoError(t, json.Unmarshal(body, &cfg))
	var names []string
	for _, n := range cfg.Elements.Nodes {
		name, _ := n.Data["service"].(string)
		if name == "" {
			name, _ = n.Data["workload"].(string)
		}
		names = append(names, n.Data["namespace"].(string)+"/"+name)
	}
	sort.Strings(names)
	assert.Equal(t, []string{"default/details", "default/productpage", "default/reviews", "istio-system/istio-ingressgateway", "unknown/unknown"}, names)
	assert.Len(t, cfg.Elements.Edges, 4, "the servers' reports name no caller (no peer metadata in the captures)")
}

// TestKialiIdleNodes: with includeIdleEdges, the nodes of edges without
// traffic in the window are drawn and marked isIdle, as Kiali's idleNode
// appender marks them; a node with traffic is not; without the appender
// nothing is marked.
func TestKialiIdleNodes(t *testing.T) {
	l := newLive(t, Options{})
	from := meshtest.Workload("shop", "frontend-v1", "frontend", "v1")
	old := meshtest.Call{
		From: from, To: meshtest.Workload("shop", "legacy-v1", "legacy", "v1"), Service: meshtest.Service("shop", "legacy"),
		Protocol: accesslog.ProtocolHTTP, Code: 200, GRPC: -1, Duration: time.Millisecond, Sides: meshtest.BothSides, Count: 3,
	}
	live := old
	live.To, live.Service = meshtest.Workload("shop", "backend-v1", "backend", "v1"), meshtest.Service("shop", "backend")
	l.ConsumeRecords(old.Records(), nil, testNow.Add(-5*time.Minute))
	l.ConsumeRecords(live.Records(), nil, testNow)
	h := l.Handler(func() time.Time { return testNow.Add(time.Second) })
	idle := func(query string) map[string]bool {
		code, body := get(t, h, "/api/namespaces/graph?namespaces=shop&graphType=workload&duration=60s"+query)
		require.Equal(t, http.StatusOK, code, string(body))
		var cfg struct {
			Elements struct {
				Nodes []struct{ Data map[string]any }
			}
		}
		require.NoError(t, json.Unmarshal(body, &cfg))
		out := map[string]bool{}
		for _, n := range cfg.Elements.Nodes {
			out[n.Data["workload"].(string)], _ = n.Data["isIdle"].(bool)
		}
		return out
	}
	assert.Equal(t, map[string]bool{"frontend-v1": false, "backend-v1": false}, idle(""))
	assert.Equal(t, map[string]bool{"frontend-v1": false, "backend-v1": false, "legacy-v1": true}, idle("&includeIdleEdges=true"))
	assert.Equal(t, map[string]bool{"frontend-v1": false, "backend-v1": false, "legacy-v1": false}, idle("&includeIdleEdges=true&appenders=deadNode"))
}
