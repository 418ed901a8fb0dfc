package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Foreign traffic: access logs shaped as a load generator written outside
// meshlens shapes them (issue 18, item 6), not as this package's mesh
// model does. Every entry is HTTP and is written once: its request id, its
// W3C trace context (trace and span id) and the number at the end of its
// path are new for every entry of a run, where Traffic repeats its passes
// byte for byte and draws its paths from a few per edge. A few proxies
// (eight by default, one stream each) carry all of it, where the mesh model
// spreads it over hundreds of streams, and the entries carry no Istio peer
// metadata (filter state) and no TLS properties: the node's metadata is
// what the reporting workload is known by, and the upstream cluster and
// :authority what its peer is known by.
//
// The messages are not held: ForeignTraffic keeps a few dozen encoded
// entries per proxy ("templates", placeholders where the unique values go)
// and Send writes each message into a buffer from gRPC's pool, copying the
// templates and writing the unique values in place, so that the generator
// costs little next to the receiver and a run of millions of unique entries
// needs no gigabytes. The buffer goes back to the pool when gRPC has
// written it.

// ForeignConfig configures Foreign. Zero values take the defaults.
type ForeignConfig struct {
	// Proxies is the number of sidecars (default 8).
	Proxies int
	// StreamsPerProxy is the number of streams of each proxy (Envoy's
	// worker threads; default 1).
	StreamsPerProxy int
	// Entries is the number of entries of a Send, over all streams
	// (default 1,000,000); each stream sends an equal share in whole
	// messages, so a Send may send up to a message more per stream.
	Entries int
	// BatchSize is the number of entries per message (default 100), the
	// most when MinBatch is set.
	BatchSize int
	// MinBatch, if in (0, BatchSize), makes the number of entries of each
	// message uniform in [MinBatch, BatchSize].
	MinBatch int
	// Every, if positive, makes each stream send one message per Every,
	// the first at a random offset within Every (Envoy flushing a
	// buffer_flush_interval after its timer started); else the streams send
	// flat out.
	Every time.Duration
	// Seed seeds the templates, the message sizes, the offsets and the
	// unique values.
	Seed uint64
	// Marshal makes Send build every entry as go-control-plane structs
	// (formatting its unique values) and encode each message with
	// proto.Marshal, as a generator that does not pre-encode does: the
	// same bytes' shape, at the generator's cost.
	Marshal bool
}

func (c ForeignConfig) withDefaults() ForeignConfig {
	if c.Proxies <= 0 {
		c.Proxies = 8
	}
	if c.StreamsPerProxy <= 0 {
		c.StreamsPerProxy = 1
	}
	if c.Entries <= 0 {
		c.Entries = 1_000_000
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 100
	}
	if c.MinBatch <= 0 || c.MinBatch > c.BatchSize {
		c.MinBatch = c.BatchSize
	}
	return c
}

// ForeignTraffic is what Foreign returns: per proxy its identifier and
// templates, per stream the sizes of its messages; Send produces the
// messages.
type ForeignTraffic struct {
	cfg     ForeignConfig
	proxies []foreignProxy
	streams []foreignStream
}

type foreignProxy struct {
	nodeID    string
	ident     []byte // encoded StreamAccessLogsMessage.Identifier
	templates []foreignTemplate
}

// foreignStream is one stream of a proxy: the number of entries of each
// message and the run-wide sequence number of each message's first entry,
// from which its unique values derive.
type foreignStream struct {
	proxy   int
	offset  time.Duration // of its first message, with Every
	entries []int
	first   []uint64
}

// foreignTemplate is an encoded HTTPAccessLogEntry with placeholders at the
// offsets of its unique values.
type foreignTemplate struct {
	en                       *accesslogv3.HTTPAccessLogEntry // with the placeholders
	b                        []byte
	reqID, trace, span, path int
}

// Placeholders written into the templates, found again in their encoding.
var (
	phReqID = strings.Repeat("Q", 36) // 8-4-4-4-12 hex digits
	phTrace = strings.Repeat("T", 32)
	phSpan  = strings.Repeat("S", 16)
	phPath  = strings.Repeat("N", foreignPathDigits)
)

const (
	foreignTemplates  = 64 // per proxy
	foreignPeers      = 7  // services each proxy calls, at most
	foreignPathDigits = 12
	foreignPort       = 8080
	foreignNamespace  = "shop"
)

// Foreign returns traffic of the foreign shape (see ForeignConfig).
// The same config always gives the same bytes.
func Foreign(cfg ForeignConfig) *ForeignTraffic {
	cfg = cfg.withDefaults()
	f := &ForeignTraffic{cfg: cfg}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6a09e667f3bcc908))
	start := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	for p := range cfg.Proxies {
		fp := foreignProxy{nodeID: fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local",
			foreignIP(p), foreignPod(p), foreignNamespace, foreignNamespace)}
		ident, err := deterministic.Marshal(foreignIdentifier(p, fp.nodeID))
		if err != nil {
			panic("loadgen: encode identifier: " + err.Error())
		}
		fp.ident = ident
		for k := range foreignTemplates {
			fp.templates = append(fp.templates, foreignEntry(r, p, k, cfg.Proxies, start))
		}
		f.proxies = append(f.proxies, fp)
	}
	streams := cfg.Proxies * cfg.StreamsPerProxy
	share := (cfg.Entries + streams - 1) / streams
	var seq uint64
	for i := range streams {
		st := foreignStream{proxy: i % cfg.Proxies}
		if cfg.Every > 0 {
			st.offset = time.Duration(r.Int64N(int64(cfg.Every)))
		}
		for n := 0; n < share; {
			size := cfg.MinBatch + r.IntN(cfg.BatchSize-cfg.MinBatch+1)
			st.entries = append(st.entries, size)
			st.first = append(st.first, seq)
			seq += uint64(size)
			n += size
		}
		f.streams = append(f.streams, st)
	}
	return f
}

// EntryCount returns the number of entries one Send sends.
func (f *ForeignTraffic) EntryCount() int {
	n := 0
	for i := range f.streams {
		for _, e := range f.streams[i].entries {
			n += e
		}
	}
	return n
}

// MessageCount returns the number of messages one Send sends.
func (f *ForeignTraffic) MessageCount() int {
	n := 0
	for i := range f.streams {
		n += len(f.streams[i].entries)
	}
	return n
}

// Streams returns the number of streams of a Send.
func (f *ForeignTraffic) Streams() int { return len(f.streams) }

// Messages returns the number of messages of stream s.
func (f *ForeignTraffic) Messages(s int) int { return len(f.streams[s].entries) }

func foreignService(p int) string { return fmt.Sprintf("svc-%d", p) }

func foreignPod(p int) string { return fmt.Sprintf("svc-%d-v1-7c9d5f-%05d", p, 10000+p) }

func foreignIP(p int) string { return fmt.Sprintf("10.40.%d.%d", p/250, 2+p%250) }

func foreignVIP(p int) string { return fmt.Sprintf("10.96.%d.%d", p/250, 10+p%250) }

func foreignHost(p int) string {
	return foreignService(p) + "." + foreignNamespace + ".svc.cluster.local"
}

// foreignIdentifier is the identifier a sidecar of workload svc-<p>-v1
// sends: its node with the Istio metadata a generator copies from a real
// sidecar (name, namespace, workload, labels, service account, cluster).
func foreignIdentifier(p int, nodeID string) *alsv3.StreamAccessLogsMessage_Identifier {
	svc := foreignService(p)
	md, err := structpb.NewStruct(map[string]any{
		"NAME":            foreignPod(p),
		"NAMESPACE":       foreignNamespace,
		"WORKLOAD_NAME":   svc + "-v1",
		"SERVICE_ACCOUNT": svc,
		"CLUSTER_ID":      "Kubernetes",
		"MESH_ID":         "cluster.local",
		"INSTANCE_IPS":    foreignIP(p),
		"LABELS":          map[string]any{"app": svc, "version": "v1"},
	})
	if err != nil {
		panic("loadgen: node metadata: " + err.Error())
	}
	return &alsv3.StreamAccessLogsMessage_Identifier{
		Node:    &corev3.Node{Id: nodeID, Cluster: svc + "." + foreignNamespace, Metadata: md},
		LogName: HTTPLogName,
	}
}

// foreignEntry builds template k of proxy p: alternately a client entry
// (p calls one of the other services) and a server entry (one of the other
// services calls p), with the outcome, sizes and durations drawn from r.
func foreignEntry(r *rand.Rand, p, k, proxies int, start time.Time) foreignTemplate {
	peer := (p + 1 + r.IntN(max(min(proxies-1, foreignPeers), 1))) % proxies
	outbound := k%2 == 0
	code := uint32(200)
	switch x := r.IntN(100); {
	case x < 2:
		code = 503
	case x < 4:
		code = 404
	}
	method := corev3.RequestMethod_GET
	if r.IntN(4) == 0 {
		method = corev3.RequestMethod_POST
	}
	d := time.Duration(math.Exp(math.Log(2e6)+0.8*r.NormFloat64())) + 100*time.Microsecond
	sock := func(ip string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
		}}}
	}
	c := &accesslogv3.AccessLogCommon{
		StartTime:                   timestamppb.New(start.Add(time.Duration(k) * time.Millisecond)),
		TimeToLastRxByte:            durationpb.New(d / 20),
		TimeToFirstUpstreamTxByte:   durationpb.New(d / 10),
		TimeToLastUpstreamTxByte:    durationpb.New(d / 8),
		TimeToFirstUpstreamRxByte:   durationpb.New(d * 8 / 10),
		TimeToLastUpstreamRxByte:    durationpb.New(d * 9 / 10),
		TimeToFirstDownstreamTxByte: durationpb.New(d * 85 / 100),
		TimeToLastDownstreamTxByte:  durationpb.New(d),
		Duration:                    durationpb.New(d),
		RouteName:                   "default",
		SampleRate:                  1, // go-control-plane's validation requires (0, 1]; Envoy leaves it unset
	}
	authority := foreignHost(p) + ":" + strconv.Itoa(foreignPort)
	if outbound {
		c.DownstreamRemoteAddress = sock(foreignIP(p), 40000+uint32(r.IntN(20000)))
		c.DownstreamLocalAddress = sock(foreignVIP(peer), foreignPort)
		c.UpstreamRemoteAddress = sock(foreignIP(peer), foreignPort)
		c.UpstreamLocalAddress = sock(foreignIP(p), 40000+uint32(r.IntN(20000)))
		c.UpstreamCluster = fmt.Sprintf("outbound|%d||%s", foreignPort, foreignHost(peer))
		authority = foreignHost(peer) + ":" + strconv.Itoa(foreignPort)
	} else {
		c.DownstreamRemoteAddress = sock(foreignIP(peer), 40000+uint32(r.IntN(20000)))
		c.DownstreamLocalAddress = sock(foreignIP(p), foreignPort)
		c.UpstreamRemoteAddress = sock("127.0.0.6", foreignPort)
		c.UpstreamLocalAddress = sock("127.0.0.6", 40000+uint32(r.IntN(20000)))
		c.UpstreamCluster = fmt.Sprintf("inbound|%d||", foreignPort)
	}
	var reqBody uint64
	if method == corev3.RequestMethod_POST {
		reqBody = uint64(100 + r.IntN(2000))
	}
	respBody := uint64(200 + r.IntN(4000))
	if code != 200 {
		respBody = uint64(20 + r.IntN(100))
	}
	en := &accesslogv3.HTTPAccessLogEntry{
		CommonProperties: c,
		ProtocolVersion:  accesslogv3.HTTPAccessLogEntry_HTTP11,
		Request: &accesslogv3.HTTPRequestProperties{
			RequestMethod:       method,
			Scheme:              "http",
			Authority:           authority,
			Path:                "/api/v1/orders/" + phPath,
			UserAgent:           "k6/0.52.0 (https://k6.io/)",
			RequestId:           phReqID,
			RequestHeadersBytes: uint64(300 + r.IntN(200)),
			RequestBodyBytes:    reqBody,
			RequestHeaders:      map[string]string{"traceparent": "00-" + phTrace + "-" + phSpan + "-01"},
		},
		Response: &accesslogv3.HTTPResponseProperties{
			ResponseCode:         wrapperspb.UInt32(code),
			ResponseHeadersBytes: uint64(150 + r.IntN(100)),
			ResponseBodyBytes:    respBody,
			ResponseCodeDetails:  "via_upstream",
		},
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(en)
	if err != nil {
		panic("loadgen: encode entry: " + err.Error())
	}
	t := foreignTemplate{
		en:    en,
		b:     b,
		reqID: bytes.Index(b, []byte(phReqID)),
		trace: bytes.Index(b, []byte(phTrace)),
		span:  bytes.Index(b, []byte(phSpan)),
		path:  bytes.Index(b, []byte(phPath)),
	}
	if t.reqID < 0 || t.trace < 0 || t.span < 0 || t.path < 0 {
		panic("loadgen: foreign template without its placeholders")
	}
	return t
}

// appendEntries writes the entries of message m of stream s as the
// repeated entries field of HTTPAccessLogEntries.
func (f *ForeignTraffic) appendEntries(dst []byte, s, m int) []byte {
	st := &f.streams[s]
	fp := &f.proxies[st.proxy]
	for i := range st.entries[m] {
		u := st.first[m] + uint64(i)
		t := &fp.templates[u%uint64(len(fp.templates))]
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(len(t.b)))
		at := len(dst)
		dst = append(dst, t.b...)
		e := dst[at:]
		// Unique over the run: the entry's sequence number, mixed into
		// 192 random-looking bits.
		hi, lo, sp := f.unique(u)
		putUUID(e[t.reqID:], hi, lo)
		putHex(e[t.trace:t.trace+16], hi)
		putHex(e[t.trace+16:t.trace+32], lo)
		putHex(e[t.span:t.span+16], sp)
		putDec(e[t.path:t.path+foreignPathDigits], u)
	}
	return dst
}

// unique returns the random-looking bits of entry u's request id and trace
// id (hi, lo) and span id (sp, never 0).
func (f *ForeignTraffic) unique(u uint64) (hi, lo, sp uint64) {
	return mix64(f.cfg.Seed ^ u), mix64(f.cfg.Seed ^ u ^ 0x9e3779b97f4a7c15), mix64(^u^f.cfg.Seed) | 1
}

// entriesSize returns the encoded size of message m of stream s's entries,
// as HTTPAccessLogEntries' repeated field.
func (f *ForeignTraffic) entriesSize(s, m int) int {
	st := &f.streams[s]
	fp := &f.proxies[st.proxy]
	inner := 0
	for i := range st.entries[m] {
		t := &fp.templates[(st.first[m]+uint64(i))%uint64(len(fp.templates))]
		inner += protowire.SizeTag(1) + protowire.SizeBytes(len(t.b))
	}
	return inner
}

// messageSize returns the encoded size of message m of stream s.
func (f *ForeignTraffic) messageSize(s, m int) int {
	size := protowire.SizeTag(2) + protowire.SizeBytes(f.entriesSize(s, m))
	if m == 0 {
		size += protowire.SizeTag(1) + protowire.SizeBytes(len(f.proxies[f.streams[s].proxy].ident))
	}
	return size
}

// Message returns message m (0-based) of stream s, encoded; the first
// carries the identifier.
func (f *ForeignTraffic) Message(s, m int) []byte {
	return f.appendMessage(nil, s, m)
}

func (f *ForeignTraffic) appendMessage(dst []byte, s, m int) []byte {
	if size := f.messageSize(s, m); cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	if m == 0 {
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, f.proxies[f.streams[s].proxy].ident)
	}
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(f.entriesSize(s, m)))
	return f.appendEntries(dst, s, m)
}

// Send sends every stream's messages: flat out, paced to opt.Rate
// entries/s (shared equally by the streams), or one message per
// ForeignConfig.Every; Repeat, Duration and Concurrency are ignored. Each
// message is written into a buffer of gRPC's pool that gRPC frees once it
// has sent it.
func (f *ForeignTraffic) Send(ctx context.Context, conn grpc.ClientConnInterface, opt SendOptions) (Stats, error) {
	begin := time.Now()
	callOpts := append([]grpc.CallOption{grpc.ForceCodecV2(RawCodec{})}, opt.CallOptions...)
	pool := mem.DefaultBufferPool()
	var c sendCounters
	var wg sync.WaitGroup
	for s := range f.streams {
		wg.Go(func() {
			lim := newLimiter(opt.Rate / float64(len(f.streams)))
			if err := f.sendStream(ctx, conn, s, begin, pool, lim, callOpts, &c); err != nil {
				c.fail(err)
			}
		})
	}
	wg.Wait()
	st := Stats{
		Entries: c.entries.Load(), Messages: c.messages.Load(), Bytes: c.bytes.Load(),
		Streams: c.streams.Load(), Errors: c.errors.Load(), Elapsed: time.Since(begin),
	}
	if st.Errors > 0 {
		return st, fmt.Errorf("send foreign access logs: %d of %d streams failed, first: %w", st.Errors, st.Streams, c.first)
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("send foreign access logs: %w", err)
	}
	return st, nil
}

func (f *ForeignTraffic) sendStream(ctx context.Context, conn grpc.ClientConnInterface, s int, begin time.Time, pool mem.BufferPool,
	lim *limiter, callOpts []grpc.CallOption, c *sendCounters,
) error {
	st := &f.streams[s]
	if f.cfg.Every > 0 && !sleepUntil(ctx, begin.Add(st.offset)) {
		return nil // cancelled: Send reports ctx.Err()
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	node := f.proxies[st.proxy].nodeID
	cs, err := conn.NewStream(sctx, &alsStreamDesc, AccessLogMethod, callOpts...)
	if err != nil {
		return fmt.Errorf("open stream for %s: %w", node, err)
	}
	c.streams.Add(1)
	for m, n := range st.entries {
		if f.cfg.Every > 0 {
			if !sleepUntil(ctx, begin.Add(st.offset+time.Duration(m)*f.cfg.Every)) {
				return nil
			}
		} else if err := lim.wait(ctx, n); err != nil {
			return nil
		}
		size := f.messageSize(s, m)
		var msg any
		if f.cfg.Marshal {
			msg = f.marshalMessage(s, m)
		} else {
			buf := pool.Get(size)
			*buf = f.appendMessage((*buf)[:0], s, m)
			msg = &pooledMessage{buf: mem.NewBuffer(buf, pool)}
		}
		if err := cs.SendMsg(msg); err != nil {
			if errors.Is(err, io.EOF) {
				err = cs.RecvMsg(alsRPC.resp())
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("send on stream for %s: %w", node, err)
		}
		c.entries.Add(int64(n))
		c.messages.Add(1)
		c.bytes.Add(int64(size))
	}
	return closeStream(cs, alsRPC, node)
}

// sleepUntil sleeps until t, or returns false when ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// marshalMessage builds message m of stream s as go-control-plane structs,
// each entry a copy of its template with its unique values formatted in,
// for gRPC's proto codec to encode (ForeignConfig.Marshal). The values and
// sizes are those appendMessage writes.
func (f *ForeignTraffic) marshalMessage(s, m int) *alsv3.StreamAccessLogsMessage {
	st := &f.streams[s]
	fp := &f.proxies[st.proxy]
	msg := &alsv3.StreamAccessLogsMessage{}
	if m == 0 {
		msg.Identifier = foreignIdentifier(st.proxy, fp.nodeID)
	}
	logs := &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: make([]*accesslogv3.HTTPAccessLogEntry, 0, st.entries[m])}
	for i := range st.entries[m] {
		u := st.first[m] + uint64(i)
		t := &fp.templates[u%uint64(len(fp.templates))]
		en := proto.Clone(t.en).(*accesslogv3.HTTPAccessLogEntry)
		hi, lo, sp := f.unique(u)
		var id [36]byte
		putUUID(id[:], hi, lo)
		en.Request.RequestId = string(id[:])
		en.Request.Path = fmt.Sprintf("/api/v1/orders/%0*d", foreignPathDigits, u)
		en.Request.RequestHeaders = map[string]string{"traceparent": fmt.Sprintf("00-%016x%016x-%016x-01", hi, lo, sp)}
		logs.LogEntry = append(logs.LogEntry, en)
	}
	msg.LogEntries = &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: logs}
	return msg
}

// pooledMessage is an encoded message in a buffer of a gRPC pool: RawCodec
// hands gRPC the buffer itself, whose last Free returns it to the pool.
type pooledMessage struct {
	buf mem.Buffer
}

// mix64 is splitmix64's finaliser.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

const hexDigits = "0123456789abcdef"

// putHex writes v as 16 lowercase hex digits into b[:16].
func putHex(b []byte, v uint64) {
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&15]
		v >>= 4
	}
}

// putUUID writes a version-4 UUID made of hi and lo into b[:36].
func putUUID(b []byte, hi, lo uint64) {
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	var h [32]byte
	putHex(h[:16], hi)
	putHex(h[16:], lo)
	copy(b[0:8], h[0:8])
	b[8] = '-'
	copy(b[9:13], h[8:12])
	b[13] = '-'
	copy(b[14:18], h[12:16])
	b[18] = '-'
	copy(b[19:23], h[16:20])
	b[23] = '-'
	copy(b[24:36], h[20:32])
}

// putDec writes v in decimal into b, left-padded with zeros.
func putDec(b []byte, v uint64) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}
