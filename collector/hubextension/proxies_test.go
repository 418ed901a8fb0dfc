package hubextension

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/completeness"
)

// TestProxiesEndpoint: GET /api/v1/proxies answers from the completeness
// tracker, a proxy mapped to its workload by its node's identity: the local
// side of its records, or its Metrics Service stream's node metadata.
func TestProxiesEndpoint(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), func() time.Time { return t0 })
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Shutdown(context.Background())) })

	const (
		lossy   = "sidecar~10.0.0.1~productpage-v1-0.default~default.svc.cluster.local"
		noStats = "sidecar~10.0.0.2~productpage-v1-1.default~default.svc.cluster.local"
		whole   = "sidecar~10.0.0.3~productpage-v1-2.default~default.svc.cluster.local"
	)
	pp := accesslog.Workload{Cluster: "Kubernetes", Namespace: "default", Name: "productpage-v1"}
	md, err := structpb.NewStruct(map[string]any{"NAMESPACE": "default", "WORKLOAD_NAME": "productpage-v1", "CLUSTER_ID": "Kubernetes"})
	require.NoError(t, err)
	stats := func(node string, written, dropped float64) {
		fam := func(name string, v float64) *dto.MetricFamily {
			return &dto.MetricFamily{Name: proto.String(name), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(v)}}}}
		}
		h.ConsumeEnvoyStats(accesslog.NewProxy(node, "productpage.default", md),
			[]*dto.MetricFamily{fam(completeness.StatLogsWritten, written), fam(completeness.StatLogsDropped, dropped)}, t0)
	}
	records := func(node string, n int) {
		recs := make([]accesslog.Record, n)
		for i := range recs {
			recs[i] = accesslog.Record{NodeID: node, Reporter: accesslog.ReporterDestination, Destination: pp, Source: accesslog.Workload{Name: "unknown"}}
		}
		require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), recs))
	}
	stats(lossy, 1000, 0) // the base
	records(lossy, 75)
	stats(lossy, 1075, 25) // 25 dropped by the Envoy
	records(noStats, 40)
	stats(whole, 0, 0)
	records(whole, 100)
	stats(whole, 100, 0)

	tests := []struct{ name, query, want string }{
		{"the workload's proxies", "namespace=default&workload=productpage-v1&cluster=Kubernetes", `{
			"cluster": "Kubernetes", "namespace": "default", "workload": "productpage-v1", "incompleteBelow": 0.99,
			"proxies": [
				{"nodeId": "` + lossy + `", "cluster": "Kubernetes", "state": "incomplete", "received": 75,
				 "envoy": {"written": 75, "dropped": 25, "received": 75, "missing": 25, "ratio": 0.75}},
				{"nodeId": "` + noStats + `", "cluster": "Kubernetes", "state": "no_counters", "received": 40},
				{"nodeId": "` + whole + `", "cluster": "Kubernetes", "state": "complete", "received": 100,
				 "envoy": {"written": 100, "dropped": 0, "received": 100, "missing": 0, "ratio": 1}}
			]}`},
		{"another cluster", "namespace=default&workload=productpage-v1&cluster=east", `{
			"cluster": "east", "namespace": "default", "workload": "productpage-v1", "incompleteBelow": 0.99, "proxies": []}`},
	}
	srv := httptest.NewServer(h.graph.Handler(h.now))
	t.Cleanup(srv.Close)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/v1/proxies?"+tt.query, http.NoBody)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			assert.JSONEq(t, tt.want, string(body))
		})
	}
}
