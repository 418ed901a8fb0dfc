package istiometrics

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/remotewrite"
)

// labels is the label set shared by the metrics of one family. For TCP
// series code, grpc and the response-code label are unused.
type labels struct {
	reporter accesslog.Reporter
	protocol accesslog.Protocol
	security accesslog.SecurityPolicy
	code     uint32
	grpc     int32
	flags    accesslog.ResponseFlags
	src, dst accesslog.Workload
	svc      accesslog.Service
	over     bool      // an overflow series' label set
	removed  labelMask // labels the overrides removed: cleared, and left out of every export
}

// exemplar is the most recent traced observation of one bucket.
type exemplar struct {
	traceID [16]byte
	spanID  [8]byte
	value   float64
	unixMs  int64
}

// httpSeries backs istio_requests_total, istio_request_duration_milliseconds,
// istio_request_bytes, istio_response_bytes and the gRPC message counters
// of one label set.
type httpSeries struct {
	requests            uint64
	duration            hist
	reqBytes, respBytes hist
	reqMsgs, respMsgs   uint64
	exemplars           []exemplar // one per duration bucket (+Inf last), nil when off
	native              *nativeSet // nil when native histograms are off
	lastSeen            int64
	block               []byte             // rendered labels, made at the first scrape
	pblock              []byte             // the labels in protobuf, made at the first protobuf scrape
	rw                  remotewrite.Labels // the labels in remote write, made at the first push
	dead                bool               // removed by Expire (guarded by the shard lock)
}

// tcpSeries backs the four TCP counters of one label set.
type tcpSeries struct {
	opened, closed, sent, received uint64
	lastSeen                       int64
	block, pblock                  []byte // as httpSeries'
	rw                             remotewrite.Labels
	dead                           bool // removed by Expire (guarded by the shard lock)
}

// hist is a cumulative histogram: counts per bucket (the last is +Inf).
type hist struct {
	counts []uint64
	sum    float64
	count  uint64
}

func (h *hist) observe(bounds []float64, v float64) int {
	// The first bound >= v (Prometheus buckets are upper-inclusive): a
	// linear scan, since most values fall in the first few buckets.
	i := 0
	for i < len(bounds) && bounds[i] < v {
		i++
	}
	h.counts[i]++
	h.sum += v
	h.count++
	return i
}

// shard is the pure state of one slice of the series: no locks, no I/O.
type shard struct {
	http map[labels]*httpSeries
	tcp  map[labels]*tcpSeries
}

// Aggregator turns records into Istio standard series. It is safe for
// concurrent use: the series are split into shards, each with its own lock.
type Aggregator struct {
	cfg  Config
	plan plan // the overrides resolved: disabled metrics, removed labels
	// skip: the family (HTTP, TCP) is disabled for the reporter (by
	// reporter&3): its records are not aggregated.
	skip                    [2][4]bool
	reqBuckets, respBuckets []float64 // the size histograms' bounds
	seed                    maphash.Seed
	shards                  []lockedShard
	// Series counts and label-set bytes (labelBytes), for budgets and self
	// metrics; the overflow series are not counted.
	httpCount, tcpCount atomic.Int64
	httpBytes, tcpBytes atomic.Int64
	overflowHTTP        atomic.Uint64
	overflowTCP         atomic.Uint64
	expired             atomic.Uint64
	records             atomic.Uint64
	overflowLabels      [4]labels // per reporter
	// nativeMax is NativeHistograms.MaxBuckets when native histograms are
	// on, else 0.
	nativeMax int
	// rwExternal is the external labels the series' remote-write labels
	// (rw) hold: those of the first RemoteWriteReader.
	rwExternal atomic.Pointer[string]
}

type lockedShard struct {
	mu sync.Mutex
	shard
	_ [40]byte // keep shards on separate cache lines
}

// numShards shards hold the series; one more holds the overflow series.
const numShards = 32

// New returns an Aggregator with cfg (see DefaultConfig).
func New(cfg Config) *Aggregator {
	if cfg.MaxLabelBytes <= 0 {
		cfg.MaxLabelBytes = DefaultMaxLabelBytes
	}
	p, err := cfg.plan()
	if err != nil { // not validated: no overrides
		p, _ = (&Config{}).plan()
	}
	a := &Aggregator{
		cfg: cfg, plan: p, reqBuckets: cfg.requestSizeBuckets(), respBuckets: cfg.responseSizeBuckets(),
		seed: maphash.MakeSeed(), shards: make([]lockedShard, numShards+1),
	}
	if n := cfg.NativeHistograms; n.Enabled {
		a.nativeMax = n.MaxBuckets
		if n.Validate() != nil { // not validated: the defaults
			a.cfg.NativeHistograms.Schema, a.nativeMax = DefaultNativeSchema, DefaultNativeMaxBuckets
		}
	}
	for f := range 2 {
		for r := range 4 {
			a.skip[f][r] = p.skip[f][side(accesslog.Reporter(r))]
		}
	}
	for i := range a.shards {
		a.shards[i].http = make(map[labels]*httpSeries)
		a.shards[i].tcp = make(map[labels]*tcpSeries)
	}
	for r := range a.overflowLabels {
		a.overflowLabels[r] = overflowLabels(accesslog.Reporter(r))
	}
	return a
}

const overflow = "overflow"

func overflowLabels(r accesslog.Reporter) labels {
	w := accesslog.Workload{
		Name: overflow, Namespace: overflow, CanonicalService: overflow, CanonicalRevision: overflow,
		App: overflow, Version: overflow, Cluster: overflow, Principal: overflow,
	}
	return labels{
		reporter: r, src: w, dst: w, svc: accesslog.Service{Host: overflow, Name: overflow, Namespace: overflow},
		grpc: -1, over: true,
	}
}

func (a *Aggregator) shardFor(l *labels) *lockedShard {
	h := maphash.String(a.seed, l.src.Name) ^ maphash.String(a.seed, l.dst.Name)<<1 ^ maphash.String(a.seed, l.svc.Host)<<2 ^ uint64(l.code)
	return &a.shards[h%numShards]
}

// recentKey keys the Aggregator's cache in an accesslog.StreamLocal.
var recentKey = new(byte)

// ConsumeRecords aggregates a batch of the stream whose per-stream handle is
// local. now is the time of arrival, used for expiry and exemplar
// timestamps. The label sets the stream's previous batches used are
// remembered in local across batches, so that a stream sending small
// batches (Envoy's default 16 KiB: ~17 entries) does not hash each label
// set anew in every batch; with a nil local nothing is remembered.
func (a *Aggregator) ConsumeRecords(recs []accesslog.Record, local *accesslog.StreamLocal, now time.Time) {
	if local == nil {
		var recent recentSet
		a.consume(recs, now, &recent)
		return
	}
	recent, _ := local.Load(recentKey).(*recentSet)
	if recent == nil {
		recent = new(recentSet)
		local.Store(recentKey, recent)
	}
	a.consume(recs, now, recent)
}

func (a *Aggregator) consume(recs []accesslog.Record, now time.Time, recent *recentSet) {
	nowNano := now.UnixNano()
	// Records of one stream come from one proxy and repeat a few label sets
	// (8 on average in a batch of the load test's mesh); their strings are
	// interned per stream, so a fingerprint of string addresses and a
	// pointer comparison find a recent series without hashing 19 strings
	// (see BENCHMARKS.md). A remembered series that expired meanwhile is
	// marked dead under its shard's lock and looked up again.
	for i := range recs {
		r := &recs[i]
		if r.Kind == accesslog.KindTCP {
			if !r.TCPOpened && !r.TCPClosed && r.TCPSentBytes == 0 && r.TCPReceivedBytes == 0 || a.skip[1][r.Reporter&3] {
				continue
			}
			c := a.lockRecent(recent, r, true)
			c.tcp.update(r, nowNano)
			c.sh.mu.Unlock()
			continue
		}
		if !r.Final && r.RequestMessages == 0 && r.ResponseMessages == 0 || a.skip[0][r.Reporter&3] {
			continue
		}
		c := a.lockRecent(recent, r, false)
		a.updateHTTP(c.http, r, nowNano)
		c.sh.mu.Unlock()
	}
	a.records.Add(uint64(len(recs)))
}

// recentSet is the label sets a batch saw last, with their series.
type recentSet struct {
	s       [recentSize]recentSeries
	n, next int
}

type recentSeries struct {
	fp    uint64
	l     labels
	isTCP bool // the TCP series of l, else the HTTP series
	sh    *lockedShard
	http  *httpSeries
	tcp   *tcpSeries
	over  bool  // an overflow series: each record counts as overflowed
	lb    int64 // labelBytes(&l), when over
}

// lockRecent returns the entry of r's label set (TCP or HTTP metrics) with
// its series' shard locked: the remembered series while it is live, else
// the series looked up again (expired meanwhile, or an overflow while the
// budget has room again) or for the first time. A record that goes to an
// overflow series is counted as overflowed.
func (a *Aggregator) lockRecent(rs *recentSet, r *accesslog.Record, tcp bool) *recentSeries {
	fp := fingerprint(r, tcp)
	c := rs.find(r, fp, tcp)
	if c == nil {
		c = rs.add(r, fp, tcp)
		a.lookup(c)
	} else {
		c.sh.mu.Lock()
		if c.stale(a) {
			c.sh.mu.Unlock()
			a.lookup(c)
		}
	}
	if c.over {
		if tcp {
			a.overflowTCP.Add(1)
		} else {
			a.overflowHTTP.Add(1)
		}
	}
	return c
}

// lookup finds or creates c's series and locks its shard.
func (a *Aggregator) lookup(c *recentSeries) {
	if c.isTCP {
		c.sh, c.tcp, c.lb = a.lockTCP(c.l)
	} else {
		c.sh, c.http, c.lb = a.lockHTTP(c.l)
	}
	c.over = c.lb >= 0
}

// stale reports whether c's series was removed by Expire, or is an
// overflow series while its family's budgets have room again for its label
// set; c's shard is locked.
func (c *recentSeries) stale(a *Aggregator) bool {
	if c.isTCP {
		return c.tcp.dead || c.over && a.room(&a.tcpCount, &a.tcpBytes, c.lb)
	}
	return c.http.dead || c.over && a.room(&a.httpCount, &a.httpBytes, c.lb)
}

// room reports whether a family's budgets (its series count and label-set
// bytes) have room for one more series of lb label bytes.
func (a *Aggregator) room(count, bytes *atomic.Int64, lb int64) bool {
	return count.Load() < int64(a.cfg.MaxSeries) && bytes.Load()+lb <= a.cfg.MaxLabelBytes
}

// reserve takes room for one series of lb label bytes in a family's
// budgets, or reports that there is none. The budgets are never exceeded:
// what was added is taken back when it went over.
func (a *Aggregator) reserve(count, bytes *atomic.Int64, lb int64) bool {
	if count.Add(1) > int64(a.cfg.MaxSeries) {
		count.Add(-1)
		return false
	}
	if bytes.Add(lb) > a.cfg.MaxLabelBytes {
		bytes.Add(-lb)
		count.Add(-1)
		return false
	}
	return true
}

// labelBytes is the bytes of a label set's values as the exposition writes
// them (escaped): what MaxLabelBytes counts. The other labels (reporter,
// protocol, codes, flags, security) have a bounded length and are part of
// each line's fixed bytes.
func labelBytes(l *labels) int64 {
	n := escapedLen(l.svc.Host) + escapedLen(l.svc.Name) + escapedLen(l.svc.Namespace)
	for _, w := range [2]*accesslog.Workload{&l.src, &l.dst} {
		n += escapedLen(w.Name) + escapedLen(w.Namespace) + escapedLen(w.CanonicalService) + escapedLen(w.CanonicalRevision) +
			escapedLen(w.App) + escapedLen(w.Version) + escapedLen(w.Cluster) + escapedLen(w.Principal)
	}
	return int64(n)
}

// escapedLen is the length of s as appendEscaped writes it.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			n++
		}
	}
	return n
}

// find returns the remembered series of r's label set (TCP or HTTP
// metrics), whose fingerprint is fp, or nil.
func (rs *recentSet) find(r *accesslog.Record, fp uint64, tcp bool) *recentSeries {
	for j := 0; j < rs.n; j++ {
		c := &rs.s[j]
		if c.fp == fp && c.isTCP == tcp && sameRecordLabels(&c.l, r, tcp) {
			return c
		}
	}
	return nil
}

// add remembers r's label set, evicting the oldest, and returns its entry
// for the caller to fill in the series.
func (rs *recentSet) add(r *accesslog.Record, fp uint64, tcp bool) *recentSeries {
	c := &rs.s[rs.next]
	*c = recentSeries{fp: fp, l: labelsOf(r, tcp), isTCP: tcp}
	rs.next = (rs.next + 1) % recentSize
	rs.n = min(rs.n+1, recentSize)
	return c
}

// labelsOf returns r's label set: TCP metrics have no response codes.
func labelsOf(r *accesslog.Record, tcp bool) labels {
	l := labels{
		reporter: r.Reporter, protocol: r.Protocol, security: r.Security, flags: r.Flags,
		src: r.Source, dst: r.Destination, svc: r.Service, code: r.ResponseCode, grpc: r.GRPCStatus,
	}
	if tcp {
		l.code, l.grpc = 0, -1
	}
	return l
}

// recentSize is the number of label sets a batch remembers.
const recentSize = 16

// fingerprint mixes the addresses of a record's most distinctive strings
// and its codes: equal interned label sets have equal fingerprints, so a
// different fingerprint skips the full comparison.
func fingerprint(r *accesslog.Record, tcp bool) uint64 {
	code, grpc := r.ResponseCode, r.GRPCStatus
	if tcp {
		code, grpc = 1<<31, -1
	}
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(r.Source.Name))))
	h = h*0x9E3779B97F4A7C15 ^ uint64(uintptr(unsafe.Pointer(unsafe.StringData(r.Destination.Name))))
	h = h*0x9E3779B97F4A7C15 ^ uint64(uintptr(unsafe.Pointer(unsafe.StringData(r.Service.Host))))
	h = h*0x9E3779B97F4A7C15 ^ uint64(code)<<32 ^ uint64(uint32(grpc))
	return h*0x9E3779B97F4A7C15 ^ uint64(r.Flags)<<8 ^ uint64(r.Reporter)<<4 ^ uint64(r.Protocol)<<2 ^ uint64(r.Security)
}

// same reports whether two strings are the same interned value (false
// negatives are fine: the caller falls back to the map).
func same(x, y string) bool {
	return len(x) == len(y) && (x == "" || unsafe.StringData(x) == unsafe.StringData(y))
}

func sameWorkload(x, y *accesslog.Workload) bool {
	return same(x.Name, y.Name) && same(x.Namespace, y.Namespace) && same(x.CanonicalService, y.CanonicalService) &&
		same(x.CanonicalRevision, y.CanonicalRevision) && same(x.App, y.App) && same(x.Version, y.Version) &&
		same(x.Cluster, y.Cluster) && same(x.Principal, y.Principal)
}

// sameRecordLabels reports whether r has the label set x (by interned
// identity, as sameLabels).
func sameRecordLabels(x *labels, r *accesslog.Record, tcp bool) bool {
	if tcp {
		if x.code != 0 || x.grpc != -1 {
			return false
		}
	} else if x.code != r.ResponseCode || x.grpc != r.GRPCStatus {
		return false
	}
	return x.reporter == r.Reporter && x.protocol == r.Protocol && x.security == r.Security && x.flags == r.Flags && sameWorkload(&x.src, &r.Source) && sameWorkload(&x.dst, &r.Destination) &&
		same(x.svc.Host, r.Service.Host) && same(x.svc.Name, r.Service.Name) && same(x.svc.Namespace, r.Service.Namespace)
}

// lockHTTP returns the series of l with its shard locked, creating it, or
// the overflow series when the family's budgets are spent: then over is
// the bytes l would have taken (labelBytes), else -1.
func (a *Aggregator) lockHTTP(l labels) (_ *lockedShard, _ *httpSeries, over int64) {
	mask := a.plan.removed[0][side(l.reporter)]
	mask.apply(&l)
	sh := a.shardFor(&l)
	sh.mu.Lock()
	s := sh.http[l]
	if s != nil {
		return sh, s, -1
	}
	if lb := labelBytes(&l); !a.reserve(&a.httpCount, &a.httpBytes, lb) {
		sh.mu.Unlock()
		l = a.overflowOf(l)
		mask.apply(&l)
		sh = &a.shards[numShards]
		sh.mu.Lock()
		if s = sh.http[l]; s == nil {
			s = a.newHTTP(l.reporter)
			sh.http[l] = s
		}
		return sh, s, lb
	}
	s = a.newHTTP(l.reporter)
	sh.http[l] = s
	return sh, s, -1
}

// updateHTTP adds a record to a series; the series' shard is locked.
func (a *Aggregator) updateHTTP(s *httpSeries, r *accesslog.Record, now int64) {
	if r.Protocol == accesslog.ProtocolGRPC {
		s.reqMsgs += r.RequestMessages
		s.respMsgs += r.ResponseMessages
	}
	if r.Final {
		s.requests++
		// A disabled histogram has no counts (newHTTP).
		if r.DurationNanos >= 0 && s.duration.counts != nil {
			ms := float64(r.DurationNanos) / 1e6
			b := s.duration.observe(a.cfg.DurationBuckets, ms)
			if s.exemplars != nil && r.Trace.Valid() {
				s.exemplars[b] = exemplar{traceID: r.Trace.TraceID, spanID: r.Trace.SpanID, value: ms, unixMs: now / 1e6}
			}
			if s.native != nil {
				s.native.duration.observe(ms, a.nativeMax)
			}
		}
		if s.reqBytes.counts != nil {
			s.reqBytes.observe(a.reqBuckets, float64(r.RequestBytes))
			if s.native != nil {
				s.native.reqBytes.observe(float64(r.RequestBytes), a.nativeMax)
			}
		}
		if s.respBytes.counts != nil {
			s.respBytes.observe(a.respBuckets, float64(r.ResponseBytes))
			if s.native != nil {
				s.native.respBytes.observe(float64(r.ResponseBytes), a.nativeMax)
			}
		}
	}
	s.lastSeen = now
}

// lockTCP returns the TCP series of l with its shard locked, creating it,
// or the overflow series when the family's budgets are spent (over as
// lockHTTP's).
func (a *Aggregator) lockTCP(l labels) (_ *lockedShard, _ *tcpSeries, over int64) {
	mask := a.plan.removed[1][side(l.reporter)]
	mask.apply(&l)
	sh := a.shardFor(&l)
	sh.mu.Lock()
	if s := sh.tcp[l]; s != nil {
		return sh, s, -1
	}
	if lb := labelBytes(&l); !a.reserve(&a.tcpCount, &a.tcpBytes, lb) {
		// Over budget: the record goes to the shared overflow shard.
		sh.mu.Unlock()
		l = a.overflowOf(l)
		mask.apply(&l)
		sh = &a.shards[numShards]
		sh.mu.Lock()
		s := sh.tcp[l]
		if s == nil {
			s = &tcpSeries{}
			sh.tcp[l] = s
		}
		return sh, s, lb
	}
	s := &tcpSeries{}
	sh.tcp[l] = s
	return sh, s, -1
}

// update adds a TCP record; the series' shard is locked.
func (s *tcpSeries) update(r *accesslog.Record, now int64) {
	if r.TCPOpened {
		s.opened++
	}
	if r.TCPClosed {
		s.closed++
	}
	s.sent += r.TCPSentBytes
	s.received += r.TCPReceivedBytes
	s.lastSeen = now
}

// newHTTP allocates a series of reporter r with the configured buckets of
// the histograms enabled for r's side; a disabled one has no counts.
func (a *Aggregator) newHTTP(r accesslog.Reporter) *httpSeries {
	off := func(m metric) bool { return a.plan.off[m][side(r)] }
	nb, nq, np := len(a.cfg.DurationBuckets)+1, len(a.reqBuckets)+1, len(a.respBuckets)+1
	if off(mRequestDuration) {
		nb = 0
	}
	if off(mRequestSize) {
		nq = 0
	}
	if off(mResponseSize) {
		np = 0
	}
	counts := make([]uint64, nb+nq+np)
	s := &httpSeries{}
	if nb > 0 {
		s.duration.counts = counts[:nb:nb]
		if a.cfg.Exemplars {
			s.exemplars = make([]exemplar, nb)
		}
	}
	if nq > 0 {
		s.reqBytes.counts = counts[nb : nb+nq : nb+nq]
	}
	if np > 0 {
		s.respBytes.counts = counts[nb+nq:]
	}
	if a.nativeMax > 0 && nb+nq+np > 0 {
		s.native = newNativeSet(a.cfg.NativeHistograms.Schema)
	}
	return s
}

// overflowOf maps a label set over the budget to its overflow series: the
// identities become "overflow"; reporter, protocol and security stay, and
// the status keeps its class (response_code 503 becomes 500, any gRPC
// failure UNKNOWN), so that rates and error ratios stay right in aggregate
// while the overflow series themselves form one small set per family
// whatever the senders send (MaxOverflowSeries).
func (a *Aggregator) overflowOf(l labels) labels {
	o := a.overflowLabels[l.reporter&3]
	o.protocol = l.protocol
	o.security = l.security
	o.code = 0
	if l.code >= 100 && l.code < 600 {
		o.code = l.code / 100 * 100
	}
	o.grpc = l.grpc
	if l.grpc > 0 {
		o.grpc = 2 // UNKNOWN
	} else if l.grpc < -1 {
		o.grpc = -1
	}
	return o
}

// MaxOverflowSeries bounds the overflow series of one family: reporters ×
// protocols (and none) × security policies × status classes (0, 1xx … 5xx) × gRPC
// statuses (none, OK, failed).
const MaxOverflowSeries = 4 * 4 * 3 * 6 * 3

// Expire removes series idle for longer than the TTL and returns how many.
func (a *Aggregator) Expire(now time.Time) int {
	if a.cfg.SeriesTTL <= 0 {
		return 0
	}
	cutoff := now.Add(-a.cfg.SeriesTTL).UnixNano()
	n := 0
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		// The overflow shard's series are in no budget.
		budgeted := i < numShards
		for k, s := range sh.http {
			if s.lastSeen < cutoff {
				delete(sh.http, k)
				s.dead = true // a stream's cache may still point to it
				if budgeted {
					a.httpCount.Add(-1)
					a.httpBytes.Add(-labelBytes(&k))
				}
				n++
			}
		}
		for k, s := range sh.tcp {
			if s.lastSeen < cutoff {
				delete(sh.tcp, k)
				s.dead = true
				if budgeted {
					a.tcpCount.Add(-1)
					a.tcpBytes.Add(-labelBytes(&k))
				}
				n++
			}
		}
		sh.mu.Unlock()
	}
	a.expired.Add(uint64(n))
	return n
}

// Stats are the aggregator's own counters.
type Stats struct {
	HTTPSeries, TCPSeries     int64
	HTTPBytes, TCPBytes       int64  // label-set bytes of the series (MaxLabelBytes)
	OverflowHTTP, OverflowTCP uint64 // records that went to an overflow series
	Expired                   uint64
	Records                   uint64
}

// Stats returns the current counters.
func (a *Aggregator) Stats() Stats {
	return Stats{
		HTTPSeries: a.httpCount.Load(), TCPSeries: a.tcpCount.Load(),
		HTTPBytes: a.httpBytes.Load(), TCPBytes: a.tcpBytes.Load(),
		OverflowHTTP: a.overflowHTTP.Load(), OverflowTCP: a.overflowTCP.Load(),
		Expired: a.expired.Load(), Records: a.records.Load(),
	}
}

func timeFromMs(ms int64) time.Time { return time.UnixMilli(ms) }
