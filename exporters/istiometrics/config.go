package istiometrics

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// DefaultBuckets are Envoy's default histogram bounds, which Istio uses for
// both the millisecond and the byte histograms.
var DefaultBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Config sets the aggregation.
type Config struct {
	// SeriesTTL removes a series this long after its last record (0: never).
	SeriesTTL time.Duration `mapstructure:"series_ttl"`
	// MaxSeries caps the series of each family (HTTP, TCP); records over it
	// go to the family's overflow series.
	MaxSeries int `mapstructure:"max_series"`
	// MaxLabelBytes caps the label-set bytes of each family: the sum over
	// its series of their label values' bytes as the exposition writes them
	// (escaped). A new label set that would go over it goes to the family's
	// overflow series, as over MaxSeries; with MaxSeries it bounds the
	// family's exposition (docs/operations.md).
	MaxLabelBytes int64 `mapstructure:"max_label_bytes"`
	// DurationBuckets are the bounds of istio_request_duration_milliseconds.
	DurationBuckets []float64 `mapstructure:"duration_buckets"`
	// SizeBuckets are the bounds of istio_request_bytes / istio_response_bytes
	// unless RequestSizeBuckets / ResponseSizeBuckets set them.
	SizeBuckets []float64 `mapstructure:"size_buckets"`
	// RequestSizeBuckets are the bounds of istio_request_bytes (REQUEST_SIZE);
	// empty: SizeBuckets.
	RequestSizeBuckets []float64 `mapstructure:"request_size_buckets"`
	// ResponseSizeBuckets are the bounds of istio_response_bytes
	// (RESPONSE_SIZE); empty: SizeBuckets.
	ResponseSizeBuckets []float64 `mapstructure:"response_size_buckets"`
	// Overrides disable metrics and remove labels, shaped as the metrics
	// overrides of Istio's Telemetry API and applied in order (overrides.go).
	Overrides []Override `mapstructure:"overrides"`
	// Exemplars attaches the trace id of a recent request to each duration
	// bucket (OpenMetrics and protobuf expositions).
	Exemplars bool `mapstructure:"exemplars"`
	// NativeHistograms keeps native histograms beside the classic buckets
	// and serves them in the protobuf exposition (native.go).
	NativeHistograms NativeHistograms `mapstructure:"native_histograms"`
}

// DefaultMaxLabelBytes is MaxLabelBytes's default: 64 MiB, 671 bytes a
// label set at 100,000 series, where an Istio label set of Kubernetes
// names takes 250–600.
const DefaultMaxLabelBytes = 64 << 20

// DefaultConfig returns Istio's defaults with a 10-minute TTL and a budget
// of 100,000 series and 64 MiB of label values per family.
func DefaultConfig() Config {
	return Config{
		SeriesTTL:       10 * time.Minute,
		MaxSeries:       100_000,
		MaxLabelBytes:   DefaultMaxLabelBytes,
		DurationBuckets: slices.Clone(DefaultBuckets),
		SizeBuckets:     slices.Clone(DefaultBuckets),
		Exemplars:       true,
		NativeHistograms: NativeHistograms{
			Schema:     DefaultNativeSchema,
			MaxBuckets: DefaultNativeMaxBuckets,
		},
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs error
	if c.SeriesTTL < 0 {
		errs = errors.Join(errs, fmt.Errorf("series_ttl must not be negative, got %s", c.SeriesTTL))
	}
	if c.MaxSeries <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_series must be positive, got %d", c.MaxSeries))
	}
	if c.MaxLabelBytes <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_label_bytes must be positive, got %d", c.MaxLabelBytes))
	}
	for _, kb := range []struct {
		name     string
		b        []float64
		optional bool
	}{
		{"duration_buckets", c.DurationBuckets, false},
		{"size_buckets", c.SizeBuckets, false},
		{"request_size_buckets", c.RequestSizeBuckets, true},
		{"response_size_buckets", c.ResponseSizeBuckets, true},
	} {
		if len(kb.b) == 0 {
			if !kb.optional {
				errs = errors.Join(errs, fmt.Errorf("%s must not be empty", kb.name))
			}
			continue
		}
		for i, v := range kb.b {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				errs = errors.Join(errs, fmt.Errorf("%s must be finite, got %v", kb.name, kb.b))
				break
			}
			if i > 0 && !(v > kb.b[i-1]) {
				errs = errors.Join(errs, fmt.Errorf("%s must be strictly increasing, got %v", kb.name, kb.b))
				break
			}
		}
	}
	if _, err := c.plan(); err != nil {
		errs = errors.Join(errs, err)
	}
	if !c.NativeHistograms.Enabled {
		return errs
	}
	if err := c.NativeHistograms.Validate(); err != nil {
		errs = errors.Join(errs, err)
	}
	return errs
}

// requestSizeBuckets are the bounds of istio_request_bytes.
func (c *Config) requestSizeBuckets() []float64 {
	if len(c.RequestSizeBuckets) > 0 {
		return c.RequestSizeBuckets
	}
	return c.SizeBuckets
}

// responseSizeBuckets are the bounds of istio_response_bytes.
func (c *Config) responseSizeBuckets() []float64 {
	if len(c.ResponseSizeBuckets) > 0 {
		return c.ResponseSizeBuckets
	}
	return c.SizeBuckets
}
