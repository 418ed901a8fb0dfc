package topology_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// TestServiceGraphWorkloadBehindTwoServices: in a service graph, a
// workload reached through two services calls out from each of them, as
// Kiali repeats the workload's outgoing edges under every service that
// fronts it (it hung them all on one service).
func TestServiceGraphWorkloadBehindTwoServices(t *testing.T) {
	g := newGraph(t, topology.Config{})
	canary := meshtest.Service("shop", "backend-canary")
	db := meshtest.Workload("shop", "db-v1", "db", "v1")
	viaSvc := call(meshtest.BothSides, 20, 200)
	viaCanary := call(meshtest.BothSides, 5, 200)
	viaCanary.Service = canary
	out := meshtest.Call{
		From: backend, To: db, Service: meshtest.Service("shop", "db"), Protocol: accesslog.ProtocolHTTP,
		Code: 200, GRPC: -1, Duration: time.Millisecond, Sides: meshtest.BothSides, Count: 7, MTLS: true,
	}
	observe(g, testNow, viaSvc, viaCanary, out)
	snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Granularity: topology.Service, Windows: []time.Duration{time.Minute}})
	require.NoError(t, err)
	got := map[string]float64{}
	for _, e := range snap.Edges {
		got[e.Source+" "+e.Target] += e.Stats[0].Requests
	}
	assert.Equal(t, map[string]float64{
		"wl_east_shop_frontend-v1 svc_east_shop_backend":        20,
		"wl_east_shop_frontend-v1 svc_east_shop_backend-canary": 5,
		"svc_east_shop_backend svc_east_shop_db":                7,
		"svc_east_shop_backend-canary svc_east_shop_db":         7,
	}, got)
}

// TestExternalServiceInCallersNamespace: a host outside the mesh, whose
// namespace no label says (a ServiceEntry's: only Kubernetes knows it), is
// drawn in its caller's namespace rather than "unknown", where Kiali's UI
// would put it out of every namespace graph; Istio's PassthroughCluster
// and BlackHoleCluster stay in "unknown", as in Kiali.
func TestExternalServiceInCallersNamespace(t *testing.T) {
	g := newGraph(t, topology.Config{})
	ext := call(meshtest.ClientSide, 3, 200)
	ext.To = meshtest.Unknown
	ext.Service = accesslog.Service{Host: "api.external.com", Name: "api.external.com", Namespace: "unknown"}
	pass := ext
	pass.Service = accesslog.Service{Host: "PassthroughCluster", Name: "PassthroughCluster", Namespace: "unknown"}
	observe(g, testNow, ext, pass)
	for _, gran := range []topology.Granularity{topology.Workload, topology.App, topology.Service} {
		snap, err := g.Snapshot(testNow, topology.SnapshotOptions{Granularity: gran, Windows: []time.Duration{time.Minute}})
		require.NoError(t, err)
		ns := map[string]string{}
		for _, n := range snap.Nodes {
			if n.Type == topology.NodeService {
				ns[n.Service] = n.Namespace
			}
		}
		assert.Equal(t, map[string]string{"api.external.com": "shop", "PassthroughCluster": "unknown"}, ns, gran.String())
	}
}

// TestFocusKeepsTheNodesShare: a node graph (Focus) keeps the traffic of
// its node alone, so the edge into the service node in front of backend-v1
// carries v1's requests, not the service's (v1 and v2), as Kiali's node
// graph, which queries v1's series.
func TestFocusKeepsTheNodesShare(t *testing.T) {
	g := newGraph(t, topology.Config{})
	v1 := call(meshtest.BothSides, 30, 200)
	v2 := call(meshtest.BothSides, 10, 200)
	v2.To = backend2
	observe(g, testNow, v1, v2)
	for _, tt := range []struct {
		name  string
		focus func(topology.End) bool
		want  map[string]float64
	}{
		{"none", nil, map[string]float64{
			"wl_east_shop_frontend-v1 svc_east_shop_backend": 40,
			"svc_east_shop_backend wl_east_shop_backend-v1":  30,
			"svc_east_shop_backend wl_east_shop_backend-v2":  10,
		}},
		{"backend-v1", func(e topology.End) bool { return e.Namespace == "shop" && e.Workload == "backend-v1" }, map[string]float64{
			"wl_east_shop_frontend-v1 svc_east_shop_backend": 30,
			"svc_east_shop_backend wl_east_shop_backend-v1":  30,
		}},
		{"service backend", func(e topology.End) bool { return e.ServiceNamespace == "shop" && e.Service == "backend" }, map[string]float64{
			"wl_east_shop_frontend-v1 svc_east_shop_backend": 40,
			"svc_east_shop_backend wl_east_shop_backend-v1":  30,
			"svc_east_shop_backend wl_east_shop_backend-v2":  10,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := g.Snapshot(testNow, topology.SnapshotOptions{
				Windows: []time.Duration{time.Minute}, InjectServiceNodes: true, Focus: tt.focus,
			})
			require.NoError(t, err)
			got := map[string]float64{}
			for _, e := range snap.Edges {
				got[e.Source+" "+e.Target] += e.Stats[0].Requests
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
