package spans

import (
	"errors"
	"fmt"
	"time"
)

// Config sets how records become spans. The receiver embeds it in its
// `traces` section.
type Config struct {
	// SamplingRate is the share of traces kept, in [0, 1]. The decision is a
	// function of the trace id, so every replica and both reports of a hop
	// agree.
	SamplingRate float64 `mapstructure:"sampling_rate"`
	// KeepErrors keeps every failed request (Record.IsError) whatever the
	// rate.
	KeepErrors bool `mapstructure:"keep_errors"`
	// SlowThreshold keeps every request that took at least this long
	// (0 disables).
	SlowThreshold time.Duration `mapstructure:"slow_threshold"`
	// SyntheticTraceIDs derives a trace id from x-request-id for records that
	// logged no trace context; such spans carry meshlens.trace.synthetic=true.
	// Without it those records produce no span.
	SyntheticTraceIDs bool `mapstructure:"synthetic_trace_ids"`
}

// DefaultConfig returns the defaults: 1% of traces, every error, every
// request slower than 1s, synthetic trace ids on.
func DefaultConfig() Config {
	return Config{SamplingRate: 0.01, KeepErrors: true, SlowThreshold: time.Second, SyntheticTraceIDs: true}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs error
	if !(c.SamplingRate >= 0 && c.SamplingRate <= 1) { // also rejects NaN
		errs = errors.Join(errs, fmt.Errorf("sampling_rate must be between 0 and 1, got %v", c.SamplingRate))
	}
	if c.SlowThreshold < 0 {
		errs = errors.Join(errs, fmt.Errorf("slow_threshold must not be negative, got %s", c.SlowThreshold))
	}
	return errs
}
