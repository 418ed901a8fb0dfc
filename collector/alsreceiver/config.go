package alsreceiver

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configgrpc"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
)

// Config is the receiver's YAML configuration.
type Config struct {
	// GRPC is the gRPC server: endpoint, TLS, keepalive, max_recv_msg_size_mib,
	// max_concurrent_streams (default 100 streams per connection).
	GRPC configgrpc.ServerConfig `mapstructure:",squash"`
	// Hub names the extension that consumes records and hosts /metrics
	// (default "meshlens").
	Hub component.ID `mapstructure:"hub"`
	// Normalizer tunes normalisation.
	Normalizer accesslog.Config `mapstructure:"normalizer"`
	// MaxTCPConnections bounds the table of open TCP connections whose
	// periodic entries are turned into deltas.
	MaxTCPConnections int `mapstructure:"max_tcp_connections"`
	// TCPConnectionTTL forgets a connection this long after its last entry.
	TCPConnectionTTL time.Duration `mapstructure:"tcp_connection_ttl"`
	// MaxStreams caps the ALS and Metrics Service streams open at once over
	// all connections (max_concurrent_streams caps them per connection).
	// Together with max_recv_msg_size_mib it bounds the memory ingest can
	// hold; a stream over the cap is refused with RESOURCE_EXHAUSTED.
	MaxStreams int `mapstructure:"max_streams"`
	// MemoryLimitMiB, when positive, is the heap size above which the
	// receiver drops incoming entries (counted as dropped, reason
	// memory_limit) until the heap falls again; it also sets the Go runtime's
	// soft memory limit so that the collector works to stay under it.
	MemoryLimitMiB int `mapstructure:"memory_limit_mib"`
	// Traces rebuilds spans from sampled entries for the traces pipeline
	// (exporters/spans.Pipeline).
	Traces spans.PipelineConfig `mapstructure:"traces"`
	// ReceiveBudgetMiB bounds the bytes of messages being received (first
	// byte arrived, last not yet) over all streams. Over it, the streams
	// with the oldest unfinished messages are ended. 0: a quarter of
	// memory_limit_mib, or DefaultReceiveBudgetMiB when that is off; never
	// less than max_recv_msg_size_mib.
	ReceiveBudgetMiB int `mapstructure:"receive_budget_mib"`
	// MessageTimeout is how long a message may take from its first byte to
	// its last; a stream whose message takes longer is ended.
	MessageTimeout time.Duration `mapstructure:"message_timeout"`
	// StreamIdleTimeout ends a stream that sends nothing for this long.
	// Envoy re-opens its stream on its next flush.
	StreamIdleTimeout time.Duration `mapstructure:"stream_idle_timeout"`
	// BindSPIFFEIdentity, with mutual TLS, accepts a stream only if its
	// node identity is the workload its client certificate's SPIFFE id
	// names (spiffe://<trust domain>/ns/<namespace>/sa/<service account>):
	// the same namespace, and the same service account when the node
	// metadata carries SERVICE_ACCOUNT.
	BindSPIFFEIdentity bool `mapstructure:"bind_spiffe_identity"`
	// DrainTimeout is how long Shutdown lets open streams end by themselves
	// (after GOAWAY) before cancelling them. Envoy's streams are long-lived:
	// a cancelled stream loses nothing already received, since every
	// received message is aggregated before the next is read.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// EventLoop serves the port from event loops instead of grpc-go (ADR
	// 0014; Linux, plaintext only).
	EventLoop EventLoopConfig `mapstructure:"event_loop"`

	_ struct{}
}

var _ component.Config = (*Config)(nil)

// DefaultEventLoopTick is event_loop::tick's default: sparse traffic is
// read five times a second, a message waiting at most 200 ms more (Envoy
// holds entries for up to a second before it sends them).
const DefaultEventLoopTick = 200 * time.Millisecond

// EventLoopConfig is the event_loop section: the connections are read by
// a few event loops (evloop.go) instead of a goroutine per connection and
// per stream (grpc-go), which costs less per message where many proxies
// each send a small message a second.
type EventLoopConfig struct {
	// Enabled turns it on (off: grpc-go through configgrpc).
	Enabled bool `mapstructure:"enabled"`
	// Loops is the number of event loops; 0: one per core (GOMAXPROCS).
	Loops int `mapstructure:"loops"`
	// Tick is how long a loop sleeps after each wake-up, so that one
	// wake-up reads the messages of many connections; a message waits at
	// most this much longer. 0: no sleep. A loop does not sleep for 8
	// ticks after a read of 32 KiB or more (a busy sender).
	Tick time.Duration `mapstructure:"tick"`
}

// DefaultReceiveBudgetMiB is the receive budget when neither
// receive_budget_mib nor memory_limit_mib is set.
const DefaultReceiveBudgetMiB = 64

// maxReceiveBudgetMiB (1 TiB) keeps the budget in bytes far from overflow.
const maxReceiveBudgetMiB = 1 << 20

// receiveBudget returns the receive budget in bytes (see ReceiveBudgetMiB).
func (c *Config) receiveBudget() int64 {
	mib := c.ReceiveBudgetMiB
	if mib == 0 {
		mib = DefaultReceiveBudgetMiB
		if c.MemoryLimitMiB > 0 {
			mib = c.MemoryLimitMiB / 4
		}
	}
	return int64(max(mib, c.GRPC.MaxRecvMsgSizeMiB, 1)) << 20
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs error
	if c.GRPC.NetAddr.Endpoint == "" {
		errs = errors.Join(errs, errors.New("endpoint must be set"))
	}
	if c.GRPC.MaxRecvMsgSizeMiB < 0 {
		errs = errors.Join(errs, fmt.Errorf("max_recv_msg_size_mib must not be negative, got %d", c.GRPC.MaxRecvMsgSizeMiB))
	}
	if c.MaxTCPConnections <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_tcp_connections must be positive, got %d", c.MaxTCPConnections))
	}
	if c.TCPConnectionTTL <= 0 {
		errs = errors.Join(errs, fmt.Errorf("tcp_connection_ttl must be positive, got %s", c.TCPConnectionTTL))
	}
	if c.MaxStreams <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_streams must be positive, got %d", c.MaxStreams))
	}
	if c.MemoryLimitMiB < 0 {
		errs = errors.Join(errs, fmt.Errorf("memory_limit_mib must not be negative, got %d", c.MemoryLimitMiB))
	}
	if err := c.Traces.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("traces: %w", err))
	}
	if c.ReceiveBudgetMiB < 0 || c.ReceiveBudgetMiB > maxReceiveBudgetMiB {
		errs = errors.Join(errs, fmt.Errorf("receive_budget_mib must be between 0 and %d, got %d", maxReceiveBudgetMiB, c.ReceiveBudgetMiB))
	} else if c.ReceiveBudgetMiB > 0 && c.ReceiveBudgetMiB < c.GRPC.MaxRecvMsgSizeMiB {
		errs = errors.Join(errs, fmt.Errorf("receive_budget_mib (%d) must be at least max_recv_msg_size_mib (%d), or no message that large could be received",
			c.ReceiveBudgetMiB, c.GRPC.MaxRecvMsgSizeMiB))
	}
	if c.MessageTimeout <= 0 {
		errs = errors.Join(errs, fmt.Errorf("message_timeout must be positive, got %s", c.MessageTimeout))
	}
	if c.StreamIdleTimeout <= 0 {
		errs = errors.Join(errs, fmt.Errorf("stream_idle_timeout must be positive, got %s", c.StreamIdleTimeout))
	}
	if c.BindSPIFFEIdentity && (!c.GRPC.TLS.HasValue() || c.GRPC.TLS.Get().ClientCAFile == "") {
		errs = errors.Join(errs, errors.New("bind_spiffe_identity needs mutual TLS: set tls::client_ca_file"))
	}
	if c.DrainTimeout < 0 {
		errs = errors.Join(errs, fmt.Errorf("drain_timeout must not be negative, got %s", c.DrainTimeout))
	}
	if err := c.Normalizer.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("normalizer: %w", err))
	}
	if c.EventLoop.Enabled {
		if c.GRPC.TLS.HasValue() {
			errs = errors.Join(errs, errors.New("event_loop serves plaintext only: remove tls, or turn event_loop off"))
		}
		if c.GRPC.NetAddr.Transport != "" && c.GRPC.NetAddr.Transport != "tcp" {
			errs = errors.Join(errs, fmt.Errorf("event_loop listens on TCP only, got transport %q", c.GRPC.NetAddr.Transport))
		}
		if c.GRPC.Auth.HasValue() {
			errs = errors.Join(errs, errors.New("event_loop does not run auth extensions: remove auth, or turn event_loop off"))
		}
	}
	if c.EventLoop.Loops < 0 || c.EventLoop.Loops > 1024 {
		errs = errors.Join(errs, fmt.Errorf("event_loop::loops must be between 0 and 1024, got %d", c.EventLoop.Loops))
	}
	if c.EventLoop.Tick < 0 || c.EventLoop.Tick > time.Second {
		errs = errors.Join(errs, fmt.Errorf("event_loop::tick must be between 0 and 1s, got %s", c.EventLoop.Tick))
	}
	return errs
}
