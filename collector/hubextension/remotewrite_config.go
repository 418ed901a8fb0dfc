package hubextension

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
)

// RemoteWriteConfig sets meshlens's own Prometheus remote-write sender
// (docs/push.md, ADR 0013): every interval it pushes the series of its
// sources (the Istio series, envoy_*, the span metrics) to endpoint as
// remote write 1.0 requests. It is off unless endpoint is set.
type RemoteWriteConfig struct {
	// Client is the HTTP client: endpoint (the receiver's URL, e.g.
	// http://prometheus:9090/api/v1/write), timeout (of one request,
	// default 10s), headers, tls, auth, proxy_url, as the Collector's
	// HTTP exporters. compression must stay unset: requests are
	// snappy-compressed, as remote write requires.
	Client confighttp.ClientConfig `mapstructure:",squash"`
	// Interval is how often the series are pushed (default 15s, at least
	// 1s). A push that takes longer delays the next one: pushes never
	// queue, the next one carries the newer cumulative values.
	Interval time.Duration `mapstructure:"interval"`
	// MaxRequestBytes caps a request's uncompressed size, in bytes (default
	// 4 MiB, from 64 KiB to 256 MiB); a request may pass it by the series
	// of one label set (~70 KB).
	MaxRequestBytes int `mapstructure:"max_request_bytes"`
	// ExternalLabels are added to every series pushed (Prometheus's
	// external_labels). job defaults to "meshlens" and instance to the host
	// name (a pod's name in Kubernetes), so that replicas push distinct
	// series; set either to "" to leave it out.
	ExternalLabels map[string]string `mapstructure:"external_labels"`
	// Retry sets the retries of a request answered 5xx or 429, or not
	// answered; 4xx answers are not retried.
	Retry RemoteWriteRetryConfig `mapstructure:"retry"`
	// Sources are what is pushed, named as the meshlens_metrics receiver's
	// sources: istio (istio_*), envoy (envoy_*, Envoy's own stats from the
	// Metrics Service) and span_metrics (traces_span_metrics_*); default
	// all three. Each is pushed as /metrics writes it.
	Sources []string `mapstructure:"sources"`

	_ struct{}
}

// RemoteWriteRetryConfig sets the retries of a remote-write request.
type RemoteWriteRetryConfig struct {
	// MaxRetries is the most retries of one request (default 3; 0: none).
	MaxRetries int `mapstructure:"max_retries"`
	// InitialInterval is the wait before the first retry, doubled for each
	// next one up to MaxInterval (defaults 500ms and 5s). No retry starts
	// after the push's interval is over: the next push supersedes it.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	MaxInterval     time.Duration `mapstructure:"max_interval"`
}

// Remote-write defaults and bounds.
const (
	DefaultRemoteWriteInterval        = 15 * time.Second
	DefaultRemoteWriteTimeout         = 10 * time.Second
	DefaultRemoteWriteMaxRequestBytes = 4 << 20
	minRemoteWriteRequestBytes        = 64 << 10
	maxRemoteWriteRequestBytes        = 256 << 20
)

// The sources of the remote-write sender, named as the meshlens_metrics
// receiver's.
const (
	RemoteWriteSourceIstio       = "istio"        // istio_* (exporters/istiometrics)
	RemoteWriteSourceEnvoy       = "envoy"        // envoy_* (exporters/envoystats)
	RemoteWriteSourceSpanMetrics = "span_metrics" // traces_span_metrics_* (exporters/spans)
)

var remoteWriteSources = []string{RemoteWriteSourceIstio, RemoteWriteSourceEnvoy, RemoteWriteSourceSpanMetrics}

// sourceLabels are the label names each source's series always have,
// which an external label may not take.
var sourceLabels = map[string][]string{
	RemoteWriteSourceIstio: slices.Concat([]string{"le"}, istiometrics.HTTPLabels, istiometrics.TCPLabels),
	RemoteWriteSourceEnvoy: {
		envoystats.LabelNodeID, envoystats.LabelNodeCluster, envoystats.LabelNamespace,
		envoystats.LabelWorkload, envoystats.LabelPod, "le", "quantile",
	},
	RemoteWriteSourceSpanMetrics: {"service_name", "span_name", "span_kind", "status_code", "le"},
}

func defaultRemoteWriteConfig() RemoteWriteConfig {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = DefaultRemoteWriteTimeout
	return RemoteWriteConfig{
		Client:          client,
		Interval:        DefaultRemoteWriteInterval,
		MaxRequestBytes: DefaultRemoteWriteMaxRequestBytes,
		Retry:           RemoteWriteRetryConfig{MaxRetries: 3, InitialInterval: 500 * time.Millisecond, MaxInterval: 5 * time.Second},
		Sources:         slices.Clone(remoteWriteSources),
	}
}

// Enabled reports whether the sender runs: an endpoint is set.
func (c *RemoteWriteConfig) Enabled() bool { return c.Client.Endpoint != "" }

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks the sender's settings, naming their YAML keys (under
// remote_write). Nothing is checked while endpoint is unset.
func (c *RemoteWriteConfig) Validate() error {
	if !c.Enabled() {
		return nil
	}
	var errs error
	if u, err := url.Parse(c.Client.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = errors.Join(errs, fmt.Errorf("endpoint %q must be an http:// or https:// URL with a host", c.Client.Endpoint))
	}
	if c.Client.Compression != "" && c.Client.Compression != "none" {
		errs = errors.Join(errs, fmt.Errorf("compression must not be set (got %q): requests are snappy-compressed, as remote write requires", c.Client.Compression))
	}
	if c.Client.Timeout <= 0 {
		errs = errors.Join(errs, fmt.Errorf("timeout must be positive, got %s", c.Client.Timeout))
	}
	if c.Interval < time.Second {
		errs = errors.Join(errs, fmt.Errorf("interval must be at least 1s, got %s", c.Interval))
	}
	if c.MaxRequestBytes < minRemoteWriteRequestBytes || c.MaxRequestBytes > maxRemoteWriteRequestBytes {
		errs = errors.Join(errs, fmt.Errorf("max_request_bytes must be between %d and %d, got %d", minRemoteWriteRequestBytes, maxRemoteWriteRequestBytes, c.MaxRequestBytes))
	}
	names := make([]string, 0, len(c.ExternalLabels))
	for n := range c.ExternalLabels {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(c.Sources) == 0 {
		errs = errors.Join(errs, fmt.Errorf("sources must name at least one of %v", remoteWriteSources))
	}
	for i, s := range c.Sources {
		switch {
		case !slices.Contains(remoteWriteSources, s):
			errs = errors.Join(errs, fmt.Errorf("sources: unknown source %q, want one of %v", s, remoteWriteSources))
		case slices.Contains(c.Sources[:i], s):
			errs = errors.Join(errs, fmt.Errorf("sources: %q listed twice", s))
		}
	}
	for _, n := range names {
		if !labelName.MatchString(n) || len(n) >= 2 && n[:2] == "__" {
			errs = errors.Join(errs, fmt.Errorf("external_labels: %q is not a label name (letters, digits and _, not starting with a digit or __)", n))
			continue
		}
		for _, s := range remoteWriteSources {
			if slices.Contains(c.Sources, s) && slices.Contains(sourceLabels[s], n) {
				errs = errors.Join(errs, fmt.Errorf("external_labels: %q is a label of the %s series (sources)", n, s))
				break
			}
		}
	}
	r := c.Retry
	if r.MaxRetries < 0 {
		errs = errors.Join(errs, fmt.Errorf("retry::max_retries must not be negative, got %d", r.MaxRetries))
	}
	if r.MaxRetries > 0 && (r.InitialInterval <= 0 || r.MaxInterval < r.InitialInterval) {
		errs = errors.Join(errs, fmt.Errorf("retry: initial_interval must be positive and at most max_interval, got %s and %s", r.InitialInterval, r.MaxInterval))
	}
	return errs
}
