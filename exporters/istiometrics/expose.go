package istiometrics

import (
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshlens/meshlens/accesslog"
)

// Format is an exposition format.
type Format uint8

// Exposition formats.
const (
	FormatText        Format = iota // Prometheus text 0.0.4
	FormatOpenMetrics               // OpenMetrics 1.0 text (carries exemplars)
)

// labelBlock renders `{name="value",...` (no closing brace) once per
// series, so that a scrape copies bytes instead of escaping label values.
// The labels the overrides removed (l.removed) are left out.
func (a *Aggregator) labelBlock(l *labels, tcp bool) []byte {
	b := make([]byte, 0, 512)
	b = append(b, '{')
	l.each(tcp, func(name, value string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, name...)
		b = append(b, '=', '"')
		b = appendEscaped(b, value)
		b = append(b, '"')
	})
	return b
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 0:
		return append(b, '0')
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// ChunkBytes is how much of the exposition WriteText renders before it
// writes it out. A scrape holds one chunk, plus at most the lines of one
// series of one family beyond it (a histogram: buckets + 3 lines of its
// label block and a bounded rest, see ExpositionBound), plus a pointer per
// series of the largest shard: memory per scrape does not grow with the
// body, whatever the scraper's speed.
const ChunkBytes = 64 << 10

// WriteText writes every Istio series in the given format to w as it
// renders them, in writes of about ChunkBytes. It does not write the
// OpenMetrics "# EOF" line: the caller ends the whole exposition. It
// returns the first write error, at once: a scraper that went away ends
// the scrape.
//
// Locks: for each family and shard it lists the shard's series under the
// shard's lock, then renders them a chunk at a time, each under the lock
// (a chunk's rendering, some tens of microseconds, is all ingest can wait
// for), and writes the chunk after releasing it. A slow or stalled scraper
// therefore never blocks ingest, and costs one chunk of memory. A series
// expired meanwhile is skipped; one created meanwhile is in the next scrape.
func (a *Aggregator) WriteText(w io.Writer, f Format) error {
	return a.write(&textWriter{
		w: w, f: f, pending: make([]byte, 0, ChunkBytes+ChunkBytes/2),
		le: [3][][]byte{leLabels(a.cfg.DurationBuckets), leLabels(a.reqBuckets), leLabels(a.respBuckets)},
	})
}

// seriesEncoder renders the series write lists: the text formats
// (textWriter) or protobuf (protoWriter).
type seriesEncoder interface {
	// family starts the series of metric m, of type typ.
	family(m metric, typ string) error
	// protobuf reports whether the encoder needs the series' labels in
	// protobuf (pblock) rather than text (block): write renders them once
	// a series, under its shard's lock (with the key's address, which an
	// interface call would move to the heap, once a series and family).
	protobuf() bool
	// http and tcp render one series of the current family.
	http(m metric, s *httpSeries)
	tcp(s *tcpSeries, v uint64)
	// pendingBytes is what is rendered and not written yet.
	pendingBytes() int
	// flush writes what is rendered.
	flush() error
}

// write renders every series through enc and writes them a chunk at a time
// (WriteText's locks).
func (a *Aggregator) write(enc seriesEncoder) error {
	pb := enc.protobuf()
	flushFull := func() error {
		if enc.pendingBytes() < ChunkBytes {
			return nil
		}
		return enc.flush()
	}
	httpFams := []struct {
		m        metric
		typ      string
		grpcOnly bool
	}{
		{mRequestCount, "counter", false},
		{mRequestDuration, "histogram", false},
		{mRequestSize, "histogram", false},
		{mResponseSize, "histogram", false},
		{mGRPCRequestMessages, "counter", true},
		{mGRPCResponseMessages, "counter", true},
	}
	var list []*httpSeries // one shard's series, reused
	for _, fam := range httpFams {
		if a.plan.off[fam.m] == [2]bool{true, true} {
			continue
		}
		if err := enc.family(fam.m, fam.typ); err != nil {
			return err
		}
		for i := range a.shards {
			sh := &a.shards[i]
			sh.mu.Lock()
			list = list[:0]
			for k, s := range sh.http {
				if !a.enabled(fam.m, &k) || fam.grpcOnly && !grpcSeries(&k, s) {
					continue
				}
				if pb && s.pblock == nil {
					s.pblock = protoLabels(&k, false)
				} else if !pb && s.block == nil {
					s.block = a.labelBlock(&k, false)
				}
				list = append(list, s)
			}
			sh.mu.Unlock()
			for j := 0; j < len(list); {
				sh.mu.Lock()
				for ; j < len(list) && enc.pendingBytes() < ChunkBytes; j++ {
					s := list[j]
					if s.dead || (fam.m == mRequestDuration && s.duration.count == 0) || (!fam.grpcOnly && s.requests == 0) {
						continue
					}
					enc.http(fam.m, s)
				}
				sh.mu.Unlock()
				if err := flushFull(); err != nil {
					return err
				}
			}
		}
	}
	clear(list[:cap(list)]) // let expired series go

	tcpFams := []struct {
		m   metric
		get func(s *tcpSeries) uint64
	}{
		{mTCPOpened, func(s *tcpSeries) uint64 { return s.opened }},
		{mTCPClosed, func(s *tcpSeries) uint64 { return s.closed }},
		{mTCPSent, func(s *tcpSeries) uint64 { return s.sent }},
		{mTCPReceived, func(s *tcpSeries) uint64 { return s.received }},
	}
	var tcpList []*tcpSeries
	for _, fam := range tcpFams {
		if a.plan.off[fam.m] == [2]bool{true, true} {
			continue
		}
		if err := enc.family(fam.m, "counter"); err != nil {
			return err
		}
		for i := range a.shards {
			sh := &a.shards[i]
			sh.mu.Lock()
			tcpList = tcpList[:0]
			for k, s := range sh.tcp {
				if !a.enabled(fam.m, &k) {
					continue
				}
				if pb && s.pblock == nil {
					s.pblock = protoLabels(&k, true)
				} else if !pb && s.block == nil {
					s.block = a.labelBlock(&k, true)
				}
				tcpList = append(tcpList, s)
			}
			sh.mu.Unlock()
			for j := 0; j < len(tcpList); {
				sh.mu.Lock()
				for ; j < len(tcpList) && enc.pendingBytes() < ChunkBytes; j++ {
					if s := tcpList[j]; !s.dead {
						enc.tcp(s, fam.get(s))
					}
				}
				sh.mu.Unlock()
				if err := flushFull(); err != nil {
					return err
				}
			}
		}
	}
	return enc.flush()
}

// grpcSeries reports whether the HTTP series k has gRPC message counters:
// its protocol is gRPC, or request_protocol was removed and it counted
// messages (only gRPC records count them).
func grpcSeries(k *labels, s *httpSeries) bool {
	return k.protocol == accesslog.ProtocolGRPC || k.protocol == 0 && s.reqMsgs|s.respMsgs != 0
}

// textWriter renders exposition lines into pending and writes them to w a
// chunk at a time.
type textWriter struct {
	w       io.Writer
	f       Format
	pending []byte
	le      [3][][]byte // the le labels of the three histograms
	name    string      // the current family's metric name
}

func (tw *textWriter) pendingBytes() int { return len(tw.pending) }

func (tw *textWriter) family(m metric, typ string) error {
	tw.name = metricNames[m]
	tw.header(tw.name, typ)
	return nil
}

func (tw *textWriter) protobuf() bool { return false }

func (tw *textWriter) http(m metric, s *httpSeries) {
	switch m {
	case mRequestCount:
		tw.sample(tw.name, "", s.block, nil, float64(s.requests), nil)
	case mRequestDuration:
		tw.hist(tw.name, s.block, &s.duration, tw.le[0], s.exemplars)
	case mRequestSize:
		tw.hist(tw.name, s.block, &s.reqBytes, tw.le[1], nil)
	case mResponseSize:
		tw.hist(tw.name, s.block, &s.respBytes, tw.le[2], nil)
	case mGRPCRequestMessages:
		tw.sample(tw.name, "", s.block, nil, float64(s.reqMsgs), nil)
	case mGRPCResponseMessages:
		tw.sample(tw.name, "", s.block, nil, float64(s.respMsgs), nil)
	}
}

func (tw *textWriter) tcp(s *tcpSeries, v uint64) {
	tw.sample(tw.name, "", s.block, nil, float64(v), nil)
}

func (tw *textWriter) flush() error {
	if len(tw.pending) == 0 {
		return nil
	}
	_, err := tw.w.Write(tw.pending)
	tw.pending = tw.pending[:0]
	if err != nil {
		return fmt.Errorf("write Istio series: %w", err)
	}
	return nil
}

func (tw *textWriter) header(name, typ string) {
	fam := name
	if tw.f == FormatOpenMetrics && typ == "counter" {
		fam = name[:len(name)-len("_total")]
	}
	b := tw.pending
	b = append(b, "# HELP "...)
	b = append(b, fam...)
	b = append(b, ' ')
	b = append(b, help[name]...)
	b = append(b, "\n# TYPE "...)
	b = append(b, fam...)
	b = append(b, ' ')
	b = append(b, typ...)
	b = append(b, '\n')
	tw.pending = b
}

func (tw *textWriter) sample(name, suffix string, block, extra []byte, v float64, ex *exemplar) {
	b := tw.pending
	b = append(b, name...)
	b = append(b, suffix...)
	b = append(b, block...)
	b = append(b, extra...)
	b = append(b, '}', ' ')
	b = appendFloat(b, v)
	if ex != nil && tw.f == FormatOpenMetrics && ex.unixMs != 0 {
		b = append(b, ` # {trace_id="`...)
		b = hex.AppendEncode(b, ex.traceID[:])
		b = append(b, `",span_id="`...)
		b = hex.AppendEncode(b, ex.spanID[:])
		b = append(b, `"} `...)
		b = appendFloat(b, ex.value)
		b = append(b, ' ')
		b = strconv.AppendFloat(b, float64(ex.unixMs)/1e3, 'f', 3, 64)
	}
	b = append(b, '\n')
	tw.pending = b
}

func (tw *textWriter) hist(name string, block []byte, h *hist, le [][]byte, ex []exemplar) {
	var cum uint64
	for i, c := range h.counts {
		cum += c
		var e *exemplar
		if ex != nil {
			e = &ex[i]
		}
		tw.sample(name, "_bucket", block, le[i], float64(cum), e)
	}
	tw.sample(name, "_sum", block, nil, h.sum, nil)
	tw.sample(name, "_count", block, nil, float64(h.count), nil)
}

func leLabels(bounds []float64) [][]byte {
	out := make([][]byte, 0, len(bounds)+1)
	for _, b := range bounds {
		out = append(out, appendFloat([]byte(`,le="`), b))
	}
	out = append(out, []byte(`,le="+Inf`))
	for i := range out {
		out[i] = append(out[i], '"')
	}
	return out
}

// Collector exports the aggregator through client_golang: ConstMetrics built
// at scrape time from the aggregation state, so series vanish when they
// expire. It produces the same series as WriteText (without exemplars
// unless the registry is scraped in OpenMetrics format) and is what tests
// and embedders can register on any prometheus.Registry; the hub serves
// WriteText, which is several times faster (see BENCHMARKS.md).
func (a *Aggregator) Collector() prometheus.Collector { return collector{a} }

type collector struct{ a *Aggregator }

var descs = func() map[string]*prometheus.Desc {
	m := map[string]*prometheus.Desc{}
	for _, n := range []string{RequestsTotal, RequestDuration, RequestBytes, ResponseBytes, RequestMessages, ResponseMessages} {
		m[n] = prometheus.NewDesc(n, help[n], HTTPLabels, nil)
	}
	for _, n := range []string{TCPConnectionsOpened, TCPConnectionsClosed, TCPSentBytes, TCPReceivedBytes} {
		m[n] = prometheus.NewDesc(n, help[n], TCPLabels, nil)
	}
	return m
}()

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range descs {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	var vals []string
	var ms []prometheus.Metric
	// The metrics of a shard are built under its lock and sent after
	// releasing it, so that a slow consumer of ch never stalls ingest.
	send := func(m prometheus.Metric) { ms = append(ms, m) }
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		for k, s := range sh.http {
			grpc := grpcSeries(&k, s)
			if s.requests == 0 && !grpc {
				continue
			}
			vals = collectValues(vals[:0], &k, false)
			on := func(m metric) bool { return a.enabled(m, &k) }
			if s.requests > 0 {
				if on(mRequestCount) {
					send(prometheus.MustNewConstMetric(descs[RequestsTotal], prometheus.CounterValue, float64(s.requests), vals...))
				}
				if on(mRequestDuration) && s.duration.count > 0 {
					send(constHist(descs[RequestDuration], &s.duration, a.cfg.DurationBuckets, vals, s.exemplars))
				}
				if on(mRequestSize) {
					send(constHist(descs[RequestBytes], &s.reqBytes, a.reqBuckets, vals, nil))
				}
				if on(mResponseSize) {
					send(constHist(descs[ResponseBytes], &s.respBytes, a.respBuckets, vals, nil))
				}
			}
			if grpc && on(mGRPCRequestMessages) {
				send(prometheus.MustNewConstMetric(descs[RequestMessages], prometheus.CounterValue, float64(s.reqMsgs), vals...))
			}
			if grpc && on(mGRPCResponseMessages) {
				send(prometheus.MustNewConstMetric(descs[ResponseMessages], prometheus.CounterValue, float64(s.respMsgs), vals...))
			}
		}
		for k, s := range sh.tcp {
			vals = collectValues(vals[:0], &k, true)
			for _, m := range [...]struct {
				m metric
				v uint64
			}{{mTCPOpened, s.opened}, {mTCPClosed, s.closed}, {mTCPSent, s.sent}, {mTCPReceived, s.received}} {
				if a.enabled(m.m, &k) {
					send(prometheus.MustNewConstMetric(descs[metricNames[m.m]], prometheus.CounterValue, float64(m.v), vals...))
				}
			}
		}
		sh.mu.Unlock()
		for _, m := range ms {
			ch <- m
		}
		ms = ms[:0]
	}
}

// collectValues appends l's label values in the order of the Collector's
// descriptors (all of the family's labels, as client_golang requires one
// label set per metric name), a removed label as "": absent, to
// Prometheus, as in WriteText.
func collectValues(dst []string, l *labels, tcp bool) []string {
	n := len(dst)
	dst = l.values(dst, tcp)
	for j := range dst[n:] {
		if !l.has(j, tcp) {
			dst[n+j] = ""
		}
	}
	return dst
}

func constHist(d *prometheus.Desc, h *hist, bounds []float64, vals []string, ex []exemplar) prometheus.Metric {
	buckets := make(map[float64]uint64, len(bounds))
	var cum uint64
	for i, b := range bounds {
		cum += h.counts[i]
		buckets[b] = cum
	}
	m := prometheus.MustNewConstHistogram(d, h.count, h.sum, buckets, vals...)
	if ex == nil {
		return m
	}
	var exs []prometheus.Exemplar
	for i := range ex {
		if ex[i].unixMs == 0 {
			continue
		}
		exs = append(exs, prometheus.Exemplar{
			Value:     ex[i].value,
			Labels:    prometheus.Labels{"trace_id": hex.EncodeToString(ex[i].traceID[:]), "span_id": hex.EncodeToString(ex[i].spanID[:])},
			Timestamp: timeFromMs(ex[i].unixMs),
		})
	}
	if len(exs) == 0 {
		return m
	}
	mm, err := prometheus.NewMetricWithExemplars(m, exs...)
	if err != nil {
		return m
	}
	return mm
}
