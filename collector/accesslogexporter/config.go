package accesslogexporter

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/format"
)

// Body formats.
const (
	FormatIstio     = "istio"      // Istio's default text format
	FormatIstioJSON = "istio_json" // Istio's JSON encoding
	FormatEnvoy     = "envoy"      // format_string: any Envoy text format
	FormatJSON      = "json"       // json_fields: any Envoy JSON format
)

// Config is the exporter's YAML configuration.
type Config struct {
	// Hub names the hub extension fed (default "meshlens").
	Hub component.ID `mapstructure:"hub"`
	// Format is how a record's body is read when its attributes carry no
	// field: istio (default), istio_json, envoy (FormatString) or json
	// (JSONFields).
	Format string `mapstructure:"format"`
	// FormatString is the Envoy text format of Format envoy.
	FormatString string `mapstructure:"format_string"`
	// JSONFields is the key → operator map of Format json.
	JSONFields map[string]string `mapstructure:"json_fields"`
	// Attributes maps log record attribute keys to Envoy command operators
	// (default: the recommended set, format.EnvoyOTelAttributes, which
	// deploy/ configures Envoy and Istio to send).
	Attributes map[string]string `mapstructure:"attributes"`
	// Normalizer is the normaliser's settings, as the envoyals receiver's.
	Normalizer accesslog.Config `mapstructure:"normalizer"`
	// MaxStreams bounds the reporting proxies tracked at once, each with
	// its normaliser's tables (default 10000); a record of a new proxy
	// beyond it replaces the proxy idle longest if that is 10 s or more,
	// else it is dropped (reason stream_limit).
	MaxStreams int `mapstructure:"max_streams"`
	// StreamIdleTimeout forgets a proxy that sent nothing for this long
	// (default 5m).
	StreamIdleTimeout time.Duration `mapstructure:"stream_idle_timeout"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate checks the configuration: the formats must compile.
func (c *Config) Validate() error {
	var errs error
	if _, err := c.bodyParser(); err != nil {
		errs = errors.Join(errs, err)
	}
	if _, err := format.CompileJSON(c.Attributes); err != nil {
		errs = errors.Join(errs, fmt.Errorf("attributes: %w", err))
	}
	if c.MaxStreams <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_streams must be positive, got %d", c.MaxStreams))
	}
	if c.StreamIdleTimeout < time.Second {
		errs = errors.Join(errs, fmt.Errorf("stream_idle_timeout must be at least 1s, got %s", c.StreamIdleTimeout))
	}
	if err := c.Normalizer.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("normalizer: %w", err))
	}
	return errs
}

// bodyParser is the configured body format, compiled.
type bodyParser struct {
	text *format.Format
	json *format.JSONFormat
}

func (c *Config) bodyParser() (bodyParser, error) {
	switch c.Format {
	case FormatIstio, "":
		f, err := format.Compile(format.IstioDefault)
		return bodyParser{text: f}, err
	case FormatIstioJSON:
		f, err := format.CompileJSON(format.IstioJSON)
		return bodyParser{json: f}, err
	case FormatEnvoy:
		if c.FormatString == "" {
			return bodyParser{}, errors.New("format envoy needs format_string")
		}
		f, err := format.Compile(c.FormatString)
		if err != nil {
			return bodyParser{}, fmt.Errorf("format_string: %w", err)
		}
		return bodyParser{text: f}, nil
	case FormatJSON:
		if len(c.JSONFields) == 0 {
			return bodyParser{}, errors.New("format json needs json_fields")
		}
		f, err := format.CompileJSON(c.JSONFields)
		if err != nil {
			return bodyParser{}, fmt.Errorf("json_fields: %w", err)
		}
		return bodyParser{json: f}, nil
	}
	return bodyParser{}, fmt.Errorf("format must be one of %s, %s, %s, %s; got %q", FormatIstio, FormatIstioJSON, FormatEnvoy, FormatJSON, c.Format)
}
