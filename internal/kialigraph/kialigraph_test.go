package kialigraph

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCode(t *testing.T) {
	tests := []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"http", map[string]string{"request_protocol": "http", "response_code": "503"}, "503"},
		{"no response", map[string]string{"request_protocol": "http", "response_code": "0"}, "-"},
		{"grpc status", map[string]string{"request_protocol": "grpc", "response_code": "200", "grpc_response_status": "14"}, "14"},
		{"grpc ok", map[string]string{"request_protocol": "grpc", "response_code": "200", "grpc_response_status": "0"}, "0"},
		{"grpc over an http error", map[string]string{"request_protocol": "grpc", "response_code": "503", "grpc_response_status": "14"}, "503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, Code(tt.labels)) })
	}
}

func TestNodes(t *testing.T) {
	base := map[string]string{
		"source_cluster": "c", "source_workload_namespace": "ns", "source_workload": "a-v1", "source_canonical_service": "a",
		"destination_cluster": "c", "destination_service_namespace": "ns", "destination_service_name": "b",
		"destination_workload_namespace": "ns", "destination_workload": "b-v1", "destination_canonical_service": "b",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name, graphType string
		labels          map[string]string
		src, dst        string
	}{
		{"workloads", "workload", base, "wl_c_ns_a-v1", "wl_c_ns_b-v1"},
		{"apps", "app", base, "app_c_ns_a", "app_c_ns_b"},
		{"unknown callee", "workload", with("destination_workload", "unknown", "destination_workload_namespace", "unknown"), "wl_c_ns_a-v1", "svc_c_ns_b"},
		{"unknown caller", "workload", with("source_workload", "unknown", "source_workload_namespace", "unknown", "source_canonical_service", "unknown", "source_cluster", "unknown"), "unknown_unknown_source", "wl_c_ns_b-v1"},
		{"unknown destination cluster", "workload", with("destination_cluster", "unknown"), "wl_c_ns_a-v1", "wl_c_ns_b-v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := Nodes(tt.labels, tt.graphType)
			assert.Equal(t, tt.src, src)
			assert.Equal(t, tt.dst, dst)
		})
	}
}

// TestCompute: the destination's series wins where both reporters have
// the same one; what only the source reported is added.
func TestCompute(t *testing.T) {
	ls := func(reporter, code, flags string) map[string]string {
		return map[string]string{
			"reporter": reporter, "request_protocol": "http", "response_code": code, "response_flags": flags,
			"source_workload": "a", "source_workload_namespace": "ns", "source_cluster": "c",
			"destination_workload": "b", "destination_workload_namespace": "ns", "destination_cluster": "c",
			"destination_service_name": "b", "destination_service_namespace": "ns",
		}
	}
	series := []Series{
		{"istio_requests_total", ls("source", "200", "-"), 100},
		{"istio_requests_total", ls("destination", "200", "-"), 98},
		{"istio_requests_total", ls("source", "503", "UF"), 5},
		{"istio_requests_total", ls("destination", "500", "-"), 3},
	}
	got := Compute(series, "workload")
	want := map[string]*Edge{"wl_c_ns_a wl_c_ns_b http": {Requests: 106, Responses: map[string]float64{"200 -": 98, "503 UF": 5, "500 -": 3}}}
	assert.Empty(t, Diff(want, got, 0))
	got["wl_c_ns_a wl_c_ns_b http"].Requests++
	assert.Len(t, Diff(want, got, 0), 1, "Diff sees a difference")
}
