package envoystats

import (
	"errors"
	"fmt"
	"time"
)

// Defaults used by [DefaultConfig] and by [New] for unset fields.
const (
	DefaultMaxSeries     = 100_000
	DefaultTTL           = 5 * time.Minute
	DefaultNameCacheSize = 65_536
	// DefaultMaxLabelBytes is MaxLabelBytes's default: 64 MiB, 671 bytes a
	// series at 100,000 series, where a sidecar's series (name, node labels
	// of Kubernetes names, Envoy's tags) takes 250–450.
	DefaultMaxLabelBytes = 64 << 20
)

// ErrInvalidConfig is wrapped by every error [Config.Validate] returns.
var ErrInvalidConfig = errors.New("invalid envoystats config")

// Config is what users set.
type Config struct {
	// MaxSeries caps the number of series kept over all nodes; samples that
	// would create more are rejected with reason "series_limit".
	MaxSeries int `mapstructure:"max_series"`
	// TTL is how long a series lives without a new sample before Expire
	// removes it. It should be several stats flush intervals (Envoy: 5 s).
	TTL time.Duration `mapstructure:"ttl"`
	// CountersAsDeltas must match the proxies' MetricsServiceConfig
	// report_counters_as_deltas: counter samples are then added up instead
	// of being taken as Envoy's cumulative value.
	CountersAsDeltas bool `mapstructure:"counters_as_deltas"`
	// NameCacheSize bounds the cache of tag-extraction results, keyed by
	// flattened stat name and shared by all nodes. 0 means DefaultNameCacheSize.
	NameCacheSize int `mapstructure:"name_cache_size"`
	// MaxLabelBytes caps the label-set bytes of the store: the sum over its
	// series of what each of their lines repeats (metric name and labels,
	// names and escaped values, as the exposition writes them), plus the
	// # HELP and # TYPE lines of their metric names. Samples that would
	// create a series over it are rejected with reason
	// "label_bytes_limit"; with MaxSeries it bounds the envoy_* exposition
	// (ExpositionBound, docs/operations.md).
	MaxLabelBytes int64 `mapstructure:"max_label_bytes"`
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{MaxSeries: DefaultMaxSeries, TTL: DefaultTTL, NameCacheSize: DefaultNameCacheSize, MaxLabelBytes: DefaultMaxLabelBytes}
}

// Validate reports the first invalid field, named by its YAML key.
func (c Config) Validate() error {
	switch {
	case c.MaxSeries <= 0:
		return fmt.Errorf("%w: max_series must be positive, got %d", ErrInvalidConfig, c.MaxSeries)
	case c.TTL <= 0:
		return fmt.Errorf("%w: ttl must be positive, got %s", ErrInvalidConfig, c.TTL)
	case c.NameCacheSize < 0:
		return fmt.Errorf("%w: name_cache_size must not be negative, got %d", ErrInvalidConfig, c.NameCacheSize)
	case c.MaxLabelBytes <= 0:
		return fmt.Errorf("%w: max_label_bytes must be positive, got %d", ErrInvalidConfig, c.MaxLabelBytes)
	}
	return nil
}

// withDefaults replaces invalid or unset values by the defaults, so that New
// never has to fail.
func (c Config) withDefaults() Config {
	if c.MaxSeries <= 0 {
		c.MaxSeries = DefaultMaxSeries
	}
	if c.TTL <= 0 {
		c.TTL = DefaultTTL
	}
	if c.NameCacheSize <= 0 {
		c.NameCacheSize = DefaultNameCacheSize
	}
	if c.MaxLabelBytes <= 0 {
		c.MaxLabelBytes = DefaultMaxLabelBytes
	}
	return c
}
