package h2grpc

import (
	"errors"
	"fmt"
)

// Config bounds what one client connection can make a Conn hold or do. A
// zero field takes its default (see DefaultConfig).
type Config struct {
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS, announced
	// and enforced: a stream beyond it is refused with RST_STREAM
	// REFUSED_STREAM (the client retries it) before the Handler sees it.
	MaxConcurrentStreams uint32
	// InitialWindowSize is SETTINGS_INITIAL_WINDOW_SIZE, the bytes of DATA
	// a stream may send before our WINDOW_UPDATE; at least 65,535 (the
	// protocol's default, which a client may use until it has acknowledged
	// our SETTINGS).
	InitialWindowSize uint32
	// ConnWindowSize is the connection's flow-control window, all streams
	// together; at least 65,535.
	ConnWindowSize uint32
	// MaxFrameSize is SETTINGS_MAX_FRAME_SIZE, announced and enforced (a
	// larger frame is a FRAME_SIZE_ERROR); 16,384 to 16,777,215.
	MaxFrameSize uint32
	// MaxHeaderListSize is SETTINGS_MAX_HEADER_LIST_SIZE: the HPACK-decoded
	// size (RFC 9113 §6.5.2: name + value + 32 per field) of one header
	// block, CONTINUATION frames included. A larger block refuses its
	// stream with RESOURCE_EXHAUSTED; a block whose encoded bytes (plus 9
	// per frame) exceed twice this ends the connection (a CONTINUATION
	// flood, CVE-2024-27316).
	MaxHeaderListSize uint32
	// MaxRecvMsgSize is the largest gRPC message accepted, in bytes. A
	// larger length prefix answers its stream RESOURCE_EXHAUSTED before any
	// of the message is held.
	MaxRecvMsgSize int
	// MaxResetsPerSecond bounds the streams the client resets (RST_STREAM)
	// plus the streams refused for MaxConcurrentStreams, in any one-second
	// window; beyond it the connection gets GOAWAY ENHANCE_YOUR_CALM (rapid
	// reset, CVE-2023-44487).
	MaxResetsPerSecond int
	// MaxControlFramesPending bounds the frames queued in answer to the
	// client's control frames (PING and SETTINGS acknowledgements,
	// RST_STREAMs) since Output was last written out; beyond it the
	// connection gets GOAWAY ENHANCE_YOUR_CALM (a client that floods PINGs
	// and does not read).
	MaxControlFramesPending int
	// MaxOutput bounds the bytes of Output not yet Written; beyond it the
	// connection gets GOAWAY ENHANCE_YOUR_CALM.
	MaxOutput int
	// Buffers, if set, lends the buffers messages are assembled in to every
	// Conn that shares it; a Conn then keeps no spare buffer of its own,
	// so an idle connection holds none (nil: each Conn keeps a few).
	Buffers BufferPool
}

// BufferPool lends message buffers (consumer-side interface: the adapter
// implements it, e.g. with sync.Pool, shared by its connections).
type BufferPool interface {
	// Get returns an empty buffer of at least capacity bytes.
	Get(capacity int) []byte
	// Put takes back a buffer Get returned, or one grown from it.
	Put(b []byte)
}

// Defaults of Config's fields.
const (
	DefaultMaxConcurrentStreams    = 100
	DefaultInitialWindowSize       = 64 << 10
	DefaultConnWindowSize          = 1 << 20
	DefaultMaxFrameSize            = 16 << 10
	DefaultMaxHeaderListSize       = 64 << 10
	DefaultMaxRecvMsgSize          = 4 << 20
	DefaultMaxResetsPerSecond      = 200
	DefaultMaxControlFramesPending = 1000
	DefaultMaxOutput               = 256 << 10
)

// Protocol limits (RFC 9113 §6.5.2, §6.9.1).
const (
	minWindowSize    = 65535
	maxWindowSize    = 1<<31 - 1
	minMaxFrameSize  = 16384
	maxMaxFrameSize  = 1<<24 - 1
	defaultTableSize = 4096 // SETTINGS_HEADER_TABLE_SIZE, ours and the client's until it says otherwise
)

// DefaultConfig returns the configuration a zero Config stands for.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	set := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	setInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	set(&c.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	set(&c.InitialWindowSize, DefaultInitialWindowSize)
	set(&c.ConnWindowSize, DefaultConnWindowSize)
	set(&c.MaxFrameSize, DefaultMaxFrameSize)
	set(&c.MaxHeaderListSize, DefaultMaxHeaderListSize)
	setInt(&c.MaxRecvMsgSize, DefaultMaxRecvMsgSize)
	setInt(&c.MaxResetsPerSecond, DefaultMaxResetsPerSecond)
	setInt(&c.MaxControlFramesPending, DefaultMaxControlFramesPending)
	setInt(&c.MaxOutput, DefaultMaxOutput)
	return c
}

// Validate reports every field that is out of range once defaults are
// applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.InitialWindowSize < minWindowSize || c.InitialWindowSize > maxWindowSize {
		errs = append(errs, fmt.Errorf("InitialWindowSize %d: must be %d to %d", c.InitialWindowSize, minWindowSize, maxWindowSize))
	}
	if c.ConnWindowSize < minWindowSize || c.ConnWindowSize > maxWindowSize {
		errs = append(errs, fmt.Errorf("ConnWindowSize %d: must be %d to %d", c.ConnWindowSize, minWindowSize, maxWindowSize))
	}
	if c.MaxFrameSize < minMaxFrameSize || c.MaxFrameSize > maxMaxFrameSize {
		errs = append(errs, fmt.Errorf("MaxFrameSize %d: must be %d to %d", c.MaxFrameSize, minMaxFrameSize, maxMaxFrameSize))
	}
	if c.MaxHeaderListSize < 1024 {
		errs = append(errs, fmt.Errorf("MaxHeaderListSize %d: must be at least 1024", c.MaxHeaderListSize))
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"MaxRecvMsgSize", c.MaxRecvMsgSize},
		{"MaxResetsPerSecond", c.MaxResetsPerSecond},
		{"MaxControlFramesPending", c.MaxControlFramesPending},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d: must not be negative", f.name, f.v))
		}
	}
	if c.MaxOutput < 4096 {
		errs = append(errs, fmt.Errorf("MaxOutput %d: must be at least 4096", c.MaxOutput))
	}
	return errors.Join(errs...)
}
