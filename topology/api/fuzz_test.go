package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzGraphQuery feeds arbitrary query strings to the query parser and the
// graph endpoints: they answer 200 with valid JSON or 400 with a JSON
// error, and never panic.
func FuzzGraphQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"namespaces=bookinfo",
		"namespaces=bookinfo,bankapp&graphType=versionedApp&duration=600s&boxBy=app,namespace,cluster",
		"namespaces=bookinfo&graphType=service&duration=60&queryTime=1795262390&includeIdleEdges=true",
		"namespaces=a&appenders=&rateGrpc=total&rateTcp=received&responseTime=avg&throughputType=request",
		"graphType=app&duration=1m&injectServiceNodes=true&format=dot",
		"duration=-5m&queryTime=-1&namespaces=%00",
		"namespaces=bookinfo&duration=1h&graphType=Workload",
		"duration=9223372036854775807s&queryTime=9223372036854775807",
		"namespaces=" + string(make([]byte, 70)),
		"%zz&;;==&namespaces",
	} {
		f.Add(seed)
	}
	l := meshLive(f)
	h := l.Handler(fixedNow)
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		if q, err := parseQuery(v, limits{longest: l.longestWindow(), kiali: true}, testNow); err == nil {
			_ = q.key()
		}
		for _, path := range []string{"/api/namespaces/graph", "/api/v1/graph"} {
			req := &http.Request{
				Method: http.MethodGet, URL: &url.URL{Path: path, RawQuery: raw},
				Header: http.Header{}, Host: "example.com",
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				if rec.Header().Get("Content-Type") == "application/json" && !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("%s?%s: invalid JSON", path, raw)
				}
			case http.StatusBadRequest:
				var e errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("%s?%s: 400 without an error message: %q", path, raw, rec.Body.String())
				}
			default:
				t.Fatalf("%s?%s: status %d: %s", path, raw, rec.Code, rec.Body.String())
			}
		}
	})
}

// FuzzKialiMetricsQuery feeds arbitrary query strings to the Kiali metrics
// parser and the Kiali endpoints that read parameters (metrics, health,
// node graphs): 200 with valid JSON or 400 with a JSON error, never a
// panic, and never more points than the bound.
func FuzzKialiMetricsQuery(f *testing.F) {
	for _, seed := range []string{
		"",
		"queryTime=1795262400&duration=60&step=30&rateInterval=30s&filters[]=request_count&filters[]=request_error_count&byLabels[]=request_protocol&direction=inbound&reporter=destination",
		"duration=600&step=5&rateInterval=10m&filters[]=request_duration_millis&quantiles[]=0.5&quantiles[]=0.99&avg=false",
		"filters=tcp_sent,tcp_received&direction=outbound&reporter=source",
		"duration=0&step=-1&rateInterval=-1s&queryTime=1e99",
		"type=service&rateInterval=60s",
		"graphType=versionedApp&duration=60s&injectServiceNodes=true",
		"%zz&;;==&filters[]",
	} {
		f.Add(seed)
	}
	l := meshLive(f)
	h := l.Handler(fixedNow)
	f.Fuzz(func(t *testing.T, raw string) {
		v, _ := url.ParseQuery(raw)
		if q, err := parseMetricsQuery(v, testNow, l.longestWindow()); err == nil && q.duration/q.step > maxMetricsPoints {
			t.Fatalf("%s: %d points", raw, q.duration/q.step)
		}
		for _, path := range []string{
			"/api/namespaces/bookinfo/workloads/ratings-v1/metrics", "/api/namespaces/bookinfo/health",
			"/api/namespaces/bookinfo/services/ratings/graph",
		} {
			req := &http.Request{
				Method: http.MethodGet, URL: &url.URL{Path: path, RawQuery: raw},
				Header: http.Header{}, Host: "example.com",
			}
			req.SetPathValue("ns", "bookinfo")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				if !json.Valid(rec.Body.Bytes()) {
					t.Fatalf("%s?%s: invalid JSON", path, raw)
				}
			case http.StatusBadRequest:
				var e errorBody
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
					t.Fatalf("%s?%s: 400 without a JSON error: %q", path, raw, rec.Body.String())
				}
			default:
				t.Fatalf("%s?%s: status %d", path, raw, rec.Code)
			}
		}
	})
}
