package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkHandlerLarge measures the HTTP API's latency (snapshot,
// rendering and JSON encoding, through the handler) for a mesh of 1,000
// services and 10,000 edges, each reported by both sides.
func BenchmarkHandlerLarge(b *testing.B) {
	l, _ := largeLive(b)
	h := l.Handler(fixedNow)
	nsList := "ns-0"
	for i := 1; i < 20; i++ {
		nsList += ",ns-" + itoa(int64(i))
	}
	for _, bc := range []struct{ name, target string }{
		{"graph/workload", "/api/v1/graph"},
		{"graph/service-10m", "/api/v1/graph?graphType=service&duration=10m"},
		{"kiali/workload", "/api/namespaces/graph?namespaces=" + nsList},
		{"kiali/app-injected", "/api/namespaces/graph?graphType=app&injectServiceNodes=true&namespaces=" + nsList},
		{"kiali/one-namespace", "/api/namespaces/graph?namespaces=ns-3"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var size int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequestWithContext(b.Context(), http.MethodGet, bc.target, http.NoBody))
				if rec.Code != http.StatusOK {
					b.Fatalf("%d: %s", rec.Code, rec.Body)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size), "resp-bytes")
		})
	}
}
