package metricsreceiver

import (
	"context"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
)

// Type is the component type users write in YAML.
var Type = component.MustNewType("meshlens_metrics")

// DefaultHub is the id of the hub extension read.
var DefaultHub = component.MustNewID("meshlens")

// Defaults.
const (
	DefaultCollectionInterval = 15 * time.Second
	DefaultMaxBatchPoints     = 8192
)

// NewFactory returns the receiver factory.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(Type, createDefaultConfig,
		receiver.WithMetrics(createMetrics, component.StabilityLevelAlpha))
}

func createDefaultConfig() component.Config {
	return &Config{
		Hub:                DefaultHub,
		CollectionInterval: DefaultCollectionInterval,
		Sources:            slices.Clone(allSources),
		MaxBatchPoints:     DefaultMaxBatchPoints,
	}
}

func createMetrics(_ context.Context, set receiver.Settings, cfg component.Config, next consumer.Metrics) (receiver.Metrics, error) {
	return newReceiver(cfg.(*Config), set, next, time.Now), nil
}
