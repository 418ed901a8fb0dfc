package accesslog

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	datav3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestFlavours: for every Envoy flavour meshlens claims, an entry named the
// way the product names things (node id, node cluster and metadata, cluster
// names, certificates; docs/getting-started-envoy.md cites where each form
// comes from) lands on the right side of the hop with the right peer.
func TestFlavours(t *testing.T) {
	consulMD, _ := structpb.NewStruct(map[string]any{"namespace": "default", "partition": "default", "node_name": "agentless-node"})
	consul := &corev3.Node{Id: "web-7d9f-web-sidecar-proxy", Cluster: "web", Metadata: consulMD}
	appMesh := &corev3.Node{Id: "mesh/howto-k8s-mtls-sds-based/virtualNode/blue_howto-k8s-mtls-sds-based", Cluster: "mesh/howto-k8s-mtls-sds-based/virtualNode/blue_howto-k8s-mtls-sds-based"}
	appMeshGW := &corev3.Node{Id: "mesh/cb-mesh/virtualGateway/colorgateway-vg", Cluster: "mesh/cb-mesh/virtualGateway/colorgateway-vg"}
	eg := &corev3.Node{Id: "envoy-default-eg-e41e7b31-6f998d85d7-jpvmj", Cluster: "default/eg"}
	plain := &corev3.Node{Id: "edge-7c9d", Cluster: "edge"}
	const td = "11111111-2222-3333-4444-555555555555.consul"
	tests := []struct {
		name     string
		node     *corev3.Node
		kind     ProxyKind
		cluster  string
		tls      *datav3.TLSProperties
		reporter Reporter
		src, dst [2]string // workload name, namespace
		svc      Service
		security SecurityPolicy
	}{
		{
			name: "Consul inbound: local_app, caller from its certificate", node: consul, kind: ProxyConsul, cluster: "local_app",
			tls:      tlsSANs("spiffe://"+td+"/ns/default/dc/dc1/svc/web", "spiffe://"+td+"/ns/shop/dc/dc1/svc/frontend"),
			reporter: ReporterDestination, src: [2]string{"frontend", "shop"}, dst: [2]string{"web", "default"},
			svc: Service{"web.service.consul", "web", "default"}, security: SecurityMutualTLS,
		},
		{
			name: "Consul outbound: the upstream's SNI-style cluster", node: consul, kind: ProxyConsul,
			cluster:  "a1b2c3~db.default.dc1.internal." + td,
			reporter: ReporterSource, src: [2]string{"web", "default"}, dst: [2]string{"db", "default"},
			svc: Service{"db.service.consul", "db", "default"},
		},
		{
			name: "Consul outbound to a non-default partition", node: consul, kind: ProxyConsul,
			cluster:  "v2.db.billing.ap1.dc1.internal-v1." + td,
			reporter: ReporterSource, src: [2]string{"web", "default"}, dst: [2]string{"db", "billing"},
			svc: Service{"db.service.billing.ns.consul", "db", "billing"},
		},
		{
			name: "App Mesh inbound: cds_ingress_", node: appMesh, kind: ProxyAppMesh,
			cluster:  "cds_ingress_howto-k8s-mtls-sds-based_blue_howto-k8s-mtls-sds-based_http_8080",
			tls:      tlsSANs("spiffe://howto-k8s-mtls-sds-based.aws/colorblue", "spiffe://howto-k8s-mtls-sds-based.aws/front"),
			reporter: ReporterDestination, src: [2]string{unknown, unknown}, dst: [2]string{"blue", "howto-k8s-mtls-sds-based"},
			svc: Service{"blue_howto-k8s-mtls-sds-based", "blue", "howto-k8s-mtls-sds-based"}, security: SecurityMutualTLS,
		},
		{
			name: "App Mesh outbound: cds_egress_ names the virtual node", node: appMesh, kind: ProxyAppMesh,
			cluster:  "cds_egress_howto-k8s-mtls-sds-based_green_howto-k8s-mtls-sds-based_http_8080",
			reporter: ReporterSource, src: [2]string{"blue", "howto-k8s-mtls-sds-based"}, dst: [2]string{"green", "howto-k8s-mtls-sds-based"},
			svc: Service{"green_howto-k8s-mtls-sds-based", "green", "howto-k8s-mtls-sds-based"},
		},
		{
			name: "App Mesh virtual gateway is a client", node: appMeshGW, kind: ProxyAppMeshGateway,
			cluster:  "cds_egress_cb-mesh_colorteller-white-vn_http_9080",
			reporter: ReporterSource, src: [2]string{"colorgateway-vg", ""}, dst: [2]string{"colorteller-white-vn", unknown},
			svc: Service{"colorteller-white-vn", "colorteller-white-vn", unknown},
		},
		{
			name: "Envoy Gateway: the route cluster names the route and its namespace", node: eg, kind: ProxyEnvoyGateway,
			cluster:  "httproute/shop/backend/rule/0",
			reporter: ReporterSource, src: [2]string{"eg", "default"}, dst: [2]string{unknown, unknown},
			svc: Service{"httproute/shop/backend", "backend", "shop"},
		},
		{
			name: "Envoy Gateway with merged backends names the Service", node: eg, kind: ProxyEnvoyGateway,
			cluster:  "service/shop/backend/3000",
			reporter: ReporterSource, src: [2]string{"eg", "default"}, dst: [2]string{unknown, "shop"},
			svc: Service{"backend.shop.svc.cluster.local", "backend", "shop"},
		},
		{
			name: "plain Envoy: a client of the cluster it names", node: plain, kind: ProxyOther, cluster: "backend_v2",
			reporter: ReporterSource, src: [2]string{"edge", ""}, dst: [2]string{unknown, unknown},
			svc: Service{"backend_v2", "backend_v2", unknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := baseEntry(tt.cluster)
			e.CommonProperties.TlsProperties = tt.tls
			r := normalizeOne(t, tt.node, e)
			assert.Equal(t, tt.reporter, r.Reporter)
			src, dst := [2]string{r.Source.Name, r.Source.Namespace}, [2]string{r.Destination.Name, r.Destination.Namespace}
			assert.Equal(t, tt.src, src, "source")
			assert.Equal(t, tt.dst, dst, "destination")
			assert.Equal(t, tt.svc, r.Service)
			assert.Equal(t, tt.security, r.Security)
			p := NewProxy(tt.node.GetId(), tt.node.GetCluster(), tt.node.GetMetadata())
			assert.Equal(t, tt.kind, p.Kind)
		})
	}
}

func tlsSANs(local, peer string) *datav3.TLSProperties {
	uri := func(u string) *datav3.TLSProperties_CertificateProperties {
		return &datav3.TLSProperties_CertificateProperties{SubjectAltName: []*datav3.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &datav3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: u}},
		}}
	}
	return &datav3.TLSProperties{LocalCertificateProperties: uri(local), PeerCertificateProperties: uri(peer)}
}
