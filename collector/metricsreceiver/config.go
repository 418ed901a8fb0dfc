package metricsreceiver

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/component"
)

// The sources a receiver can read.
const (
	SourceIstio       = "istio"        // istio_* (exporters/istiometrics)
	SourceEnvoy       = "envoy"        // envoy_* (exporters/envoystats)
	SourceSpanMetrics = "span_metrics" // traces_span_metrics_* (exporters/spans)
)

var allSources = []string{SourceIstio, SourceEnvoy, SourceSpanMetrics}

// Config is the receiver's YAML configuration.
type Config struct {
	// Hub names the hub extension whose series are read (default
	// "meshlens").
	Hub component.ID `mapstructure:"hub"`
	// CollectionInterval is how often the series are read and sent (default
	// 15s, at least 1s).
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	// Sources are the aggregations read (default all: istio, envoy,
	// span_metrics).
	Sources []string `mapstructure:"sources"`
	// MaxBatchPoints is the most data points (a histogram is one) one call
	// of the next consumer carries: a read is sent in batches so that it
	// never holds every series as pdata at once (default 8192).
	MaxBatchPoints int `mapstructure:"max_batch_points"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs error
	if c.CollectionInterval < time.Second {
		errs = errors.Join(errs, fmt.Errorf("collection_interval must be at least 1s, got %s", c.CollectionInterval))
	}
	if c.MaxBatchPoints <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_batch_points must be positive, got %d", c.MaxBatchPoints))
	}
	if len(c.Sources) == 0 {
		errs = errors.Join(errs, fmt.Errorf("sources must name at least one of %v", allSources))
	}
	for i, s := range c.Sources {
		switch {
		case !slices.Contains(allSources, s):
			errs = errors.Join(errs, fmt.Errorf("sources: unknown source %q, want one of %v", s, allSources))
		case slices.Contains(c.Sources[:i], s):
			errs = errors.Join(errs, fmt.Errorf("sources: %q listed twice", s))
		}
	}
	return errs
}
