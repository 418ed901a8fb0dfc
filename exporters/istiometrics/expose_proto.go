package istiometrics

import (
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// WriteProtobuf writes every Istio series to w in the Prometheus protobuf
// exposition (length-delimited io.prometheus.client.MetricFamily messages,
// as client_golang's expfmt.FmtProtoDelim), as it renders them, in writes
// of about ChunkBytes, with WriteText's locks. Each chunk is a MetricFamily
// message of its own: a family of many series comes as several messages of
// the same name, which Prometheus's parser takes as one family (it keeps no
// state between messages), so that nothing holds a whole family.
//
// The three histograms carry their classic buckets (without +Inf, which
// the count gives, unless it carries an exemplar, as client_golang writes
// them) with the duration buckets' exemplars and, when native histograms
// are on, their native
// buckets: a scraper with native histograms on reads the native ones (and
// the classic too when told to, Prometheus's scrape_classic_histograms),
// one without reads the classic.
func (a *Aggregator) WriteProtobuf(w io.Writer) error {
	return a.write(&protoWriter{
		w: w, pending: make([]byte, 0, ChunkBytes+ChunkBytes/2),
		bounds: [3][]float64{a.cfg.DurationBuckets, a.reqBuckets, a.respBuckets},
	})
}

// Field numbers of io.prometheus.client (client_model's metrics.proto).
const (
	pbFamilyName   = 1
	pbFamilyHelp   = 2
	pbFamilyType   = 3
	pbFamilyMetric = 4

	pbMetricLabel     = 1
	pbMetricCounter   = 3
	pbMetricHistogram = 7

	pbLabelName  = 1
	pbLabelValue = 2

	pbCounterValue = 1

	pbHistCount         = 1
	pbHistSum           = 2
	pbHistBucket        = 3
	pbHistSchema        = 5
	pbHistZeroThreshold = 6
	pbHistZeroCount     = 7
	pbHistPositiveSpan  = 12
	pbHistPositiveDelta = 13

	pbBucketCount    = 1
	pbBucketBound    = 2
	pbBucketExemplar = 3

	pbSpanOffset = 1
	pbSpanLength = 2

	pbExemplarLabel = 1
	pbExemplarValue = 2
	pbExemplarTime  = 3

	pbTimeSeconds = 1
	pbTimeNanos   = 2

	// MetricType values.
	pbTypeCounter   = 0
	pbTypeHistogram = 4
)

// protoWriter renders the series of one family into pending (the encoded
// Metric fields of a MetricFamily) and writes them out as one
// MetricFamily message per chunk.
type protoWriter struct {
	w       io.Writer
	pending []byte // field 4 entries of the current family
	head    []byte // the current family's name, help and type fields
	out     []byte // a message's length prefix and head
	scratch []byte // one series' counter or histogram message
	sub     []byte // a nested message within scratch
	bounds  [3][]float64
}

func (pw *protoWriter) pendingBytes() int { return len(pw.pending) }

// family ends the previous family's message and starts one of m.
func (pw *protoWriter) family(m metric, typ string) error {
	if err := pw.flush(); err != nil {
		return err
	}
	name := metricNames[m]
	t := uint64(pbTypeCounter)
	if typ == "histogram" {
		t = pbTypeHistogram
	}
	b := pw.head[:0]
	b = protowire.AppendTag(b, pbFamilyName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, pbFamilyHelp, protowire.BytesType)
	b = protowire.AppendString(b, help[name])
	b = protowire.AppendTag(b, pbFamilyType, protowire.VarintType)
	b = protowire.AppendVarint(b, t)
	pw.head = b
	return nil
}

// protoLabels renders a series' label pairs (Metric field 1 entries),
// leaving out the labels the overrides removed.
func protoLabels(l *labels, tcp bool) []byte {
	b := make([]byte, 0, 512)
	l.each(tcp, func(name, value string) { b = appendLabelPair(b, pbMetricLabel, name, value) })
	return slices.Clone(b) // kept with the series: no spare capacity
}

func appendLabelPair[V string | []byte](b []byte, field protowire.Number, name string, value V) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(2+protowire.SizeBytes(len(name))+protowire.SizeBytes(len(value))))
	b = protowire.AppendTag(b, pbLabelName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, pbLabelValue, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(len(value)))
	return append(b, value...)
}

func (pw *protoWriter) protobuf() bool { return true }

// metric appends one Metric: the series' labels and the counter or
// histogram message in pw.scratch under field f.
func (pw *protoWriter) metric(block []byte, f protowire.Number) {
	body := len(block) + protowire.SizeTag(f) + protowire.SizeBytes(len(pw.scratch))
	b := protowire.AppendTag(pw.pending, pbFamilyMetric, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(body)) //nolint:gosec // a length
	b = append(b, block...)
	b = protowire.AppendTag(b, f, protowire.BytesType)
	b = protowire.AppendBytes(b, pw.scratch)
	pw.pending = b
}

func (pw *protoWriter) counter(block []byte, v uint64) {
	b := protowire.AppendTag(pw.scratch[:0], pbCounterValue, protowire.Fixed64Type)
	pw.scratch = protowire.AppendFixed64(b, math.Float64bits(float64(v)))
	pw.metric(block, pbMetricCounter)
}

func (pw *protoWriter) http(m metric, s *httpSeries) {
	switch m {
	case mRequestCount:
		pw.counter(s.pblock, s.requests)
	case mRequestDuration:
		pw.hist(s.pblock, &s.duration, pw.bounds[0], s.exemplars, nativeOf(s, m))
	case mRequestSize:
		pw.hist(s.pblock, &s.reqBytes, pw.bounds[1], nil, nativeOf(s, m))
	case mResponseSize:
		pw.hist(s.pblock, &s.respBytes, pw.bounds[2], nil, nativeOf(s, m))
	case mGRPCRequestMessages:
		pw.counter(s.pblock, s.reqMsgs)
	case mGRPCResponseMessages:
		pw.counter(s.pblock, s.respMsgs)
	}
}

// nativeOf is the native histogram of metric m of s, nil when off.
func nativeOf(s *httpSeries, m metric) *nhist {
	if s.native == nil {
		return nil
	}
	switch m {
	case mRequestDuration:
		return &s.native.duration
	case mRequestSize:
		return &s.native.reqBytes
	default:
		return &s.native.respBytes
	}
}

func (pw *protoWriter) tcp(s *tcpSeries, v uint64) { pw.counter(s.pblock, v) }

// hist renders a Histogram message into pw.scratch and appends its Metric.
func (pw *protoWriter) hist(block []byte, h *hist, bounds []float64, ex []exemplar, n *nhist) {
	b := protowire.AppendTag(pw.scratch[:0], pbHistCount, protowire.VarintType)
	b = protowire.AppendVarint(b, h.count)
	b = protowire.AppendTag(b, pbHistSum, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(h.sum))
	var cum uint64
	for i, ub := range bounds {
		cum += h.counts[i]
		sub := protowire.AppendTag(pw.sub[:0], pbBucketCount, protowire.VarintType)
		sub = protowire.AppendVarint(sub, cum)
		sub = protowire.AppendTag(sub, pbBucketBound, protowire.Fixed64Type)
		sub = protowire.AppendFixed64(sub, math.Float64bits(ub))
		if i < len(ex) && ex[i].unixMs != 0 {
			sub = appendExemplar(sub, &ex[i])
		}
		pw.sub = sub
		b = protowire.AppendTag(b, pbHistBucket, protowire.BytesType)
		b = protowire.AppendBytes(b, sub)
	}
	if i := len(bounds); i < len(ex) && ex[i].unixMs != 0 {
		// The +Inf bucket, which the count implies, is written only to
		// carry its exemplar (as client_golang does).
		sub := protowire.AppendTag(pw.sub[:0], pbBucketCount, protowire.VarintType)
		sub = protowire.AppendVarint(sub, h.count)
		sub = protowire.AppendTag(sub, pbBucketBound, protowire.Fixed64Type)
		sub = protowire.AppendFixed64(sub, math.Float64bits(math.Inf(1)))
		sub = appendExemplar(sub, &ex[i])
		pw.sub = sub
		b = protowire.AppendTag(b, pbHistBucket, protowire.BytesType)
		b = protowire.AppendBytes(b, sub)
	}
	if n != nil {
		b = appendNative(b, n)
	}
	pw.scratch = b
	pw.metric(block, pbMetricHistogram)
}

// appendNative appends the native fields of n: schema, zero bucket,
// positive spans and the deltas of their counts.
func appendNative(b []byte, n *nhist) []byte {
	b = protowire.AppendTag(b, pbHistSchema, protowire.VarintType)
	b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(n.schema)))
	b = protowire.AppendTag(b, pbHistZeroThreshold, protowire.Fixed64Type)
	b = protowire.AppendFixed64(b, math.Float64bits(nativeZeroThreshold))
	b = protowire.AppendTag(b, pbHistZeroCount, protowire.VarintType)
	b = protowire.AppendVarint(b, n.zero)
	n.spans(func(offset int32, counts []uint64) {
		b = protowire.AppendTag(b, pbHistPositiveSpan, protowire.BytesType)
		zz := protowire.EncodeZigZag(int64(offset))
		b = protowire.AppendVarint(b, uint64(2+protowire.SizeVarint(zz)+protowire.SizeVarint(uint64(len(counts)))))
		b = protowire.AppendTag(b, pbSpanOffset, protowire.VarintType)
		b = protowire.AppendVarint(b, zz)
		b = protowire.AppendTag(b, pbSpanLength, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(len(counts)))
	})
	// The deltas, packed: the first count, then each count minus the one
	// before it, across the spans.
	size, prev := 0, int64(0)
	n.spans(func(_ int32, counts []uint64) {
		for _, c := range counts {
			size += protowire.SizeVarint(protowire.EncodeZigZag(int64(c) - prev)) //nolint:gosec // counts < 2^63
			prev = int64(c)                                                       //nolint:gosec // as above
		}
	})
	if size == 0 {
		return b
	}
	b = protowire.AppendTag(b, pbHistPositiveDelta, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	prev = 0
	n.spans(func(_ int32, counts []uint64) {
		for _, c := range counts {
			b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(c)-prev)) //nolint:gosec // as above
			prev = int64(c)                                                      //nolint:gosec // as above
		}
	})
	return b
}

// appendExemplar appends an exemplar (Bucket field 3): trace_id and
// span_id labels, the value and the time.
func appendExemplar(b []byte, e *exemplar) []byte {
	var ids [2][32]byte
	tid := hex.AppendEncode(ids[0][:0], e.traceID[:])
	sid := hex.AppendEncode(ids[1][:0], e.spanID[:])
	var msg [192]byte
	m := appendLabelPair(msg[:0], pbExemplarLabel, "trace_id", tid)
	m = appendLabelPair(m, pbExemplarLabel, "span_id", sid)
	m = protowire.AppendTag(m, pbExemplarValue, protowire.Fixed64Type)
	m = protowire.AppendFixed64(m, math.Float64bits(e.value))
	sec, nanos := e.unixMs/1000, (e.unixMs%1000)*1e6
	var ts [24]byte
	t := protowire.AppendTag(ts[:0], pbTimeSeconds, protowire.VarintType)
	t = protowire.AppendVarint(t, uint64(sec)) //nolint:gosec // a time after 1970
	t = protowire.AppendTag(t, pbTimeNanos, protowire.VarintType)
	t = protowire.AppendVarint(t, uint64(nanos)) //nolint:gosec // < 1e9
	m = protowire.AppendTag(m, pbExemplarTime, protowire.BytesType)
	m = protowire.AppendBytes(m, t)
	b = protowire.AppendTag(b, pbBucketExemplar, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

// flush writes the pending series as one MetricFamily message.
func (pw *protoWriter) flush() error {
	if len(pw.pending) == 0 {
		return nil
	}
	out := protowire.AppendVarint(pw.out[:0], uint64(len(pw.head)+len(pw.pending)))
	out = append(out, pw.head...)
	pw.out = out
	_, err := pw.w.Write(out)
	if err == nil {
		_, err = pw.w.Write(pw.pending)
	}
	pw.pending = pw.pending[:0]
	if err != nil {
		return fmt.Errorf("write Istio series: %w", err)
	}
	return nil
}
