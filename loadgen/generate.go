package loadgen

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// DefaultStart is the start time used when GenConfig.Start is zero.
var DefaultStart = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// GenConfig configures Generate. Zero values take the documented defaults.
type GenConfig struct {
	// Seed seeds every random choice; the same Mesh, Seed and config give
	// byte-identical Traffic.
	Seed uint64
	// Requests is the number of simulated calls (HTTP/gRPC requests and TCP
	// connections, picked by edge weight).
	Requests int
	// Start is the start time of call 0 (default DefaultStart); call i starts
	// at Start + i*Interval.
	Start time.Time
	// Interval between call starts (default 1ms).
	Interval time.Duration
	// BatchSize is the maximum number of entries per StreamAccessLogsMessage
	// (default 100).
	BatchSize int
	// FlushInterval, if positive, also ends a message when an entry is
	// written FlushInterval or more after the message's first entry (Envoy's
	// buffer_flush_interval). Zero batches by size only.
	FlushInterval time.Duration
	// StreamsPerProxy is the number of concurrent streams per proxy and logger
	// (Envoy worker threads; default 1). Each request's entry goes to one of
	// them at random; all entries of one TCP connection go to the same one.
	StreamsPerProxy int
	// TCPPeriodic makes TCP connections also write TcpPeriodic entries every
	// TCPPeriodicInterval (default 1s) while open.
	TCPPeriodic         bool
	TCPPeriodicInterval time.Duration
	// OmitStreamID leaves every entry's stream_id unset, as Envoys older
	// than the field do: a consumer then tells the periodic entries of one
	// TCP connection apart from another's by its addresses only.
	OmitStreamID bool
	// UntracedShare is the share of requests on traced edges that carry no
	// trace context; UnsampledShare the share of traced requests whose
	// sampled flag is off.
	UntracedShare  float64
	UnsampledShare float64
	// MetricsInterval, if positive, also produces one Metrics Service stream
	// per proxy (Traffic.Metrics) with a stats flush every MetricsInterval
	// (Envoy's default is 5s).
	MetricsInterval time.Duration
}

func (c GenConfig) withDefaults() GenConfig {
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Interval <= 0 {
		c.Interval = time.Millisecond
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.StreamsPerProxy <= 0 {
		c.StreamsPerProxy = 1
	}
	if c.TCPPeriodicInterval <= 0 {
		c.TCPPeriodicInterval = time.Second
	}
	return c
}

// StreamKind says which logger a stream belongs to.
type StreamKind int

// Stream kinds.
const (
	StreamHTTP StreamKind = iota // http_envoy_accesslog, HTTPAccessLogEntries
	StreamTCP                    // tcp_envoy_accesslog, TCPAccessLogEntries
)

// Stream is one ALS gRPC stream as one Envoy worker's logger would open it:
// pre-encoded StreamAccessLogsMessages in send order. Messages[0] starts with
// the identifier (field 1); Messages[0][IdentifierLen:] is the same message
// without it (what to send when re-using an open stream). The byte slices
// are shared and must not be modified.
type Stream struct {
	NodeID   string
	LogName  string
	Kind     StreamKind
	Worker   int
	Messages [][]byte
	// Entries[i] is the number of log entries in Messages[i].
	Entries       []int
	IdentifierLen int
	entryTotal    int
	byteTotal     int
}

// EntryCount returns the number of entries on the stream.
func (s *Stream) EntryCount() int { return s.entryTotal }

// ByteCount returns the encoded size of all messages.
func (s *Stream) ByteCount() int { return s.byteTotal }

// Decode unmarshals the stream's messages.
func (s *Stream) Decode() ([]*alsv3.StreamAccessLogsMessage, error) {
	out := make([]*alsv3.StreamAccessLogsMessage, len(s.Messages))
	for i, b := range s.Messages {
		m := &alsv3.StreamAccessLogsMessage{}
		if err := proto.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("decode message %d of %s: %w", i, s.NodeID, err)
		}
		out[i] = m
	}
	return out, nil
}

// Traffic is the output of Generate: ALS streams (and optionally Metrics
// Service streams) plus the ledger of what they contain.
type Traffic struct {
	Streams []Stream
	// Metrics holds one Metrics Service stream per proxy when
	// GenConfig.MetricsInterval > 0.
	Metrics []MetricsStream
	Ledger  Ledger
	// Start is the first call's start time; End the time of the last entry.
	Start, End time.Time
}

// EntryCount returns the number of entries over all streams.
func (t *Traffic) EntryCount() int {
	n := 0
	for i := range t.Streams {
		n += t.Streams[i].entryTotal
	}
	return n
}

// MessageCount returns the number of messages over all streams.
func (t *Traffic) MessageCount() int {
	n := 0
	for i := range t.Streams {
		n += len(t.Streams[i].Messages)
	}
	return n
}

// ByteCount returns the encoded size of all messages over all streams.
func (t *Traffic) ByteCount() int {
	n := 0
	for i := range t.Streams {
		n += t.Streams[i].byteTotal
	}
	return n
}

type pendingEntry struct {
	at  int64
	seq uint64
	b   []byte
}

type streamBuf struct {
	p       *proxy
	kind    logKind
	worker  int
	entries []pendingEntry
}

type batchSink struct {
	workers int
	bufs    []*streamBuf
	seq     uint64
	events  []statEvent
}

func (s *batchSink) entry(p *proxy, kind logKind, worker int, at int64, b []byte) {
	i := (p.idx*2+int(kind))*s.workers + worker
	buf := s.bufs[i]
	if buf == nil {
		buf = &streamBuf{p: p, kind: kind, worker: worker}
		s.bufs[i] = buf
	}
	s.seq++
	buf.entries = append(buf.entries, pendingEntry{at: at, seq: s.seq, b: b})
}

func (s *batchSink) event(ev statEvent) {
	s.seq++
	ev.seq = s.seq
	s.events = append(s.events, ev)
}

// Generate simulates cfg.Requests calls on the mesh and returns the encoded
// streams and their ledger. It is deterministic: it reads no clock and draws
// every random value from cfg.Seed. Entries of each stream are ordered by the
// time Envoy would write them (request end; periodic flush for TCP) and cut
// into messages of at most BatchSize entries.
//
// Generate panics if the mesh is invalid; call Validate first for meshes
// built from user input.
func (m Mesh) Generate(cfg GenConfig) *Traffic {
	c, err := compile(m)
	if err != nil {
		panic("loadgen: " + err.Error())
	}
	return c.generate(cfg)
}

// chunkCalls is the number of calls one generator simulates. Chunks run in
// parallel, each with its own random source seeded from (Seed, chunk index),
// so the output does not depend on GOMAXPROCS.
const chunkCalls = 4096

type chunkResult struct {
	sink *batchSink
	led  Ledger
}

func (c *compiled) generate(cfg GenConfig) *Traffic {
	cfg = cfg.withDefaults()
	nbufs := len(c.proxies) * 2 * cfg.StreamsPerProxy
	chunks := make([]chunkResult, (cfg.Requests+chunkCalls-1)/chunkCalls)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(chunks)) {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= len(chunks) {
					return
				}
				chunks[j] = c.generateChunk(cfg, j, nbufs)
			}
		})
	}
	wg.Wait()

	t := &Traffic{Start: cfg.Start, End: cfg.Start}
	led := newLedger()
	var events []statEvent
	for _, ch := range chunks {
		led.merge(&ch.led)
		events = append(events, ch.sink.events...)
	}
	var last int64
	var merged []pendingEntry
	for i := range nbufs {
		merged = merged[:0]
		var buf *streamBuf
		for _, ch := range chunks {
			if b := ch.sink.bufs[i]; b != nil {
				buf = b
				merged = append(merged, b.entries...)
				b.entries = nil
			}
		}
		if buf == nil {
			continue
		}
		slices.SortFunc(merged, func(a, b pendingEntry) int {
			if c := cmp.Compare(a.at, b.at); c != 0 {
				return c
			}
			return cmp.Compare(a.seq, b.seq)
		})
		last = max(last, merged[len(merged)-1].at)
		t.Streams = append(t.Streams, buildStream(buf, merged, cfg))
	}
	if last > 0 {
		t.End = time.Unix(0, last).UTC()
	}
	for i := range t.Streams {
		led.Messages += int64(len(t.Streams[i].Messages))
	}
	if cfg.MetricsInterval > 0 {
		t.Metrics = c.metricsStreams(events, cfg, t.End)
		for i := range t.Metrics {
			led.MetricsMessages += int64(len(t.Metrics[i].Messages))
		}
	}
	t.Ledger = led
	return t
}

// generateChunk simulates calls [j*chunkCalls, (j+1)*chunkCalls).
func (c *compiled) generateChunk(cfg GenConfig, j, nbufs int) chunkResult {
	led := newLedger()
	s := &batchSink{workers: cfg.StreamsPerProxy, bufs: make([]*streamBuf, nbufs), seq: uint64(j) << 40}
	g := newGenerator(c, cfg, uint64(j), s, &led, cfg.MetricsInterval > 0)
	for i := j * chunkCalls; i < min((j+1)*chunkCalls, cfg.Requests); i++ {
		g.call(cfg.Start.Add(time.Duration(i) * cfg.Interval))
	}
	return chunkResult{sink: s, led: led}
}

func buildStream(buf *streamBuf, sorted []pendingEntry, cfg GenConfig) Stream {
	st := Stream{NodeID: buf.p.nodeID, Worker: buf.worker}
	ident := buf.p.identHTTP
	st.LogName, st.Kind = HTTPLogName, StreamHTTP
	if buf.kind == kindTCP {
		ident = buf.p.identTCP
		st.LogName, st.Kind = TCPLogName, StreamTCP
	}
	entries := make([][]byte, 0, cfg.BatchSize)
	flushWindow := int64(cfg.FlushInterval)
	for i := 0; i < len(sorted); {
		first := sorted[i].at
		entries = entries[:0]
		for ; i < len(sorted) && len(entries) < cfg.BatchSize; i++ {
			if flushWindow > 0 && len(entries) > 0 && sorted[i].at-first >= flushWindow {
				break
			}
			entries = append(entries, sorted[i].b)
		}
		var id []byte
		if len(st.Messages) == 0 {
			id = ident
			st.IdentifierLen = protowire.SizeTag(1) + protowire.SizeBytes(len(ident))
		}
		msg := appendMessage(nil, id, buf.kind, entries)
		st.Messages = append(st.Messages, msg)
		st.Entries = append(st.Entries, len(entries))
		st.entryTotal += len(entries)
		st.byteTotal += len(msg)
	}
	return st
}

// appendMessage appends an encoded StreamAccessLogsMessage: the identifier
// (if any) and the already encoded entries. The layout is exactly what
// proto.Marshal produces for the same message (fields in number order).
func appendMessage(dst, ident []byte, kind logKind, entries [][]byte) []byte {
	inner := 0
	for _, e := range entries {
		inner += protowire.SizeTag(1) + protowire.SizeBytes(len(e))
	}
	size := protowire.SizeTag(2) + protowire.SizeBytes(inner)
	if ident != nil {
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(ident))
	}
	dst = slices.Grow(dst, size)
	if ident != nil {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, ident)
	}
	field := protowire.Number(2) // http_logs
	if kind == kindTCP {
		field = 3 // tcp_logs
	}
	dst = protowire.AppendTag(dst, field, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	for _, e := range entries {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, e)
	}
	return dst
}
