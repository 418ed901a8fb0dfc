package alsreceiver

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"

	"github.com/meshlens/meshlens/exporters/spans"
)

// Type is the component type users write in YAML.
var Type = component.MustNewType("envoyals")

// DefaultEndpoint is where Envoys send ALS and Metrics Service streams.
const DefaultEndpoint = "localhost:9001"

// DefaultHub is the id of the extension records go to.
var DefaultHub = component.MustNewID("meshlens")

// NewFactory returns the receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type, createDefaultConfig,
		receiver.WithTraces(createTraces, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	grpc := configgrpc.NewDefaultServerConfig()
	grpc.NetAddr = confignet.AddrConfig{Endpoint: DefaultEndpoint, Transport: confignet.TransportTypeTCP}
	grpc.MaxRecvMsgSizeMiB = 4
	// Envoy's and common gRPC practice; Envoy opens one stream per worker
	// and logger on a connection.
	grpc.MaxConcurrentStreams = 100
	return &Config{
		GRPC:              grpc,
		Hub:               DefaultHub,
		MaxTCPConnections: 100_000,
		TCPConnectionTTL:  10 * time.Minute,
		DrainTimeout:      2 * time.Second,
		MaxStreams:        10_000,
		MessageTimeout:    10 * time.Second,
		StreamIdleTimeout: 5 * time.Minute,
		EventLoop:         EventLoopConfig{Tick: DefaultEventLoopTick},
		Traces:            spans.DefaultPipelineConfig(),
	}
}

func createTraces(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Traces) (receiver.Traces, error) {
	return newReceiver(cfg.(*Config), set, next, time.Now), nil
}
