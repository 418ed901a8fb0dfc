package loadgen

import (
	"encoding/hex"
	"math"
	"math/rand/v2"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

type logKind uint8

const (
	kindHTTP logKind = iota
	kindTCP
)

// Response details and bodies Envoy produces for a refused upstream
// connection after Istio's default retries (2 retries, so 3 attempts).
const (
	ufDetails          = "upstream_reset_before_response_started{remote_connection_failure,delayed_connect_error:_111}"
	ufTransportFailure = "delayed_connect_error:_111"
	ufBody             = "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111"
	ufAttempts         = 3
	grpcUA             = "grpc-go/1.75.0"
	browserUA          = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/139.0.0.0 Safari/537.36"
	inboundSourceIP    = "127.0.0.6"
	gatewayListenPort  = 8080
	grpcUnavailable    = "14"
)

// sink receives what the generator produces. at is Unix nanoseconds of the
// moment Envoy would write (flush) the entry / the stat changes.
type sink interface {
	entry(p *proxy, kind logKind, worker int, at int64, b []byte)
	event(ev statEvent)
}

type evKind uint8

const (
	evReqStart evKind = iota
	evReqEnd
	evConnOpen
	evConnClose
)

// statEvent is a change of Envoy stats a proxy would see (Metrics Service).
type statEvent struct {
	at       int64
	seq      uint64
	p        *proxy
	kind     evKind
	server   bool
	edge     *cedge
	code     uint32
	connFail bool
	sent     uint64
	received uint64
}

type outcome uint8

const (
	outcomeOK outcome = iota
	outcome5xx
	outcome4xx
	outcomeGRPCError
	outcomeConnFail
)

// generator turns simulated calls into entries. It owns its random source;
// every value it produces derives from (seed, chunk) and the call start
// times. A generator is used by one goroutine.
type generator struct {
	c          *compiled
	cfg        GenConfig
	rng        *rand.Rand
	led        *Ledger
	sink       sink
	wantEvents bool
	arena      []byte
	scratch    [3][]byte
	tlsCache   map[[2]int]*accesslogv3.TLSProperties
	idBuf      [16]byte
	// parent, when set, is the trace the next call continues, and served
	// what the last HTTP call left for the calls its callee makes
	// (trace.go: whole requests, for the demo).
	parent *traceCtx
	served served
}

func newGenerator(c *compiled, cfg GenConfig, chunk uint64, s sink, led *Ledger, wantEvents bool) *generator {
	return &generator{
		c:          c,
		cfg:        cfg,
		rng:        rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15^chunk)),
		led:        led,
		sink:       s,
		wantEvents: wantEvents,
		tlsCache:   map[[2]int]*accesslogv3.TLSProperties{},
	}
}

const arenaChunk = 4 << 20

// emit hands an encoded entry to the sink.
func (g *generator) emit(p *proxy, kind logKind, worker int, at time.Time, b []byte) {
	g.sink.entry(p, kind, worker, at.UnixNano(), b)
	g.led.Entries++
	if kind == kindHTTP {
		g.led.HTTPEntries++
	} else {
		g.led.TCPEntries++
	}
}

func (g *generator) event(ev statEvent) {
	if g.wantEvents {
		g.sink.event(ev)
	}
}

func (g *generator) worker() int {
	if g.cfg.StreamsPerProxy <= 1 {
		return 0
	}
	return g.rng.IntN(g.cfg.StreamsPerProxy)
}

func (g *generator) uuid() string {
	r := g.rng
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			g.idBuf[i+j] = byte(v >> (8 * j))
		}
	}
	g.idBuf[6] = g.idBuf[6]&0x0f | 0x40
	g.idBuf[8] = g.idBuf[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], g.idBuf[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], g.idBuf[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], g.idBuf[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], g.idBuf[8:10])
	s[23] = '-'
	hex.Encode(s[24:], g.idBuf[10:16])
	return string(s[:])
}

func (g *generator) hexID(nbytes int) string {
	var b [16]byte
	for {
		for i := 0; i < nbytes; i += 8 {
			v := g.rng.Uint64()
			for j := 0; j < 8 && i+j < nbytes; j++ {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		for _, x := range b[:nbytes] {
			if x != 0 {
				return hex.EncodeToString(b[:nbytes])
			}
		}
	}
}

func (g *generator) ephemeral() uint32 { return uint32(32768 + g.rng.IntN(28231)) }

func (g *generator) micros(lo, hi int) time.Duration {
	return time.Duration(lo+g.rng.IntN(hi-lo+1)) * time.Microsecond
}

// jitter returns n scaled uniformly into [n/2, 3n/2].
func (g *generator) jitter(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return uint64(n/2 + g.rng.IntN(n+1))
}

func (g *generator) latency(e *cedge) time.Duration {
	d := math.Exp(e.mu + e.sigma*g.rng.NormFloat64())
	lo, hi := float64(50*time.Microsecond), 20*float64(e.Latency.P99)
	d = min(max(d, lo), hi)
	return time.Duration(d)
}

func pickCum(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	lo, hi := 0, len(cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if cum[mid] > x {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// call simulates one request (or TCP connection) starting at start.
func (g *generator) call(start time.Time) {
	r := g.rng
	e := g.c.edges[pickCum(r, g.c.cum)]
	g.callFrom(e, e.from.proxies[r.IntN(len(e.from.proxies))], start)
}

// callFrom simulates one call on edge e made by the proxy cp.
func (g *generator) callFrom(e *cedge, cp *proxy, start time.Time) {
	r := g.rng
	var sp *proxy
	if e.to.External == InMesh {
		sw := e.to.workloads[pickCum(r, e.to.cumWeights)]
		sp = sw.proxies[r.IntN(len(sw.proxies))]
	}
	g.led.SimulatedRequests++
	x := e.Errors
	oc := outcomeOK
	switch u := r.Float64(); {
	case u < x.ConnectionFailure:
		oc = outcomeConnFail
	case u < x.ConnectionFailure+x.HTTP5xx:
		oc = outcome5xx
	case u < x.ConnectionFailure+x.HTTP5xx+x.HTTP4xx:
		oc = outcome4xx
	case u < x.ConnectionFailure+x.HTTP5xx+x.HTTP4xx+x.GRPCError:
		oc = outcomeGRPCError
	}
	if e.Protocol == ProtocolTCP {
		g.tcpCall(e, cp, sp, start, oc == outcomeConnFail)
		return
	}
	g.httpCall(e, cp, sp, start, oc)
}

// timings fills the time_to_* offsets of an entry of duration d whose proxy
// spent front before sending upstream and back after the last upstream byte.
func timings(c *accesslogv3.AccessLogCommon, d, front, back time.Duration, upstream bool) {
	c.TimeToLastRxByte = durationpb.New(front / 5)
	if upstream {
		lastUpRx := d - back
		firstUpRx := front + (lastUpRx-front)*9/10
		c.TimeToFirstUpstreamTxByte = durationpb.New(front * 9 / 10)
		c.TimeToLastUpstreamTxByte = durationpb.New(front)
		c.TimeToFirstUpstreamRxByte = durationpb.New(firstUpRx)
		c.TimeToLastUpstreamRxByte = durationpb.New(lastUpRx)
		c.TimeToFirstDownstreamTxByte = durationpb.New(firstUpRx + back/4)
	} else {
		c.TimeToFirstDownstreamTxByte = durationpb.New(d - back)
	}
	c.TimeToLastDownstreamTxByte = durationpb.New(d - back/5)
	c.Duration = durationpb.New(d)
}

// split scales front, back and net down so that they take at most half of d.
func split(d time.Duration, parts ...*time.Duration) {
	var sum time.Duration
	for _, p := range parts {
		sum += *p
	}
	if sum <= d/2 || sum == 0 {
		return
	}
	f := float64(d/2) / float64(sum)
	for _, p := range parts {
		*p = time.Duration(float64(*p) * f)
	}
}

func (g *generator) tls(e *cedge, cp, sp *proxy) *accesslogv3.TLSProperties {
	// The edge fixes the caller workload (peer SAN) and the SNI; the callee
	// pod fixes the local SAN.
	k := [2]int{e.idx, sp.idx}
	if t, ok := g.tlsCache[k]; ok {
		return t
	}
	san := func(uri string) *accesslogv3.TLSProperties_CertificateProperties {
		return &accesslogv3.TLSProperties_CertificateProperties{SubjectAltName: []*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName{
			{San: &accesslogv3.TLSProperties_CertificateProperties_SubjectAltName_Uri{Uri: uri}},
		}}
	}
	t := &accesslogv3.TLSProperties{
		TlsVersion:                 accesslogv3.TLSProperties_TLSv1_3,
		TlsCipherSuite:             wrapperspb.UInt32(0x1301), // TLS_AES_128_GCM_SHA256
		TlsSniHostname:             e.to.sni,
		LocalCertificateProperties: san(sp.wl.spiffe),
		PeerCertificateProperties:  san(cp.wl.spiffe),
	}
	g.tlsCache[k] = t
	return t
}
