package hubextension

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/exporters/spans"
	"github.com/meshlens/meshlens/topology"
)

// Config is the hub's YAML configuration.
type Config struct {
	// HTTP is the server for /metrics, the API and the page.
	HTTP confighttp.ServerConfig `mapstructure:",squash"`
	// MetricsPath is where Prometheus scrapes (default /metrics).
	MetricsPath string `mapstructure:"metrics_path"`
	// Auth protects everything but /healthz and /readyz; required unless the
	// endpoint is a loopback address.
	Auth AuthConfig `mapstructure:"api_auth"`
	// Metrics sets the Istio standard metrics: series TTL, budget, buckets,
	// exemplars.
	Metrics istiometrics.Config `mapstructure:"metrics"`
	// EnvoyStats sets the re-export of Envoy's own stats received over the
	// Metrics Service.
	EnvoyStats envoystats.Config `mapstructure:"envoy_stats"`
	// SpanMetrics sets the span metrics Jaeger's Monitor tab reads
	// (traces_span_metrics_*).
	SpanMetrics SpanMetricsConfig `mapstructure:"span_metrics"`
	// Topology sets the live service graph: bounds, idle TTL, windows.
	Topology topology.Config `mapstructure:"topology"`
	// Kiali serves a Kiali UI build under its web root (docs/kiali.md).
	Kiali KialiConfig `mapstructure:"kiali"`
	// RemoteWrite pushes the Istio series, envoy_* and the span metrics
	// with Prometheus remote write (docs/push.md); off unless its endpoint
	// is set.
	RemoteWrite RemoteWriteConfig `mapstructure:"remote_write"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs error
	if c.HTTP.NetAddr.Endpoint == "" {
		errs = errors.Join(errs, errors.New("endpoint must be set"))
	}
	if err := validMetricsPath(c.MetricsPath); err != nil {
		errs = errors.Join(errs, err)
	}
	if err := c.Auth.validate(c.HTTP.NetAddr.Endpoint); err != nil {
		errs = errors.Join(errs, err)
	}
	if err := c.Metrics.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("metrics: %w", err))
	}
	if err := c.EnvoyStats.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("envoy_stats: %w", err))
	}
	if err := c.SpanMetrics.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("span_metrics: %w", err))
	}
	if err := c.Topology.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("topology: %w", err))
	}
	if err := c.Kiali.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("kiali: %w", err))
	}
	if err := c.RemoteWrite.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("remote_write: %w", err))
	}
	if c.Kiali.WebRoot != "" && (c.MetricsPath == c.Kiali.WebRoot || strings.HasPrefix(c.MetricsPath, c.Kiali.WebRoot+"/")) {
		errs = errors.Join(errs, fmt.Errorf("metrics_path %q collides with kiali::web_root %q", c.MetricsPath, c.Kiali.WebRoot))
	}
	return errs
}

// SpanMetricsConfig sets the span metrics.
type SpanMetricsConfig struct {
	// SeriesTTL removes a span-metrics series this long after its last
	// record (default 0: the Istio series' metrics::series_ttl).
	SeriesTTL time.Duration `mapstructure:"series_ttl"`
	// MaxSeries caps the series; records of new series beyond it go to the
	// overflow series (default spans.DefaultMetricsMaxSeries).
	MaxSeries int `mapstructure:"max_series"`
	// MaxLabelBytes caps the series' label-set bytes (service_name and
	// span_name as /metrics writes them); records of a new series that
	// would pass it go to the overflow series too (default
	// spans.DefaultMetricsMaxLabelBytes).
	MaxLabelBytes int64 `mapstructure:"max_label_bytes"`
}

// defaultSpanMetricsConfig returns the span metrics' defaults.
func defaultSpanMetricsConfig() SpanMetricsConfig {
	return SpanMetricsConfig{MaxSeries: spans.DefaultMetricsMaxSeries, MaxLabelBytes: spans.DefaultMetricsMaxLabelBytes}
}

// Validate checks the span metrics' settings, naming their YAML keys.
func (c *SpanMetricsConfig) Validate() error {
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
	return errs
}

// spanMetricsConfig is the span metrics' configuration: their budgets and
// TTL (spanMetricsTTL).
func (c *Config) spanMetricsConfig() spans.MetricsConfig {
	return spans.MetricsConfig{MaxSeries: c.SpanMetrics.MaxSeries, MaxLabelBytes: c.SpanMetrics.MaxLabelBytes, TTL: c.spanMetricsTTL()}
}

// spanMetricsTTL is span_metrics::series_ttl, or metrics::series_ttl when
// it is not set.
func (c *Config) spanMetricsTTL() time.Duration {
	if c.SpanMetrics.SeriesTTL > 0 {
		return c.SpanMetrics.SeriesTTL
	}
	return c.Metrics.SeriesTTL
}

// reservedPaths are the hub's own routes; metrics_path may be none of them
// and lie under none that ends in '/' (those take their whole subtree).
var reservedPaths = []string{"/", "/healthz", "/readyz", "/api/", "/assets/"}

// validMetricsPath checks metrics_path: an absolute path of URL path
// characters (no spaces, wildcards or escapes, which the HTTP router would
// read as a pattern or reject at start) that does not collide with the
// hub's other routes.
func validMetricsPath(p string) error {
	if p == "" || p[0] != '/' {
		return fmt.Errorf("metrics_path must start with '/', got %q", p)
	}
	for i := 0; i < len(p); i++ {
		ch := p[i]
		ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("/-._~", ch) >= 0
		if !ok {
			return fmt.Errorf("metrics_path %q may only hold letters, digits and / - . _ ~", p)
		}
	}
	if strings.Contains(p, "//") || strings.Contains(p, "/./") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..") {
		return fmt.Errorf("metrics_path %q is not a clean path", p)
	}
	for _, r := range reservedPaths {
		if p == r || p+"/" == r || (strings.HasSuffix(r, "/") && r != "/" && strings.HasPrefix(p, r)) {
			return fmt.Errorf("metrics_path %q collides with the hub's route %s", p, r)
		}
	}
	return nil
}
