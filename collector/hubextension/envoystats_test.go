package hubextension

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog"
)

// TestEnvoyStatsNodeLabels: the node labels of the envoy_* series come from
// the one parser of a node's identity, accesslog.Proxy, as the receiver
// builds it from the Metrics Service stream's identifier.
func TestEnvoyStatsNodeLabels(t *testing.T) {
	md := func(kv map[string]any) *structpb.Struct {
		s, err := structpb.NewStruct(kv)
		require.NoError(t, err)
		return s
	}
	tests := []struct {
		name          string
		id, cluster   string
		metadata      *structpb.Struct
		wantNamespace string
		wantWorkload  string
		wantPod       string
	}{
		{
			name: "istio sidecar", id: "sidecar~10.0.0.1~productpage-v1-abc.bookinfo~bookinfo.svc.cluster.local", cluster: "productpage.bookinfo",
			metadata:      md(map[string]any{"NAMESPACE": "bookinfo", "WORKLOAD_NAME": "productpage-v1", "NAME": "productpage-v1-abc"}),
			wantNamespace: "bookinfo", wantWorkload: "productpage-v1", wantPod: "productpage-v1-abc",
		},
		{
			name: "istio 1.1 metadata", id: "sidecar~10.0.0.2~details-v1-xyz.default~default.svc.cluster.local",
			metadata:      md(map[string]any{"CONFIG_NAMESPACE": "default", "POD_NAME": "details-v1-xyz"}),
			wantNamespace: "default", wantWorkload: "details-v1-xyz", wantPod: "details-v1-xyz",
		},
		{
			name: "gateway, node id only", id: "router~10.44.2.56~istio-ingressgateway-699c7dc774-hjxq5.istio-system~istio-system.svc.cluster.local", cluster: "istio-ingressgateway",
			wantNamespace: "istio-system", wantWorkload: "istio-ingressgateway", wantPod: "istio-ingressgateway-699c7dc774-hjxq5",
		},
		{
			// The Envoy 1.19 capture's node: SkyWalking's metadata, not Istio's.
			name: "plain envoy", id: "ingress", cluster: "envoy-proxy",
			metadata:     md(map[string]any{"NAME": "service-instance-name"}),
			wantWorkload: "envoy-proxy", wantPod: "service-instance-name",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), time.Now)
			require.NoError(t, err)
			live := &dto.MetricFamily{
				Name: proto.String("server.live"), Type: dto.MetricType_GAUGE.Enum(),
				Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}},
			}
			h.ConsumeEnvoyStats(accesslog.NewProxy(tt.id, tt.cluster, tt.metadata), []*dto.MetricFamily{live}, time.Now())
			fams, err := prometheus.Gatherers(h.gatherers).Gather()
			require.NoError(t, err)
			var got map[string]string
			for _, f := range fams {
				if f.GetName() == "envoy_server_live" {
					require.Len(t, f.GetMetric(), 1)
					got = map[string]string{}
					for _, l := range f.GetMetric()[0].GetLabel() {
						got[l.GetName()] = l.GetValue()
					}
				}
			}
			assert.Equal(t, map[string]string{
				"node_id": tt.id, "node_cluster": tt.cluster, "namespace": tt.wantNamespace,
				"workload": tt.wantWorkload, "pod": tt.wantPod,
			}, got)
		})
	}
}
