package accesslog

import (
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/internal/captures"
)

func decodeSample(t *testing.T, file string) Record {
	t.Helper()
	var m alsv3.StreamAccessLogsMessage
	readJSON(t, captures.Dir(t, "als", "skywalking", "clean-json", file), &m)
	recs, _, err := NewStream(Config{}, nil).Decode(marshal(t, &m), nil, testNow)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	return recs[0]
}

// TestBookinfoIdentities checks the identities the four real Bookinfo
// captures must produce: the upstream expectations (SkyWalking's e2e
// topology) name gateway → productpage → details, reviews.
func TestBookinfoIdentities(t *testing.T) {
	tests := []struct {
		file                  string
		reporter              Reporter
		source, dest, service string
		svcName, svcNamespace string
		sourceFrom, destFrom  IdentitySource
	}{
		{
			"envoy-ingress.json", ReporterSource, "istio-ingressgateway", unknown,
			"productpage.default.svc.cluster.local", "productpage", "default", FromNodeID, FromClusterName,
		},
		{
			"envoy-ingress2sidecar.json", ReporterDestination, unknown, "product-v1",
			"productpage.default.svc.cluster.local", "productpage", "default", FromNone, FromNodeID,
		},
		{
			"envoy-mesh-client-sidecar.json", ReporterSource, "productpage-v1", unknown,
			"details.default.svc.cluster.local", "details", "default", FromNodeID, FromClusterName,
		},
		{
			"envoy-mesh-server-sidecar.json", ReporterDestination, unknown, "reviews-v1",
			"reviews.default.svc.cluster.local", "reviews", "default", FromNone, FromNodeID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			r := decodeSample(t, tt.file)
			assert.Equal(t, tt.reporter, r.Reporter)
			assert.Equal(t, tt.source, r.Source.Name)
			assert.Equal(t, tt.dest, r.Destination.Name)
			assert.Equal(t, tt.service, r.Service.Host)
			assert.Equal(t, tt.svcName, r.Service.Name)
			assert.Equal(t, tt.svcNamespace, r.Service.Namespace)
			assert.Equal(t, tt.sourceFrom, r.SourceFrom)
			assert.Equal(t, tt.destFrom, r.DestinationFrom)
			assert.Equal(t, ProtocolHTTP, r.Protocol)
			assert.Equal(t, "200", r.ResponseCodeLabel())
			assert.Equal(t, "-", r.Flags.String())
			assert.True(t, r.Final)
		})
	}
	// The gateway's client-side view names productpage's service as the
	// destination's canonical service.
	gw := decodeSample(t, "envoy-ingress.json")
	assert.Equal(t, "productpage", gw.Destination.CanonicalService)
	assert.Equal(t, "istio-system", gw.Source.Namespace)
	assert.Equal(t, SecurityUnknown, gw.Security)
	pp := decodeSample(t, "envoy-ingress2sidecar.json")
	assert.Equal(t, "product", pp.Destination.App)
	assert.Equal(t, "v1", pp.Destination.Version)
	assert.Equal(t, SecurityNone, pp.Security)
	assert.InDelta(t, 1008.378251, float64(pp.DurationNanos)/1e6, 1e-6, "duration falls back to time_to_last_downstream_tx_byte")
}
