package accesslogexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/exporter"

	"github.com/meshlens/meshlens/accesslog/format"
)

// Type is the component type users write in YAML.
var Type = component.MustNewType("meshlens_accesslogs")

// DefaultHub is the id of the hub extension fed.
var DefaultHub = component.MustNewID("meshlens")

// Defaults.
const (
	DefaultMaxStreams        = 10_000
	DefaultStreamIdleTimeout = 5 * time.Minute
)

// NewFactory returns the exporter factory.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(Type, createDefaultConfig,
		exporter.WithLogs(createLogs, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	attrs := make(map[string]string, len(format.EnvoyOTelAttributes))
	for k, v := range format.EnvoyOTelAttributes {
		attrs[k] = v
	}
	return &Config{
		Hub:               DefaultHub,
		Format:            FormatIstio,
		Attributes:        attrs,
		MaxStreams:        DefaultMaxStreams,
		StreamIdleTimeout: DefaultStreamIdleTimeout,
	}
}

func createLogs(_ context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	return newExporter(cfg.(*Config), set, time.Now)
}
