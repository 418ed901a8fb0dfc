package accesslog

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/meshlens/meshlens/accesslog/entry"
	"github.com/meshlens/meshlens/accesslog/internal/wire"
)

// Errors a Stream returns. Callers branch on them with errors.Is.
var (
	// ErrMalformed means the message is not a valid StreamAccessLogsMessage;
	// the whole message is rejected.
	ErrMalformed = errors.New("malformed access log message")
	// ErrNoIdentifier means the stream's first message had no Identifier, so
	// no entry of the stream can be attributed to a proxy.
	ErrNoIdentifier = errors.New("stream sent entries before its identifier")
	// ErrBadIdentifier means the Identifier could not be decoded.
	ErrBadIdentifier = errors.New("invalid stream identifier")
	// ErrProxyRefused means Stream.AcceptProxy refused the stream's
	// identity: the message's entries are not normalised and the stream
	// keeps no proxy.
	ErrProxyRefused = errors.New("stream identity refused")
)

// RejectReason says why an entry was rejected.
type RejectReason uint8

// Reject reasons, exported as the `reason` label of
// meshlens_receiver_entries_rejected_total.
const (
	RejectNoIdentifier RejectReason = iota
	RejectBadIdentifier
	RejectNoCommonProperties
	numRejectReasons
)

var rejectNames = [...]string{"no_identifier", "bad_identifier", "no_common_properties"}

// String returns the label value.
func (r RejectReason) String() string {
	if int(r) < len(rejectNames) {
		return rejectNames[r]
	}
	return "invalid"
}

// RejectReasons lists every reason.
func RejectReasons() []RejectReason {
	out := make([]RejectReason, numRejectReasons)
	for i := range out {
		out[i] = RejectReason(i)
	}
	return out
}

// ClampField names a number clamped to its plausibility bound.
type ClampField uint8

// Clamped fields, exported as the `field` label of
// meshlens_receiver_values_clamped_total.
const (
	ClampDuration ClampField = iota
	ClampBytes
	ClampMessages
	NumClampFields
)

var clampNames = [...]string{"duration", "bytes", "messages"}

// String returns the label value.
func (f ClampField) String() string {
	if int(f) < len(clampNames) {
		return clampNames[f]
	}
	return "invalid"
}

// Outcome counts what happened to the entries of one message.
type Outcome struct {
	Entries   int // entries in the message
	Processed int // entries turned into records
	Rejected  [numRejectReasons]int
}

// RejectedTotal is the number of rejected entries.
func (o *Outcome) RejectedTotal() int {
	n := 0
	for _, v := range o.Rejected {
		n += v
	}
	return n
}

// Config holds normalisation settings.
type Config struct {
	// ClusterDomain is the Kubernetes cluster domain of the services a
	// server-side proxy serves (default "cluster.local").
	ClusterDomain string `mapstructure:"cluster_domain"`
	// DisableHostHeaderFallback is Istio's disable_host_header_fallback,
	// per side: where set, destination_service is never taken from the
	// request's Host header (:authority). Istio's defaults: inbound
	// sidecars, waypoints and gateways true, outbound sidecars false.
	DisableHostHeaderFallback HostHeaderFallback `mapstructure:"disable_host_header_fallback"`
	// MaxInterned bounds the per-stream table of interned label strings; when
	// full it is cleared (default 16384).
	MaxInterned int `mapstructure:"max_interned_strings"`
	// MaxInternedBytes bounds the bytes of the strings a stream's tables
	// hold: the interned label values and the encodings of the peers whose
	// labels are cached. A new value that would go over it clears the
	// tables, as MaxInterned does; a peer that would is not cached
	// (default 256 KiB: 10,000 streams hold at most 2.5 GiB of strings).
	MaxInternedBytes int `mapstructure:"max_interned_bytes"`
	// MaxLabelLength bounds the bytes of every label value taken from an
	// entry or from the proxy's node metadata: a longer value is cut (at a
	// UTF-8 boundary) and counted (default 512: a Kubernetes name is at
	// most 253 bytes, a SPIFFE id at most ~350).
	MaxLabelLength int `mapstructure:"max_label_length"`
}

// HostHeaderFallback says, per kind of reporting proxy, whether Istio's
// disable_host_header_fallback is set. Unset fields take Istio's defaults.
type HostHeaderFallback struct {
	// InboundSidecar: the server side of a sidecar (reporter=destination)
	// and waypoints. Default true: out-of-mesh callers cannot put
	// arbitrary hosts in destination_service.
	InboundSidecar *bool `mapstructure:"inbound_sidecar"`
	// OutboundSidecar: the client side of a sidecar (reporter=source):
	// Istio, Consul and App Mesh sidecars. Default false.
	OutboundSidecar *bool `mapstructure:"outbound_sidecar"`
	// Gateway: Istio gateways, Envoy Gateway, App Mesh virtual gateways and
	// plain Envoys. Default true, as Istio sets it for its gateways.
	Gateway *bool `mapstructure:"gateway"`
}

// disabled reports whether the fallback is off for a reporter of a proxy
// kind, with Istio's defaults (istio/istio pilot/pkg/model/telemetry.go):
// off for inbound sidecars and waypoints (Istio gives waypoints the
// inbound class), on for outbound sidecars, off for gateways.
func (h HostHeaderFallback) disabled(kind ProxyKind, rep Reporter) bool {
	switch {
	case rep == ReporterDestination || rep == ReporterWaypoint:
		return h.InboundSidecar == nil || *h.InboundSidecar
	case kind.sidecar():
		return h.OutboundSidecar != nil && *h.OutboundSidecar
	}
	return h.Gateway == nil || *h.Gateway
}

// Defaults of the per-stream bounds.
const (
	// DefaultMaxLabelLength is MaxLabelLength's default.
	DefaultMaxLabelLength = 512
	// DefaultMaxInterned is MaxInterned's default.
	DefaultMaxInterned = 16384
	// DefaultMaxInternedBytes is MaxInternedBytes's default.
	DefaultMaxInternedBytes = 256 << 10
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxInterned < 0 {
		return fmt.Errorf("max_interned_strings must not be negative, got %d", c.MaxInterned)
	}
	if c.MaxLabelLength < 0 || (c.MaxLabelLength > 0 && c.MaxLabelLength < 64) {
		return fmt.Errorf("max_label_length must be 0 (the default, %d) or at least 64, got %d", DefaultMaxLabelLength, c.MaxLabelLength)
	}
	if least := 8 * c.withDefaults().MaxLabelLength; c.MaxInternedBytes < 0 || (c.MaxInternedBytes > 0 && c.MaxInternedBytes < least) {
		return fmt.Errorf("max_interned_bytes must be 0 (the default, %d) or at least 8 × max_label_length (%d), got %d", DefaultMaxInternedBytes, least, c.MaxInternedBytes)
	}
	for i := 0; i < len(c.ClusterDomain); i++ {
		if ch := c.ClusterDomain[i]; ch == '/' || ch == ' ' || ch == '|' {
			return fmt.Errorf("cluster_domain %q is not a DNS domain", c.ClusterDomain)
		}
	}
	return nil
}

// LabelLimit is MaxLabelLength with its default applied.
func (c Config) LabelLimit() int { return c.withDefaults().MaxLabelLength }

func (c Config) withDefaults() Config {
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.MaxInterned == 0 {
		c.MaxInterned = DefaultMaxInterned
	}
	if c.MaxLabelLength == 0 {
		c.MaxLabelLength = DefaultMaxLabelLength
	}
	if c.MaxInternedBytes == 0 {
		c.MaxInternedBytes = DefaultMaxInternedBytes
	}
	return c
}

// Stream normalises the entries one proxy reports into Records: the
// messages of one ALS gRPC stream (Decode, DecodeSegments), or the batches
// of any other ingest path (SetProxy, then Normalize). It keeps the proxy's
// identity and per-stream caches. It does no I/O, starts no goroutines and is not safe
// for concurrent use: the receiver owns one Stream per gRPC stream.
type Stream struct {
	// AcceptProxy, when set, is asked about the identity of the stream's
	// first Identifier before any entry is normalised; an error refuses the
	// message (ErrProxyRefused) and leaves the stream without a proxy, so
	// that entries of a refused identity change no shared state (the TCP
	// connection table).
	AcceptProxy func(*Proxy) error

	cfg   Config
	conns ConnTracker
	proxy *Proxy
	strs  map[string]string
	svcs  map[string]clusterService // upstream cluster → parsed service
	peers map[string]Workload       // encoded peer Struct → its labels
	// msgPeers resolves the current batch's memoised peers
	// (entry.Peer.Memo - 1) without hashing their encodings again.
	msgPeers  [entry.MaxPeerMemo]Workload
	msgPeerOK [entry.MaxPeerMemo]bool
	// authMemo remembers the services of recent authorities, clusterMemo
	// those of recent upstream clusters.
	authMemo    [8]authMemo
	authNext    int
	clusterMemo [8]authMemo
	clusterNext int
	// sanMemo remembers recently interned SPIFFE ids: the proxy's own and
	// its callers', which nearly every entry carries.
	sanMemo [8]string
	sanNext int
	// nodeHash seeds the TCP connection keys (a hash of the node id).
	nodeHash uint64
	// hostFallback says, by Reporter, whether destination_service may come
	// from the Host header (Config.DisableHostHeaderFallback); localSvc is
	// the service a server-side entry names when nothing else does.
	hostFallback [4]bool
	localSvc     Service
	// principal caches the synthesised local principal for principalTD.
	principal, principalTD string
	scratch                []byte
	// internBytes is the bytes of the strings the tables hold (strs' keys
	// and values, peers' keys), bounded by MaxInternedBytes.
	internBytes int
	// InternResets counts how often the intern table was cleared, by the
	// bound that was reached.
	InternResets [NumResetReasons]int
	// LabelsTruncated counts the label values cut to MaxLabelLength, by
	// the field they came from.
	LabelsTruncated Truncations
	// Clamped counts the entries whose numbers were clamped to the
	// plausibility bounds, by field (normalize.go).
	Clamped [NumClampFields]int
}

type authMemo struct {
	host string
	svc  Service
	peer peerLevel
}

// NewStream returns a Stream. conns tracks TCP connections across streams
// (cumulative byte counters); it may be nil, in which case each entry's
// counters are taken as they are.
func NewStream(cfg Config, conns ConnTracker) *Stream {
	cfg = cfg.withDefaults()
	return &Stream{
		cfg:   cfg,
		conns: conns,
		strs:  make(map[string]string, 256),
		svcs:  make(map[string]clusterService, 64),
		peers: make(map[string]Workload, 64),
	}
}

// Proxy returns the stream's proxy identity, or nil before the identifier.
func (s *Stream) Proxy() *Proxy { return s.proxy }

// Decode decodes one binary StreamAccessLogsMessage, appends one Record per
// accepted entry to dst and returns it. The records' Details alias b. A
// message-level error (ErrMalformed, ErrNoIdentifier, ErrBadIdentifier)
// rejects the whole message; the Outcome still counts its entries when they
// could be counted.
func (s *Stream) Decode(b []byte, dst []Record, now time.Time) ([]Record, Outcome, error) {
	// The decoded views are only needed during this call: they come from a
	// pool shared by all streams, so that an idle stream holds none.
	m := msgPool.Get().(*wire.Message)
	defer msgPool.Put(m)
	if err := wire.DecodeAccessLogs(b, m); err != nil {
		return dst, Outcome{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return s.records(m, dst, now)
}

// DecodeSegments is Decode for a message given as consecutive segments of
// its encoding (the frames gRPC received it in), without joining them: an
// entry that straddles two segments is copied into arena, whose capacity
// should be the message's length (a smaller one is replaced). The records'
// Details alias the segments and arena.
func (s *Stream) DecodeSegments(segs [][]byte, arena []byte, dst []Record, now time.Time) ([]Record, Outcome, error) {
	m := msgPool.Get().(*wire.Message)
	defer msgPool.Put(m)
	if err := wire.DecodeAccessLogsSegments(segs, arena, m); err != nil {
		return dst, Outcome{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return s.records(m, dst, now)
}

// records normalises a decoded ALS message: its identifier (the first one
// of the stream) sets the stream's proxy, its entries are normalised.
func (s *Stream) records(m *wire.Message, dst []Record, now time.Time) ([]Record, Outcome, error) {
	if m.Identifier.Present && s.proxy == nil {
		// Envoy sends the identifier once; a later one on the same stream
		// is ignored, as go-control-plane's reference server does.
		p, err := parseIdentifier(&m.Identifier)
		if err != nil {
			out := Outcome{Entries: len(m.Entries)}
			out.Rejected[RejectBadIdentifier] = len(m.Entries)
			return dst, out, fmt.Errorf("%w: %w", ErrBadIdentifier, err)
		}
		if s.AcceptProxy != nil {
			if err := s.AcceptProxy(p); err != nil {
				return dst, Outcome{Entries: len(m.Entries)}, fmt.Errorf("%w: %w", ErrProxyRefused, err)
			}
		}
		s.SetProxy(p)
	}
	return s.Normalize(m.Entries, dst, now)
}

// SetProxy sets the identity of the proxy that reports the stream's
// entries. The ALS decoder sets it from the stream's first Identifier;
// another ingest path sets it from what its source says of the reporting
// proxy (NewProxy builds one from Envoy node fields) before its first
// Normalize. Call it once per Stream: the caches are per proxy.
func (s *Stream) SetProxy(p *Proxy) {
	s.LabelsTruncated.Add(p.CutLabels(s.cfg.MaxLabelLength))
	s.proxy = p
	s.nodeHash = hashString(fnvOffset, p.NodeID)
	for rep := range s.hostFallback {
		s.hostFallback[rep] = !s.cfg.DisableHostHeaderFallback.disabled(p.Kind, Reporter(rep))
	}
	s.localSvc = s.localService()
}

// Normalize turns one batch of entries reported by the stream's proxy into
// Records, appended to dst, and returns dst. This is the core's ingest
// contract: the entries are source-neutral views (package entry) that any
// decoder produces; Peer.Memo values are scoped to this call (one batch).
// The records alias nothing of the entries (their strings are interned),
// except Details, which alias the entries' bytes. Without a proxy
// (SetProxy) the batch is rejected with ErrNoIdentifier; entries without
// common properties are rejected one by one (RejectNoCommonProperties).
func (s *Stream) Normalize(entries []entry.Entry, dst []Record, now time.Time) ([]Record, Outcome, error) {
	var out Outcome
	out.Entries = len(entries)
	s.msgPeerOK = [entry.MaxPeerMemo]bool{}
	if s.proxy == nil {
		out.Rejected[RejectNoIdentifier] = len(entries)
		if len(entries) == 0 {
			return dst, out, nil
		}
		return dst, out, ErrNoIdentifier
	}
	nowNano := now.UnixNano()
	for i := range entries {
		e := &entries[i]
		if !e.HasCommon {
			out.Rejected[RejectNoCommonProperties]++
			continue
		}
		dst = append(dst, Record{})
		s.normalize(e, &dst[len(dst)-1], nowNano)
		out.Processed++
	}
	return dst, out, nil
}

var msgPool = sync.Pool{New: func() any { return new(wire.Message) }}

// intern returns a string equal to b, allocating only the first time the
// stream sees the value. Invalid UTF-8 is replaced so that every label is
// valid in the Prometheus exposition. A value longer than MaxLabelLength is
// cut and counted under f, the field it came from (a constant at each call
// site: the steady state pays one comparison for the bound).
func (s *Stream) intern(b []byte, f LabelField) string {
	if len(b) == 0 {
		return ""
	}
	cut := len(b) > s.cfg.MaxLabelLength
	if cut {
		// Keyed by the cut value too, so that the table's bytes stay
		// bounded whatever a sender puts in a field.
		b = cutUTF8(b, s.cfg.MaxLabelLength)
		s.LabelsTruncated[f]++
	}
	if v, ok := s.strs[string(b)]; ok {
		return v
	}
	return s.internNew(b, f, cut)
}

// internNew adds b to the intern table (the cold path of intern), clearing
// the tables first when a bound would be passed; cut says whether b was
// cut (and counted) already.
func (s *Stream) internNew(b []byte, f LabelField, cut bool) string {
	v := validUTF8(b)
	if len(v) > s.cfg.MaxLabelLength {
		// Replacement characters (3 bytes each) made it longer again.
		v = string(cutUTF8([]byte(v), s.cfg.MaxLabelLength))
		if !cut {
			s.LabelsTruncated[f]++
		}
	}
	// A valid value is its own key: its bytes are held once.
	n := len(v)
	if v != string(b) {
		n += len(b)
	}
	switch {
	case len(s.strs) >= s.cfg.MaxInterned:
		s.resetTables(ResetStrings)
	case s.internBytes+n > s.cfg.MaxInternedBytes:
		s.resetTables(ResetBytes)
	}
	if n == len(v) {
		s.strs[v] = v
	} else {
		s.strs[string(b)] = v
	}
	s.internBytes += n
	return v
}

// resetTables clears the intern table and every cache whose values came
// from it, counting why.
func (s *Stream) resetTables(why ResetReason) {
	clear(s.strs)
	clear(s.svcs)
	clear(s.peers)
	s.clusterMemo = [len(s.clusterMemo)]authMemo{}
	s.sanMemo = [len(s.sanMemo)]string{}
	s.internBytes = 0
	s.InternResets[why]++
}

// internSAN interns a SPIFFE id, trying the recent ones first: a string
// comparison of a few dozen bytes in cache instead of a map lookup.
func (s *Stream) internSAN(b []byte, f LabelField) string {
	if len(b) == 0 {
		return ""
	}
	for _, v := range s.sanMemo {
		if v == string(b) {
			return v
		}
	}
	v := s.intern(b, f)
	s.sanMemo[s.sanNext%len(s.sanMemo)] = v
	s.sanNext++
	return v
}

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

const unknown = "unknown"

// cutUTF8 returns b cut to at most n bytes, not inside a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	i := n
	for k := 0; k < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(b[i]); k++ {
		i--
	}
	return b[:i]
}
