package deploy

import (
	"encoding/json"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
)

// The parts of Envoy Gateway's EnvoyProxy API (gateway.envoyproxy.io/v1alpha1,
// api/v1alpha1/envoyproxy_types.go and accesslogging_types.go) the file
// uses, with their JSON names; decoded strictly, so a misspelt key fails.
// Envoy Gateway's Go module is not imported: it would bring the whole
// controller along.
type egBackendRef struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace,omitempty"`
	Port      *int32  `json:"port,omitempty"`
}

type egEnvoyProxySpec struct {
	Telemetry struct {
		AccessLog struct {
			Disable  *bool `json:"disable,omitempty"`
			Settings []struct {
				Format  json.RawMessage `json:"format,omitempty"`
				Matches []string        `json:"matches,omitempty"`
				Type    *string         `json:"type,omitempty"`
				Sinks   []struct {
					Type string `json:"type"`
					ALS  *struct {
						BackendRefs     []egBackendRef  `json:"backendRefs"`
						BackendSettings json.RawMessage `json:"backendSettings,omitempty"`
						LogName         *string         `json:"logName,omitempty"`
						Type            string          `json:"type"`
						HTTP            *struct {
							RequestHeaders   []string `json:"requestHeaders,omitempty"`
							ResponseHeaders  []string `json:"responseHeaders,omitempty"`
							ResponseTrailers []string `json:"responseTrailers,omitempty"`
						} `json:"http,omitempty"`
					} `json:"als,omitempty"`
					File          json.RawMessage `json:"file,omitempty"`
					OpenTelemetry json.RawMessage `json:"openTelemetry,omitempty"`
				} `json:"sinks"`
			} `json:"settings,omitempty"`
		} `json:"accessLog"`
	} `json:"telemetry"`
	Bootstrap *struct {
		Type  *string `json:"type,omitempty"`
		Value *string `json:"value,omitempty"`
	} `json:"bootstrap,omitempty"`
}

type gwParametersRef struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

func TestEnvoyGateway(t *testing.T) {
	const path = "envoy-gateway/envoyproxy.yaml"
	var (
		proxy    *object
		spec     egEnvoyProxySpec
		classRef *gwParametersRef
		grants   int
	)
	for _, doc := range yamlDocs(t, path) {
		o := decodeObject(t, path, doc)
		switch o.APIVersion + " " + o.Kind {
		case "gateway.envoyproxy.io/v1alpha1 EnvoyProxy":
			proxy = &o
			if err := strictJSON(o.Spec, &spec); err != nil {
				t.Fatalf("%s: EnvoyProxy spec: %v", path, err)
			}
		case "gateway.networking.k8s.io/v1 GatewayClass":
			var gc struct {
				ControllerName string           `json:"controllerName"`
				ParametersRef  *gwParametersRef `json:"parametersRef"`
			}
			if err := strictJSON(o.Spec, &gc); err != nil {
				t.Fatalf("%s: GatewayClass spec: %v", path, err)
			}
			if gc.ControllerName != "gateway.envoyproxy.io/gatewayclass-controller" {
				t.Errorf("%s: controllerName %q", path, gc.ControllerName)
			}
			classRef = gc.ParametersRef
		case "gateway.networking.k8s.io/v1beta1 ReferenceGrant":
			grants++
			var rg struct {
				From []struct{ Group, Kind, Namespace string } `json:"from"`
				To   []struct{ Group, Kind, Name string }      `json:"to"`
			}
			if err := strictJSON(o.Spec, &rg); err != nil {
				t.Fatalf("%s: ReferenceGrant spec: %v", path, err)
			}
			if o.Metadata.Namespace != "meshlens" || len(rg.From) != 1 || len(rg.To) != 1 ||
				rg.From[0].Kind != "EnvoyProxy" || rg.From[0].Group != "gateway.envoyproxy.io" ||
				rg.To[0].Kind != "Service" || rg.To[0].Group != "" || rg.To[0].Name != "meshlens" {
				t.Errorf("%s: the ReferenceGrant must let EnvoyProxies reference the Service meshlens/meshlens", path)
			}
		default:
			t.Errorf("%s: unexpected %s %s", path, o.APIVersion, o.Kind)
		}
	}
	if proxy == nil || classRef == nil || grants != 1 {
		t.Fatalf("%s: want an EnvoyProxy, a GatewayClass and a ReferenceGrant", path)
	}
	if classRef.Group != "gateway.envoyproxy.io" || classRef.Kind != "EnvoyProxy" ||
		classRef.Name != proxy.Metadata.Name || classRef.Namespace != proxy.Metadata.Namespace {
		t.Errorf("%s: the GatewayClass does not reference the EnvoyProxy: %+v", path, *classRef)
	}

	// The ALS sink.
	var als int
	for _, s := range spec.Telemetry.AccessLog.Settings {
		for _, sink := range s.Sinks {
			if sink.Type != "ALS" {
				continue
			}
			als++
			a := sink.ALS
			if a == nil || a.Type != "HTTP" || a.HTTP == nil {
				t.Fatalf("%s: the ALS sink needs als.type HTTP and als.http", path)
			}
			if len(a.BackendRefs) != 1 {
				t.Fatalf("%s: want one backendRef", path)
			}
			br := a.BackendRefs[0]
			if br.Name != "meshlens" || br.Namespace == nil || *br.Namespace != "meshlens" || br.Port == nil || *br.Port != meshlensGRPCPort {
				t.Errorf("%s: backendRef %+v, want Service meshlens/meshlens port %d", path, br, meshlensGRPCPort)
			}
			if m := missing(a.HTTP.RequestHeaders, wantRequestHeaders); len(m) > 0 {
				t.Errorf("%s: requestHeaders misses %v", path, m)
			}
			if m := missing(a.HTTP.ResponseHeaders, wantResponseHeaders); len(m) > 0 {
				t.Errorf("%s: responseHeaders misses %v", path, m)
			}
			if m := missing(a.HTTP.ResponseTrailers, wantResponseHeaders); len(m) > 0 {
				t.Errorf("%s: responseTrailers misses %v", path, m)
			}
		}
	}
	if als != 1 {
		t.Errorf("%s: want one ALS sink, got %d", path, als)
	}

	// The bootstrap merge: a partial v3 Bootstrap with the Metrics Service
	// sink and its cluster, validated like deploy/envoy/.
	bs := spec.Bootstrap
	if bs == nil || bs.Type == nil || *bs.Type != "Merge" || bs.Value == nil {
		t.Fatalf("%s: want spec.bootstrap with type Merge and a value", path)
	}
	var b bootstrapv3.Bootstrap
	if err := yamlToProto([]byte(*bs.Value), &b); err != nil {
		t.Fatalf("%s: bootstrap value: %v", path, err)
	}
	for _, err := range checkProto(&b) {
		t.Errorf("%s: bootstrap value: %v", path, err)
	}
	if len(b.GetStatsSinks()) != 1 {
		t.Fatalf("%s: bootstrap value: want one stats sink", path)
	}
	checkStatsSink(t, path, b.GetStatsSinks()[0])
	if len(b.GetStaticResources().GetClusters()) != 1 {
		t.Fatalf("%s: bootstrap value: want the meshlens cluster only", path)
	}
	c := b.GetStaticResources().GetClusters()[0]
	if port := checkMeshlensCluster(t, path, c); port != meshlensGRPCPort {
		t.Errorf("%s: cluster meshlens port %d, want %d", path, port, meshlensGRPCPort)
	}
	if addr := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress().GetAddress(); addr != meshlensService {
		t.Errorf("%s: cluster meshlens address %q, want %s", path, addr, meshlensService)
	}
}
