package topology

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/meshlens/meshlens/topology/internal/promql"
)

// Config bounds and shapes a Graph. Zero values take the defaults of
// DefaultConfig.
type Config struct {
	// MaxEdges bounds the stored edges (one per source workload, destination
	// service, destination workload and protocol). Records that would need a
	// new edge beyond it are dropped and counted in Stats.EdgesOverflow.
	MaxEdges int `mapstructure:"max_edges"`
	// MaxNodes bounds the stored workload identities.
	MaxNodes int `mapstructure:"max_nodes"`
	// IdleTTL is how long an edge without traffic is kept. It must not be
	// shorter than the longest window.
	IdleTTL time.Duration `mapstructure:"idle_ttl"`
	// Windows are the sliding windows rates and latency quantiles are
	// computed over, ascending (default 1m and 10m).
	Windows []time.Duration `mapstructure:"windows"`
	// SlotsPerWindow is the number of time slots of each window's ring: the
	// window slides in steps of window/SlotsPerWindow (default 6).
	SlotsPerWindow int `mapstructure:"slots_per_window"`
	// Global makes the API also serve the global graph (?source=prometheus):
	// the graph of every meshlens replica, built from the Istio metrics they
	// export, read back from a Prometheus-compatible query endpoint.
	Global GlobalConfig `mapstructure:"global"`
}

// GlobalConfig locates the Prometheus-compatible query API (Prometheus,
// Thanos Query, Mimir, VictoriaMetrics…) that scrapes every meshlens
// replica.
type GlobalConfig struct {
	// PrometheusURL is the base URL of the query API: the graph runs instant
	// queries on <url>/api/v1/query. Empty disables the global graph.
	PrometheusURL string `mapstructure:"prometheus_url"`
	// Timeout bounds one global graph request, all its queries included
	// (default 10s).
	Timeout time.Duration `mapstructure:"timeout"`
	// Selector holds label matchers added to every metric selector, e.g.
	// `job="meshlens"`, so that only the replicas' series are read.
	Selector string `mapstructure:"selector"`
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken configopaque.String `mapstructure:"bearer_token"`
	// Username and Password, when set, are sent as HTTP basic auth.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
}

// Enabled reports whether the global graph is configured.
func (c GlobalConfig) Enabled() bool { return c.PrometheusURL != "" }

// DefaultGlobalTimeout is the default GlobalConfig.Timeout.
const DefaultGlobalTimeout = 10 * time.Second

// Validate checks the global graph's configuration.
func (c *GlobalConfig) Validate() error {
	if !c.Enabled() {
		if c.Selector != "" || c.BearerToken != "" || c.Username != "" || c.Password != "" || c.Timeout != 0 {
			return errors.New("global: prometheus_url is required when the other global settings are set")
		}
		return nil
	}
	var errs []error
	u, err := url.Parse(c.PrometheusURL)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("global: prometheus_url: %w", err))
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
		errs = append(errs, fmt.Errorf("global: prometheus_url %q must be an http:// or https:// URL with a host", c.PrometheusURL))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("global: prometheus_url %q must not carry a query, a fragment or credentials (use bearer_token or username/password)", c.PrometheusURL))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("global: timeout must not be negative, got %s", c.Timeout))
	}
	if _, err := promql.ParseMatchers(c.Selector); err != nil {
		errs = append(errs, fmt.Errorf("global: selector %q: %w", c.Selector, err))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("global: username and password must be set together"))
	}
	if c.BearerToken != "" && c.Username != "" {
		errs = append(errs, errors.New("global: set bearer_token or username/password, not both"))
	}
	return errors.Join(errs...)
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config {
	return Config{
		MaxEdges:       20000,
		MaxNodes:       10000,
		IdleTTL:        10 * time.Minute,
		Windows:        []time.Duration{time.Minute, 10 * time.Minute},
		SlotsPerWindow: 6,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxEdges == 0 {
		c.MaxEdges = d.MaxEdges
	}
	if c.MaxNodes == 0 {
		c.MaxNodes = d.MaxNodes
	}
	if len(c.Windows) == 0 {
		c.Windows = d.Windows
	}
	if c.SlotsPerWindow == 0 {
		c.SlotsPerWindow = d.SlotsPerWindow
	}
	if c.IdleTTL == 0 {
		c.IdleTTL = max(d.IdleTTL, c.Windows[len(c.Windows)-1])
	}
	if c.Global.Enabled() && c.Global.Timeout == 0 {
		c.Global.Timeout = DefaultGlobalTimeout
	}
	return c
}

// maxWindows bounds the number of windows (each costs memory per edge).
const maxWindows = 4

// Validate checks the configuration; zero values mean the defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.MaxEdges < 0 {
		errs = append(errs, fmt.Errorf("max_edges must not be negative, got %d", c.MaxEdges))
	}
	if c.MaxNodes < 0 {
		errs = append(errs, fmt.Errorf("max_nodes must not be negative, got %d", c.MaxNodes))
	}
	if c.SlotsPerWindow < 0 || c.SlotsPerWindow == 1 || c.SlotsPerWindow > 60 {
		errs = append(errs, fmt.Errorf("slots_per_window must be between 2 and 60, got %d", c.SlotsPerWindow))
	}
	if c.IdleTTL < 0 {
		errs = append(errs, fmt.Errorf("idle_ttl must not be negative, got %s", c.IdleTTL))
	}
	if err := c.Global.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	d := c.withDefaults()
	if len(d.Windows) > maxWindows {
		errs = append(errs, fmt.Errorf("windows: at most %d windows, got %d", maxWindows, len(d.Windows)))
	}
	if !slices.IsSorted(d.Windows) || len(slices.Compact(slices.Clone(d.Windows))) != len(d.Windows) {
		errs = append(errs, fmt.Errorf("windows must be strictly ascending, got %v", d.Windows))
	}
	for _, w := range d.Windows {
		slot := w / time.Duration(d.SlotsPerWindow)
		if slot < time.Second || w%time.Duration(d.SlotsPerWindow) != 0 || slot%time.Second != 0 {
			errs = append(errs, fmt.Errorf("windows: %s does not split into %d slots of whole seconds", w, d.SlotsPerWindow))
		}
	}
	if longest := d.Windows[len(d.Windows)-1]; d.IdleTTL < longest {
		errs = append(errs, fmt.Errorf("idle_ttl (%s) must not be shorter than the longest window (%s)", d.IdleTTL, longest))
	}
	return errors.Join(errs...)
}
