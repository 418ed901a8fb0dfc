package loadgen

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBookinfoIsValid(t *testing.T) {
	m := Bookinfo()
	require.NoError(t, m.Validate())
	assert.True(t, reflect.DeepEqual(m, Bookinfo()), "Bookinfo must be constant")

	byName := map[string]Workload{}
	for _, w := range m.Workloads {
		byName[w.Name] = w
	}
	for _, name := range []string{"istio-ingressgateway", "productpage-v1", "details-v1", "reviews-v1", "reviews-v2", "reviews-v3", "ratings-v1"} {
		assert.Contains(t, byName, name)
	}
	protocols := map[Protocol]bool{}
	external := map[ExternalMode]bool{}
	svc := map[string]Service{}
	for _, s := range m.Services {
		svc[s.Ref()] = s
	}
	for _, e := range m.Edges {
		protocols[e.Protocol] = true
		external[svc[e.To].External] = true
	}
	assert.Len(t, protocols, 3, "http, grpc and tcp edges")
	assert.Len(t, external, 3, "in-mesh, passthrough and ServiceEntry destinations")
	assert.True(t, byName["istio-ingressgateway"].Gateway)
}

func TestSyntheticIsValidAndDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		services, workloads, edge int
	}{
		{"tiny", 1, 1, 1},
		{"small", 5, 2, 12},
		{"large", 120, 3, 600},
		{"more edges than pairs", 3, 1, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Synthetic(tc.services, tc.workloads, tc.edge, 7)
			require.NoError(t, m.Validate())
			assert.True(t, reflect.DeepEqual(m, Synthetic(tc.services, tc.workloads, tc.edge, 7)))
			assert.LessOrEqual(t, len(m.Edges), tc.edge)
			assert.Len(t, m.Workloads, tc.services*tc.workloads+1)
		})
	}
	assert.False(t, reflect.DeepEqual(Synthetic(20, 2, 50, 1), Synthetic(20, 2, 50, 2)))
}

func TestValidateReportsErrors(t *testing.T) {
	good := Bookinfo
	for _, tc := range []struct {
		name   string
		mutate func(*Mesh)
		want   string
	}{
		{"unknown caller", func(m *Mesh) { m.Edges[0].From = "default/nope" }, `unknown workload "default/nope"`},
		{"unknown service", func(m *Mesh) { m.Edges[0].To = "default/nope" }, `unknown service "default/nope"`},
		{"error shares", func(m *Mesh) { m.Edges[0].Errors = ErrorMix{HTTP5xx: 0.7, HTTP4xx: 0.7} }, "error shares sum above 1"},
		{"grpc errors on http", func(m *Mesh) { m.Edges[0].Errors.GRPCError = 0.1 }, "GRPCError on a http edge"},
		{"latency", func(m *Mesh) { m.Edges[0].Latency = Latency{Median: time.Second, P99: time.Millisecond} }, "latency needs"},
		{"protocol", func(m *Mesh) { m.Edges[0].Protocol = "udp" }, `unknown protocol "udp"`},
		{"no pods", func(m *Mesh) { m.Workloads[2].Pods = nil }, `workload "default/details-v1": no pods`},
		{"no edges", func(m *Mesh) { m.Edges = nil }, "no edges"},
		{"duplicate workload name", func(m *Mesh) {
			w := m.Workloads[2]
			w.Namespace, w.Service = "istio-system", ""
			m.Workloads = append(m.Workloads, w)
		}, "name not unique"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.mutate(&m)
			err := m.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Panics(t, func() { m.Generate(GenConfig{Requests: 1}) })
		})
	}
}

func TestPodNames(t *testing.T) {
	a, b := podName("reviews-v2", 0), podName("reviews-v2", 1)
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^reviews-v2-[a-z0-9]{10}-[a-z0-9]{5}$`, a)
	assert.Equal(t, replicaSetHash(a, "reviews-v2"), replicaSetHash(b, "reviews-v2"))
}
