package collector

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// TracesEndpointEnv is the environment variable that sets --traces-endpoint.
const TracesEndpointEnv = "MESHLENS_TRACES_ENDPOINT"

const tracesFlag = "traces-endpoint"

// addTracesFlag registers --traces-endpoint (default $MESHLENS_TRACES_ENDPOINT)
// and returns where its value lands.
func addTracesFlag(cmd *cobra.Command) *string {
	v := new(string)
	cmd.Flags().StringVar(v, tracesFlag, os.Getenv(TracesEndpointEnv),
		"export spans rebuilt from the access log over OTLP/gRPC to this endpoint (host:port; plaintext, or https://host:port for TLS), "+
			"e.g. a Jaeger v2 collector; also $"+TracesEndpointEnv)
	return v
}

// useTracesEndpoint adds TracesConfig(endpoint) after the config the
// command already has (the embedded default or --config files; --set still
// applies last). It does nothing for an empty endpoint or a command without
// --config.
func useTracesEndpoint(c *cobra.Command, endpoint string) error {
	f := c.Flags().Lookup("config")
	if endpoint == "" || f == nil {
		return nil
	}
	frag, err := TracesConfig(endpoint)
	if err != nil {
		return fmt.Errorf("--%s: %w", tracesFlag, err)
	}
	if err := c.Flags().Set("config", frag); err != nil {
		return fmt.Errorf("--%s: %w", tracesFlag, err)
	}
	return nil
}

// TracesConfig returns the config fragment, as a "yaml:" URI to merge after
// the default config, that exports the receiver's rebuilt spans over
// OTLP/gRPC to endpoint: it turns on the envoyals receiver's traces and
// sets the traces pipeline's exporters to an otlp_grpc/traces exporter.
//
// That exporter has no sending queue of its own: meshlens's span pipeline
// (exporters/spans.Pipeline) is the queue, bounded by traces::queue_size,
// and hands the exporter batches of what waited meanwhile (up to 5,000
// spans). Each export then returns only when the backend took the spans, or
// when it failed after retrying for a minute, so meshlens counts spans as
// exported only when they were (meshlens_spans_total{stage="exported"}) and
// counts every failure in meshlens_spans_dropped_total{reason="pipeline_error"};
// while an export retries, new spans wait in meshlens's queue and beyond it
// are dropped, counted (reason="queue_full"). An exporter queue, or a batch
// processor in front, would take spans it may later drop uncounted.
//
// endpoint is host:port (plaintext: what an in-cluster or loopback Jaeger
// collector serves), http://host:port (the same) or https://host:port (TLS,
// verified with the system roots). Anything else takes --config.
func TracesConfig(endpoint string) (string, error) {
	hostport, insecure, err := parseTracesEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`yaml:
exporters:
  otlp_grpc/traces:
    endpoint: %q
    tls:
      insecure: %t
    sending_queue:
      enabled: false
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_interval: 10s
      max_elapsed_time: 1m
receivers:
  envoyals:
    traces:
      enabled: true
service:
  pipelines:
    traces:
      exporters: [otlp_grpc/traces]
`, hostport, insecure), nil
}

// parseTracesEndpoint accepts host:port, http://host:port and
// https://host:port, and returns host:port and whether the connection is
// plaintext. Hosts are DNS names or IP addresses, ports 1–65535.
func parseTracesEndpoint(s string) (hostport string, insecure bool, err error) {
	insecure = true
	rest := s
	switch {
	case strings.HasPrefix(s, "https://"):
		rest, insecure = s[len("https://"):], false
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	}
	rest = strings.TrimSuffix(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		return "", false, fmt.Errorf("endpoint %q: want host:port, http://host:port or https://host:port", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || strconv.Itoa(p) != port {
		return "", false, fmt.Errorf("endpoint %q: port %q is not a number in 1-65535", s, port)
	}
	if net.ParseIP(host) == nil && !isDNSName(host) {
		return "", false, fmt.Errorf("endpoint %q: host %q is neither an IP address nor a DNS name", s, host)
	}
	return net.JoinHostPort(host, port), insecure, nil
}

// isDNSName reports whether s is a DNS name: dot-separated labels of
// letters, digits, '-' and '_', none empty or longer than 63 bytes.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}
