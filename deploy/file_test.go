package deploy

import (
	"slices"
	"testing"

	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// TestIstioFileAccessLogs: deploy/istio/file-accesslogs.yaml is valid for
// istiod and makes every sidecar write Istio's default text format to its
// stdout (what the agent of deploy/collector/filelog-agent.yaml reads and
// meshlens's exporter parses with format istio), with the built-in file
// provider alone on for the mesh.
func TestIstioFileAccessLogs(t *testing.T) {
	const path = "istio/file-accesslogs.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 2 {
		t.Fatalf("%s: want an IstioOperator and a Telemetry, got %d documents", path, len(docs))
	}
	mc := operatorMeshConfig(t, path, docs[0])
	if mc.GetAccessLogFile() != "/dev/stdout" {
		t.Errorf("%s: accessLogFile %q, want /dev/stdout (the container log the kubelet keeps)", path, mc.GetAccessLogFile())
	}
	if mc.GetAccessLogEncoding() != meshv1alpha1.MeshConfig_TEXT {
		t.Errorf("%s: accessLogEncoding %v, want TEXT", path, mc.GetAccessLogEncoding())
	}
	if mc.GetAccessLogFormat() != "" {
		t.Errorf("%s: accessLogFormat set: meshlens's exporter reads Istio's default format unless told", path)
	}
	names := telemetryProviders(t, path, docs[1])
	if !slices.Equal(names, []string{"envoy"}) {
		t.Errorf("%s: Telemetry providers %v, want [envoy] alone (a meshlens provider next to it would report every request twice)", path, names)
	}
}
