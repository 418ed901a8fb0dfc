package deploy

import (
	"maps"
	"slices"
	"testing"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	otelalsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/open_telemetry/v3"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	telemetryv1alpha1 "istio.io/api/telemetry/v1alpha1"
)

// meshlensOTLPPort is the otlp receiver's gRPC port docs/ingest.md
// configures.
const meshlensOTLPPort = 4317

// otelIstio decodes deploy/istio/otel-accesslogs.yaml with Istio's protos:
// the envoyOtelAls provider and the Telemetry that turns it on. It returns
// the provider's labels (the attributes Envoy sends).
func otelIstio(t *testing.T) map[string]string {
	t.Helper()
	const path = "istio/otel-accesslogs.yaml"
	docs := yamlDocs(t, path)
	if len(docs) != 2 {
		t.Fatalf("%s: want an IstioOperator and a Telemetry, got %d documents", path, len(docs))
	}
	mc := operatorMeshConfig(t, path, docs[0])
	var otel *meshv1alpha1.MeshConfig_ExtensionProvider_EnvoyOpenTelemetryLogProvider
	for _, p := range mc.GetExtensionProviders() {
		if p.GetName() == "meshlens-otel" {
			otel = p.GetEnvoyOtelAls()
		}
	}
	if otel == nil {
		t.Fatalf("%s: no envoyOtelAls provider named meshlens-otel", path)
	}
	if otel.GetService() != meshlensService || otel.GetPort() != meshlensOTLPPort {
		t.Errorf("%s: service %s:%d, want %s:%d", path, otel.GetService(), otel.GetPort(), meshlensService, meshlensOTLPPort)
	}
	if names := telemetryProviders(t, path, docs[1]); !slices.Equal(names, []string{"meshlens-otel"}) {
		t.Errorf("%s: Telemetry providers %v, want [meshlens-otel] alone (ALS next to it would report every request twice)", path, names)
	}
	labels := map[string]string{}
	for k, v := range otel.GetLogFormat().GetLabels().GetFields() {
		labels[k] = v.GetStringValue()
	}
	return labels
}

// TestOTelAccessLogs: the Istio provider and the plain-Envoy snippet are
// valid for istiod and Envoy, and send the same attributes (what
// meshlens's exporter reads by default is checked in the main module,
// collector/deploy_test.go).
func TestOTelAccessLogs(t *testing.T) {
	labels := otelIstio(t)
	if len(labels) < 20 {
		t.Fatalf("istio/otel-accesslogs.yaml: %d labels, want the recommended attribute set", len(labels))
	}
	items := snippetItems(t, envoyDir+"snippets/otel-access-log.yaml", "access_log", func() *accesslogv3.AccessLog { return new(accesslogv3.AccessLog) })
	if len(items) != 1 {
		t.Fatalf("otel-access-log.yaml: want one access log, got %d", len(items))
	}
	var cfg otelalsv3.OpenTelemetryAccessLogConfig
	if err := items[0].GetTypedConfig().UnmarshalTo(&cfg); err != nil {
		t.Fatalf("otel-access-log.yaml: %v", err)
	}
	if err := cfg.ValidateAll(); err != nil {
		t.Errorf("otel-access-log.yaml: %v", err)
	}
	if c := cfg.GetGrpcService().GetEnvoyGrpc().GetClusterName(); c != "meshlens-otlp" {
		t.Errorf("otel-access-log.yaml: cluster %q, want meshlens-otlp", c)
	}
	attrs := map[string]string{}
	for _, kv := range cfg.GetAttributes().GetValues() {
		attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	if !maps.Equal(attrs, labels) {
		t.Errorf("the Envoy snippet's attributes and the Istio provider's labels differ:\n%v\n%v", attrs, labels)
	}
}

// operatorMeshConfig decodes an IstioOperator document's meshConfig with
// Istio's protos (unknown fields are errors).
func operatorMeshConfig(t *testing.T, path string, doc []byte) *meshv1alpha1.MeshConfig {
	t.Helper()
	var opSpec struct {
		MeshConfig map[string]any `json:"meshConfig"`
	}
	if err := strictJSON(decodeObject(t, path, doc).Spec, &opSpec); err != nil {
		t.Fatalf("%s: spec: %v", path, err)
	}
	return meshConfig(t, path, opSpec.MeshConfig)
}

// telemetryProviders decodes a mesh-wide Telemetry document (in
// istio-system) with Istio's protos and returns its access-log providers'
// names.
func telemetryProviders(t *testing.T, path string, doc []byte) []string {
	t.Helper()
	o := decodeObject(t, path, doc)
	if o.Kind != "Telemetry" || o.Metadata.Namespace != "istio-system" {
		t.Fatalf("%s: want a mesh-wide Telemetry in istio-system, got %s in %q", path, o.Kind, o.Metadata.Namespace)
	}
	var spec telemetryv1alpha1.Telemetry
	if err := yamlToProto(o.Spec, &spec); err != nil {
		t.Fatalf("%s: Telemetry spec: %v", path, err)
	}
	var names []string
	for _, al := range spec.GetAccessLogging() {
		for _, p := range al.GetProviders() {
			names = append(names, p.GetName())
		}
	}
	return names
}
