package deploy

import (
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"testing"

	"google.golang.org/protobuf/proto"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
	"sigs.k8s.io/yaml"
)

// meshlensService is the in-cluster name of meshlens (deploy/kubernetes/).
const meshlensService = "meshlens.meshlens.svc.cluster.local"

// object is the envelope of a Kubernetes resource; Spec stays raw for a
// typed decode.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec json.RawMessage `json:"spec"`
}

func decodeObject(t *testing.T, path string, doc []byte) object {
	t.Helper()
	var o object
	if err := strictYAML(doc, &o); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "" {
		t.Fatalf("%s: apiVersion, kind and metadata.name are required", path)
	}
	return o
}

// meshConfig decodes a MeshConfig with Istio's own protos: a misspelt or
// misplaced key fails, as it would in istiod.
func meshConfig(t *testing.T, path string, raw any) *meshv1alpha1.MeshConfig {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var mc meshv1alpha1.MeshConfig
	if err := yamlToProto(b, &mc); err != nil {
		t.Fatalf("%s: meshConfig: %v", path, err)
	}
	return &mc
}

func checkRemoteService(t *testing.T, where string, rs *meshv1alpha1.RemoteService) {
	t.Helper()
	host, port, err := net.SplitHostPort(rs.GetAddress())
	if err != nil || host != meshlensService || port != strconv.Itoa(meshlensGRPCPort) {
		t.Errorf("%s: address %q, want %s:%d", where, rs.GetAddress(), meshlensService, meshlensGRPCPort)
	}
}

// TestIstioMeshConfig checks the Telemetry API form: the two providers
// carry what meshlens needs, the Metrics Service points at meshlens, and the
// Helm values and the IstioOperator say the same.
func TestIstioMeshConfig(t *testing.T) {
	const valuesPath, opPath = "istio/istiod-values.yaml", "istio/istio-operator.yaml"
	var values struct {
		MeshConfig map[string]any `json:"meshConfig"`
	}
	if err := strictYAML(readFile(t, valuesPath), &values); err != nil {
		t.Fatalf("%s: %v", valuesPath, err)
	}
	mc := meshConfig(t, valuesPath, values.MeshConfig)

	docs := yamlDocs(t, opPath)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document", opPath)
	}
	op := decodeObject(t, opPath, docs[0])
	if op.APIVersion != "install.istio.io/v1alpha1" || op.Kind != "IstioOperator" {
		t.Fatalf("%s: %s %s, want install.istio.io/v1alpha1 IstioOperator", opPath, op.APIVersion, op.Kind)
	}
	var opSpec struct {
		MeshConfig map[string]any `json:"meshConfig"`
	}
	if err := strictJSON(op.Spec, &opSpec); err != nil {
		t.Fatalf("%s: spec: %v", opPath, err)
	}
	if !proto.Equal(mc, meshConfig(t, opPath, opSpec.MeshConfig)) {
		t.Errorf("%s and %s carry different meshConfigs", valuesPath, opPath)
	}

	providers := map[string]*meshv1alpha1.MeshConfig_ExtensionProvider{}
	for _, p := range mc.GetExtensionProviders() {
		providers[p.GetName()] = p
	}
	http := providers["meshlens"].GetEnvoyHttpAls()
	if http == nil {
		t.Fatal("no envoyHttpAls provider named meshlens")
	}
	if http.GetService() != meshlensService || http.GetPort() != meshlensGRPCPort {
		t.Errorf("meshlens: service %s:%d, want %s:%d", http.GetService(), http.GetPort(), meshlensService, meshlensGRPCPort)
	}
	if m := missing(http.GetFilterStateObjectsToLog(), wantFilterState); len(m) > 0 {
		t.Errorf("meshlens: filterStateObjectsToLog misses %v", m)
	}
	if m := missing(http.GetAdditionalRequestHeadersToLog(), wantRequestHeaders); len(m) > 0 {
		t.Errorf("meshlens: additionalRequestHeadersToLog misses %v", m)
	}
	if m := missing(http.GetAdditionalResponseHeadersToLog(), wantResponseHeaders); len(m) > 0 {
		t.Errorf("meshlens: additionalResponseHeadersToLog misses %v", m)
	}
	if m := missing(http.GetAdditionalResponseTrailersToLog(), wantResponseHeaders); len(m) > 0 {
		t.Errorf("meshlens: additionalResponseTrailersToLog misses %v", m)
	}
	tcp := providers["meshlens-tcp"].GetEnvoyTcpAls()
	if tcp == nil {
		t.Fatal("no envoyTcpAls provider named meshlens-tcp")
	}
	if tcp.GetService() != meshlensService || tcp.GetPort() != meshlensGRPCPort {
		t.Errorf("meshlens-tcp: service %s:%d, want %s:%d", tcp.GetService(), tcp.GetPort(), meshlensService, meshlensGRPCPort)
	}
	if m := missing(tcp.GetFilterStateObjectsToLog(), wantTCPFilterState); len(m) > 0 {
		t.Errorf("meshlens-tcp: filterStateObjectsToLog misses %v", m)
	}
	checkRemoteService(t, "defaultConfig.envoyMetricsService", mc.GetDefaultConfig().GetEnvoyMetricsService())
	if mc.GetEnableEnvoyAccessLogService() {
		t.Error("enableEnvoyAccessLogService would add the legacy loggers next to the providers: every request twice")
	}
}

// TestIstioTelemetry checks that the Telemetry resource enables exactly the
// HTTP provider mesh-wide (HTTP and TCP providers together would report
// every request twice).
func TestIstioTelemetry(t *testing.T) {
	const path = "istio/telemetry.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document, got %d", path, len(docs))
	}
	o := decodeObject(t, path, docs[0])
	if o.APIVersion != "telemetry.istio.io/v1" || o.Kind != "Telemetry" {
		t.Fatalf("%s: %s %s, want telemetry.istio.io/v1 Telemetry", path, o.APIVersion, o.Kind)
	}
	if o.Metadata.Namespace != "istio-system" {
		t.Errorf("%s: namespace %q: a mesh-wide Telemetry lives in the root namespace istio-system", path, o.Metadata.Namespace)
	}
	var spec telemetryv1alpha1.Telemetry
	if err := yamlToProto(o.Spec, &spec); err != nil {
		t.Fatalf("%s: spec: %v", path, err)
	}
	if spec.GetSelector() != nil || len(spec.GetTargetRefs()) > 0 {
		t.Errorf("%s: a mesh-wide Telemetry selects no workload", path)
	}
	var names []string
	for _, al := range spec.GetAccessLogging() {
		if al.GetDisabled().GetValue() {
			t.Errorf("%s: access logging disabled", path)
		}
		for _, p := range al.GetProviders() {
			names = append(names, p.GetName())
		}
	}
	if !slices.Contains(names, "meshlens") || slices.Contains(names, "meshlens-tcp") {
		t.Errorf("%s: providers %v, want meshlens and not meshlens-tcp", path, names)
	}
}

// TestIstioLegacy checks the pre-Telemetry-API form.
func TestIstioLegacy(t *testing.T) {
	const path = "istio/legacy-istio-operator.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: want one document", path)
	}
	o := decodeObject(t, path, docs[0])
	if o.APIVersion != "install.istio.io/v1alpha1" || o.Kind != "IstioOperator" {
		t.Fatalf("%s: %s %s, want install.istio.io/v1alpha1 IstioOperator", path, o.APIVersion, o.Kind)
	}
	var spec struct {
		MeshConfig map[string]any `json:"meshConfig"`
	}
	if err := strictJSON(o.Spec, &spec); err != nil {
		t.Fatalf("%s: spec: %v", path, err)
	}
	mc := meshConfig(t, path, spec.MeshConfig)
	if !mc.GetEnableEnvoyAccessLogService() {
		t.Errorf("%s: enableEnvoyAccessLogService must be true", path)
	}
	checkRemoteService(t, "defaultConfig.envoyAccessLogService", mc.GetDefaultConfig().GetEnvoyAccessLogService())
	checkRemoteService(t, "defaultConfig.envoyMetricsService", mc.GetDefaultConfig().GetEnvoyMetricsService())
}

// TestIstioCatchesTypos: a misspelt provider field must fail the decode.
func TestIstioCatchesTypos(t *testing.T) {
	var raw map[string]any
	bad := []byte("extensionProviders:\n- name: x\n  envoyHttpAls: {service: a, port: 1, additionalRequestHeaderToLog: [b3]}\n")
	if err := yaml.Unmarshal(bad, &raw); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(raw)
	if err := yamlToProto(b, &meshv1alpha1.MeshConfig{}); err == nil {
		t.Error("a misspelt envoyHttpAls field passed")
	}
}
