package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
)

// fakePrometheus is a query endpoint that answers istio_requests_total with
// one hop reported by both sides (10 requests, one a 503) and every other
// query with an empty vector. It records the forms it was sent.
type fakePrometheus struct {
	*httptest.Server
	mu     sync.Mutex
	forms  []map[string]string
	auth   []string
	answer func(w http.ResponseWriter, query string) bool // true: answered
}

const requestsVector = `{"status":"success","data":{"resultType":"vector","result":[
 {"metric":{"reporter":"source","source_cluster":"east","source_workload_namespace":"bookinfo","source_workload":"productpage-v1",
  "source_canonical_service":"productpage","source_canonical_revision":"v1","destination_cluster":"east",
  "destination_workload_namespace":"bookinfo","destination_workload":"details-v1","destination_canonical_service":"details",
  "destination_canonical_revision":"v1","destination_service":"details.bookinfo.svc.cluster.local","destination_service_name":"details",
  "destination_service_namespace":"bookinfo","request_protocol":"http","response_code":"200","response_flags":"-",
  "connection_security_policy":"unknown","source_principal":"spiffe://cluster.local/ns/bookinfo/sa/productpage",
  "destination_principal":"spiffe://cluster.local/ns/bookinfo/sa/details"},"value":[1800000000.5,"9"]},
 {"metric":{"reporter":"destination","source_cluster":"east","source_workload_namespace":"bookinfo","source_workload":"productpage-v1",
  "source_canonical_service":"productpage","source_canonical_revision":"v1","destination_cluster":"east",
  "destination_workload_namespace":"bookinfo","destination_workload":"details-v1","destination_canonical_service":"details",
  "destination_canonical_revision":"v1","destination_service":"details.bookinfo.svc.cluster.local","destination_service_name":"details",
  "destination_service_namespace":"bookinfo","request_protocol":"http","response_code":"200","response_flags":"-",
  "connection_security_policy":"mutual_tls"},"value":[1800000000.5,"9"]},
 {"metric":{"reporter":"source","source_cluster":"east","source_workload_namespace":"bookinfo","source_workload":"productpage-v1",
  "source_canonical_service":"productpage","source_canonical_revision":"v1","destination_cluster":"east",
  "destination_workload_namespace":"bookinfo","destination_workload":"details-v1","destination_canonical_service":"details",
  "destination_canonical_revision":"v1","destination_service":"details.bookinfo.svc.cluster.local","destination_service_name":"details",
  "destination_service_namespace":"bookinfo","request_protocol":"http","response_code":"503","response_flags":"UF,URX",
  "connection_security_policy":"unknown"},"value":[1800000000.5,"1"]}]}}`

const emptyVector = `{"status":"success","data":{"resultType":"vector","result":[]}}`

func newFakePrometheus(t *testing.T) *fakePrometheus {
	t.Helper()
	f := &fakePrometheus{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/prom/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		assert.NoError(t, r.ParseForm())
		f.mu.Lock()
		f.forms = append(f.forms, map[string]string{"query": r.PostForm.Get("query"), "time": r.PostForm.Get("time")})
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		answer := f.answer
		f.mu.Unlock()
		q := r.PostForm.Get("query")
		if answer != nil && answer(w, q) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(q, "((istio_requests_total{") {
			_, _ = w.Write([]byte(requestsVector))
			return
		}
		_, _ = w.Write([]byte(emptyVector))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePrometheus) sent() ([]map[string]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.forms...), append([]string(nil), f.auth...)
}

func globalLive(t *testing.T, f *fakePrometheus, timeout time.Duration) http.Handler {
	t.Helper()
	l, err := NewLive(topology.Config{Global: topology.GlobalConfig{
		PrometheusURL: f.URL + "/prom/", Timeout: timeout, Selector: `job="meshlens"`, BearerToken: "s3cret",
	}}, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l.Handler(fixedNow)
}

func TestGlobalGraph(t *testing.T) {
	f := newFakePrometheus(t)
	h := globalLive(t, f, 5*time.Second)

	code, body := get(t, h, "/api/v1/graph?source=prometheus&graphType=app")
	require.Equal(t, http.StatusOK, code, string(body))
	var snap topology.Snapshot
	require.NoError(t, json.Unmarshal(body, &snap))
	assert.Equal(t, "prometheus", snap.Source)
	require.Len(t, snap.Windows, 2, "the configured windows by default")
	assert.InDelta(t, 60, snap.Windows[0].CoveredSeconds, 0)
	require.Len(t, snap.Edges, 1)
	e := snap.Edges[0]
	assert.Equal(t, "app_east_bookinfo_productpage.app_east_bookinfo_details.http", e.ID)
	assert.Equal(t, "spiffe://cluster.local/ns/bookinfo/sa/productpage", e.SourcePrincipal)
	st := e.Stats[0]
	assert.InDelta(t, 10, st.Requests, 1e-9, "9 served + 1 connection failure only the client saw")
	assert.InDelta(t, 1, st.ClientOnlyFailures, 1e-9)
	assert.InDelta(t, 10.0/60, st.RequestRate, 1e-9)

	forms, auth := f.sent()
	require.Len(t, forms, 22, "11 queries per window")
	assert.Equal(t, "1795262400.000", forms[0]["time"])
	for _, a := range auth {
		assert.Equal(t, "Bearer s3cret", a)
	}
	windows := map[string]bool{}
	for _, fm := range forms {
		assert.Contains(t, fm["query"], `{job="meshlens"}`)
		windows[strings.Fields(fm["query"][strings.Index(fm["query"], " offset ")+8:])[0]] = true
	}
	assert.Equal(t, map[string]bool{"60000ms)": true, "600000ms)": true}, windows)
}

func TestGlobalRoutes(t *testing.T) {
	f := newFakePrometheus(t)
	h := globalLive(t, f, 5*time.Second)
	tests := []struct {
		name, target string
		contains     string
		window, time string
	}{
		{"kiali", "/api/namespaces/graph?source=prometheus&namespaces=bookinfo", `"duration":600`, "600000ms", "1795262400.000"},
		{"dot", "/api/v1/graph.dot?source=prometheus&duration=2h", "digraph", "7200000ms", "1795262400.000"},
		{"format dot", "/api/v1/graph?source=prometheus&format=dot&duration=90s", "digraph", "90000ms", "1795262400.000"},
		{"old queryTime with milliseconds", "/api/v1/graph?source=prometheus&duration=1m&queryTime=1700000000.125", `"source":"prometheus"`, "60000ms", "1700000000.125"},
		{"queryTime with one decimal", "/api/v1/graph?source=prometheus&duration=1m&queryTime=1700000000.5", `"source":"prometheus"`, "60000ms", "1700000000.500"},
		{"future queryTime is now", "/api/v1/graph?source=prometheus&duration=1m&queryTime=1900000000", `"source":"prometheus"`, "60000ms", "1795262400.000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := f.sent()
			code, body := get(t, h, tt.target)
			require.Equal(t, http.StatusOK, code, string(body))
			assert.Contains(t, string(body), tt.contains)
			forms, _ := f.sent()
			forms = forms[len(before):]
			require.Len(t, forms, 11)
			assert.Contains(t, forms[0]["query"], " offset "+tt.window+")")
			assert.Equal(t, tt.time, forms[0]["time"])
		})
	}
}

func TestGlobalErrors(t *testing.T) {
	f := newFakePrometheus(t)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name    string
		live    func(t *testing.T) http.Handler
		answer  func(w http.ResponseWriter, q string) bool
		target  string
		code    int
		want    string // substring of the error
		exactly bool
	}{
		{
			name: "not configured", live: func(t *testing.T) http.Handler { return newLive(t, Options{}).Handler(fixedNow) },
			target: "/api/v1/graph?source=prometheus", code: http.StatusBadRequest, exactly: true,
			want: "bad query: source=prometheus needs topology::global::prometheus_url in the meshlens configuration",
		},
		{
			name: "bad source", target: "/api/v1/graph?source=mimir", code: http.StatusBadRequest, exactly: true,
			want: `bad query: invalid source "mimir": want one of local, prometheus`,
		},
		{
			name: "stream", target: "/api/v1/graph/stream?source=prometheus", code: http.StatusBadRequest, exactly: true,
			want: "bad query: the stream serves this instance's live graph only: poll /api/v1/graph?source=prometheus for the global graph",
		},
		{
			name: "window beyond 30 days", target: "/api/v1/graph?source=prometheus&duration=31d", code: http.StatusBadRequest, exactly: true,
			want: "bad query: duration 744h0m0s exceeds the longest window (720h0m0s)",
		},
		{
			name: "queryTime with four decimals", target: "/api/v1/graph?source=prometheus&queryTime=1700000000.1234", code: http.StatusBadRequest, exactly: true,
			want: `bad query: invalid queryTime "1700000000.1234": want unix seconds`,
		},
		{
			name: "queryTime negative", target: "/api/v1/graph?source=prometheus&queryTime=-5", code: http.StatusBadRequest, exactly: true,
			want: `bad query: invalid queryTime "-5": want unix seconds`,
		},
		{
			name: "prometheus error", target: "/api/v1/graph?source=prometheus&duration=1m", code: http.StatusBadGateway,
			answer: func(w http.ResponseWriter, q string) bool {
				if !strings.Contains(q, "istio_tcp_sent_bytes_total") {
					return false
				}
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = w.Write([]byte(`{"status":"error","errorType":"execution","error":"query processing would load too many samples into memory"}`))
				return true
			},
			want: `answered HTTP 422: execution: query processing would load too many samples into memory`,
		},
		{
			name: "not Prometheus", target: "/api/namespaces/graph?source=prometheus&namespaces=a", code: http.StatusBadGateway,
			answer: func(w http.ResponseWriter, _ string) bool {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>upstream down</html>"))
				return true
			},
			want: `answered HTTP 502 with no Prometheus API JSON: "<html>upstream down</html>"`,
		},
		{
			name: "not a vector", target: "/api/v1/graph?source=prometheus&duration=1m", code: http.StatusBadGateway,
			answer: func(w http.ResponseWriter, _ string) bool {
				_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`))
				return true
			},
			want: `result type "matrix", want vector`,
		},
		{
			name: "bad value", target: "/api/v1/graph?source=prometheus&duration=1m", code: http.StatusBadGateway,
			answer: func(w http.ResponseWriter, _ string) bool {
				_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}`))
				return true
			},
			want: `bad sample value "many"`,
		},
		{
			name: "slow", target: "/api/v1/graph?source=prometheus&duration=1m", code: http.StatusBadGateway,
			live: func(t *testing.T) http.Handler { return globalLive(t, f, 100*time.Millisecond) },
			answer: func(_ http.ResponseWriter, _ string) bool {
				time.Sleep(300 * time.Millisecond)
				return false
			},
			want: "did not answer within 100ms (topology::global::timeout)",
		},
		{
			name: "unreachable", target: "/api/v1/graph?source=prometheus&duration=1m", code: http.StatusBadGateway,
			live: func(t *testing.T) http.Handler {
				l, err := NewLive(topology.Config{Global: topology.GlobalConfig{PrometheusURL: downURL}}, Options{})
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, l.Close()) })
				return l.Handler(fixedNow)
			},
			want: "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.answer = tt.answer
			f.mu.Unlock()
			live := tt.live
			if live == nil {
				live = func(t *testing.T) http.Handler { return globalLive(t, f, 5*time.Second) }
			}
			code, body := get(t, live(t), tt.target)
			assert.Equal(t, tt.code, code, string(body))
			var e errorBody
			require.NoError(t, json.Unmarshal(body, &e), string(body))
			if tt.exactly {
				assert.Equal(t, tt.want, e.Error)
			} else {
				assert.Contains(t, e.Error, tt.want)
				assert.True(t, strings.HasPrefix(e.Error, "prometheus query failed: "), e.Error)
			}
		})
	}
}

func TestNewLiveGlobalConfig(t *testing.T) {
	_, err := NewLive(topology.Config{Global: topology.GlobalConfig{PrometheusURL: "ftp://x"}}, Options{})
	require.EqualError(t, err, `create topology graph: global: prometheus_url "ftp://x" must be an http:// or https:// URL with a host`)
	l, err := NewLive(topology.Config{Global: topology.GlobalConfig{PrometheusURL: "http://127.0.0.1:1", Username: "u", Password: "p"}}, Options{})
	require.NoError(t, err)
	require.NotNil(t, l.global)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "idempotent")
}
