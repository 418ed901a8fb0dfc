package hubextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/extension"

	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/topology"
)

// Type is the component type users write in YAML.
var Type = component.MustNewType("meshlens")

// DefaultEndpoint is the HTTP port for /metrics, the API and the page.
const DefaultEndpoint = "localhost:9102"

// NewFactory returns the extension factory.
func NewFactory() extension.Factory {
	return extension.NewFactory(Type, createDefaultConfig, create, component.StabilityLevelAlpha)
}

func createDefaultConfig() component.Config {
	http := confighttp.NewDefaultServerConfig()
	http.NetAddr = confignet.AddrConfig{Endpoint: DefaultEndpoint, Transport: confignet.TransportTypeTCP}
	return &Config{
		HTTP:        http,
		MetricsPath: "/metrics",
		Metrics:     istiometrics.DefaultConfig(),
		EnvoyStats:  envoystats.DefaultConfig(),
		SpanMetrics: defaultSpanMetricsConfig(),
		Topology:    topology.DefaultConfig(),
		Kiali:       KialiConfig{WebRoot: DefaultKialiWebRoot},
		RemoteWrite: defaultRemoteWriteConfig(),
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newHub(cfg.(*Config), set, time.Now)
}
