package remotewrite

import (
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of prometheus.WriteRequest and the messages in it
// (prompb/remote.proto, prompb/types.proto).
const (
	fWriteRequestTimeseries = 1

	fSeriesLabels     = 1
	fSeriesSamples    = 2
	fSeriesHistograms = 4

	fLabelName  = 1
	fLabelValue = 2

	fSampleValue     = 1
	fSampleTimestamp = 2

	fHistCountInt      = 1
	fHistSum           = 3
	fHistSchema        = 4
	fHistZeroThreshold = 5
	fHistZeroCountInt  = 6
	fHistPositiveSpans = 11
	fHistPositiveDelta = 12
	fHistTimestamp     = 15

	fSpanOffset = 1
	fSpanLength = 2
)

// Label is one label of a series.
type Label struct {
	Name, Value string
}

// Labels are a series' labels encoded once as TimeSeries label fields,
// sorted by name as remote write requires, with the places where a
// sample's metric name (__name__) and a bucket's le go. A series keeps
// them for its life: a push copies them.
type Labels struct {
	b      []byte
	nameAt int32 // where the __name__ label goes
	leAt   int32 // where a bucket's le label goes (at or after nameAt), or a quantile's (Encode)
}

// Size returns the bytes the labels hold.
func (l *Labels) Size() int { return cap(l.b) }

// IsZero reports whether l was never encoded.
func (l *Labels) IsZero() bool { return l.b == nil }

// EncodeLabels encodes ls (in any order; scratch is reordered) leaving
// out those with an empty value, as Prometheus leaves them out of a
// scraped series. The names must be valid and distinct, and none of them
// __name__ or le.
func EncodeLabels(ls []Label) Labels {
	var out Labels
	out.Encode(ls, "le")
	return out
}

// Encode is EncodeLabels into l, reusing its bytes (for labels encoded
// anew at every push, as Families does: nothing is allocated once l has
// grown to the largest label set), with the place of the label a sample
// may add (Batch.Sample's le) where extra sorts: "le" for a classic
// bucket, "quantile" for a summary's quantile. None of ls may be named
// extra.
func (l *Labels) Encode(ls []Label, extra string) {
	slices.SortFunc(ls, func(x, y Label) int { return strings.Compare(x.Name, y.Name) })
	size := 0
	for _, lb := range ls {
		if lb.Value != "" {
			size += labelSize(lb.Name, len(lb.Value))
		}
	}
	if l.b == nil || cap(l.b) < size {
		l.b = make([]byte, 0, size)
	}
	l.b, l.nameAt, l.leAt = l.b[:0], -1, -1
	for _, lb := range ls {
		if lb.Value == "" {
			continue
		}
		if l.nameAt < 0 && lb.Name > "__name__" {
			l.nameAt = int32(len(l.b)) //nolint:gosec // a label set's size
		}
		if l.leAt < 0 && lb.Name > extra {
			l.leAt = int32(len(l.b)) //nolint:gosec // as above
		}
		l.b = AppendLabel(l.b, lb.Name, lb.Value)
	}
	if l.nameAt < 0 {
		l.nameAt = int32(len(l.b)) //nolint:gosec // as above
	}
	if l.leAt < 0 {
		l.leAt = int32(len(l.b)) //nolint:gosec // as above
	}
}

func labelSize(name string, value int) int {
	inner := 2 + protowire.SizeBytes(len(name)) + protowire.SizeBytes(value)
	return 1 + protowire.SizeBytes(inner)
}

// AppendLabel appends one TimeSeries label field.
func AppendLabel(b []byte, name, value string) []byte {
	return append(appendLabelHeader(b, name, len(value)), value...)
}

// appendLabelBytes is AppendLabel of a value in bytes.
func appendLabelBytes(b []byte, name string, value []byte) []byte {
	return append(appendLabelHeader(b, name, len(value)), value...)
}

// appendLabelHeader appends a TimeSeries label field but its value's
// bytes, valueLen long, which the caller appends.
func appendLabelHeader(b []byte, name string, valueLen int) []byte {
	b = protowire.AppendTag(b, fSeriesLabels, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(2+protowire.SizeBytes(len(name))+protowire.SizeBytes(valueLen))) //nolint:gosec // a length
	b = protowire.AppendTag(b, fLabelName, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, fLabelValue, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(valueLen)) //nolint:gosec // a length
}

// Name is an encoded __name__ label: the metric name of a sample.
type Name []byte

// NewName encodes the __name__ label of a metric.
func NewName(metric string) Name { return AppendLabel(nil, "__name__", metric) }

// LE is an encoded le label: a classic bucket's upper bound.
type LE []byte

// NewLE encodes the le label of a bucket whose bound is written as text.
func NewLE(text string) LE { return AppendLabel(nil, "le", text) }

// Batch builds the WriteRequest of a push, one request at a time: the
// reader appends series (Sample, Histogram) while pending is below
// MaxBytes, and, outside its locks, hands a full request to Emit
// (FlushIfFull) and the last one at the end (Flush). A request holds at
// most MaxBytes plus the series appended after it filled: the reader
// checks Full before each label set.
type Batch struct {
	// Emit receives an encoded WriteRequest (uncompressed) and the number
	// of samples and histograms in it. body is Batch's: valid until Emit
	// returns.
	Emit     func(body []byte, samples, histograms int) error
	MaxBytes int

	buf            []byte
	samples, hists int
	totalS, totalH int
	requests       int
}

// Full reports whether the pending request has reached MaxBytes.
func (b *Batch) Full() bool { return len(b.buf) >= b.MaxBytes }

// Len is the size of the request being built, in bytes.
func (b *Batch) Len() int { return len(b.buf) }

// FlushIfFull emits the pending request when it has reached MaxBytes.
func (b *Batch) FlushIfFull() error {
	if !b.Full() {
		return nil
	}
	return b.Flush()
}

// Flush emits the pending request, if it holds anything.
func (b *Batch) Flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	s, h := b.samples, b.hists
	body := b.buf
	b.buf, b.samples, b.hists = b.buf[:0], 0, 0
	b.requests++
	return b.Emit(body, s, h)
}

// Totals returns the samples and histograms appended since the Batch was
// made, and the requests emitted.
func (b *Batch) Totals() (samples, histograms, requests int) { return b.totalS, b.totalH, b.requests }

// sampleSize is the size of an encoded Sample message.
func sampleSize(ts int64) int {
	return 1 + 8 + 1 + protowire.SizeVarint(uint64(ts)) //nolint:gosec // two's complement, as protobuf's int64
}

// Sample appends a TimeSeries of one sample: l's labels with name and,
// for a classic bucket, le (nil otherwise).
func (b *Batch) Sample(l *Labels, name Name, le LE, v float64, ts int64) {
	ss := sampleSize(ts)
	n := len(l.b) + len(name) + len(le) + 1 + protowire.SizeBytes(ss)
	buf := protowire.AppendTag(b.buf, fWriteRequestTimeseries, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(n)) //nolint:gosec // a length
	buf = b.appendLabels(buf, l, name, le)
	buf = protowire.AppendTag(buf, fSeriesSamples, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(ss)) //nolint:gosec // a length
	buf = protowire.AppendTag(buf, fSampleValue, protowire.Fixed64Type)
	buf = protowire.AppendFixed64(buf, math.Float64bits(v))
	buf = protowire.AppendTag(buf, fSampleTimestamp, protowire.VarintType)
	b.buf = protowire.AppendVarint(buf, uint64(ts)) //nolint:gosec // as sampleSize
	b.samples++
	b.totalS++
}

func (b *Batch) appendLabels(buf []byte, l *Labels, name Name, le LE) []byte {
	buf = append(buf, l.b[:l.nameAt]...)
	buf = append(buf, name...)
	buf = append(buf, l.b[l.nameAt:l.leAt]...)
	buf = append(buf, le...)
	return append(buf, l.b[l.leAt:]...)
}

// Span is a run of consecutive native buckets: its offset from the end of
// the previous run (the first run's from bucket 0) and its length.
type Span struct {
	Offset int32
	Length uint32
}

// Histogram is a native histogram of non-negative values, with integer
// counts. Deltas are the bucket counts of the spans' buckets, in order,
// each as the difference to the one before (the first to 0), encoded as
// the packed field holds them (AppendDelta): the caller encodes them as it
// walks its buckets, in one pass.
type Histogram struct {
	Count         uint64
	Sum           float64
	Schema        int32
	ZeroThreshold float64
	ZeroCount     uint64
	Spans         []Span
	Deltas        []byte
}

// AppendDelta appends one bucket's count delta to a Histogram's Deltas.
func AppendDelta(deltas []byte, d int64) []byte {
	return protowire.AppendVarint(deltas, protowire.EncodeZigZag(d))
}

// AppendHistogramMessage appends h as a Histogram message (without its
// field tag and length) with timestamp ts.
func AppendHistogramMessage(m []byte, h *Histogram, ts int64) []byte {
	m = protowire.AppendTag(m, fHistCountInt, protowire.VarintType)
	m = protowire.AppendVarint(m, h.Count)
	m = protowire.AppendTag(m, fHistSum, protowire.Fixed64Type)
	m = protowire.AppendFixed64(m, math.Float64bits(h.Sum))
	m = protowire.AppendTag(m, fHistSchema, protowire.VarintType)
	m = protowire.AppendVarint(m, protowire.EncodeZigZag(int64(h.Schema)))
	m = protowire.AppendTag(m, fHistZeroThreshold, protowire.Fixed64Type)
	m = protowire.AppendFixed64(m, math.Float64bits(h.ZeroThreshold))
	m = protowire.AppendTag(m, fHistZeroCountInt, protowire.VarintType)
	m = protowire.AppendVarint(m, h.ZeroCount)
	for _, s := range h.Spans {
		zz := protowire.EncodeZigZag(int64(s.Offset))
		m = protowire.AppendTag(m, fHistPositiveSpans, protowire.BytesType)
		m = protowire.AppendVarint(m, uint64(2+protowire.SizeVarint(zz)+protowire.SizeVarint(uint64(s.Length))))
		m = protowire.AppendTag(m, fSpanOffset, protowire.VarintType)
		m = protowire.AppendVarint(m, zz)
		m = protowire.AppendTag(m, fSpanLength, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(s.Length))
	}
	if len(h.Deltas) > 0 {
		m = protowire.AppendTag(m, fHistPositiveDelta, protowire.BytesType)
		m = protowire.AppendBytes(m, h.Deltas)
	}
	m = protowire.AppendTag(m, fHistTimestamp, protowire.VarintType)
	return protowire.AppendVarint(m, uint64(ts)) //nolint:gosec // as sampleSize
}

// Histogram appends a TimeSeries of one native histogram: l's labels with
// name, and msg, a Histogram message (AppendHistogramMessage).
func (b *Batch) Histogram(l *Labels, name Name, msg []byte) {
	n := len(l.b) + len(name) + 1 + protowire.SizeBytes(len(msg))
	buf := protowire.AppendTag(b.buf, fWriteRequestTimeseries, protowire.BytesType)
	buf = protowire.AppendVarint(buf, uint64(n)) //nolint:gosec // a length
	buf = b.appendLabels(buf, l, name, nil)
	buf = protowire.AppendTag(buf, fSeriesHistograms, protowire.BytesType)
	b.buf = protowire.AppendBytes(buf, msg)
	b.hists++
	b.totalH++
}

// Bytes returns the encoded labels (for tests and sizes; not to be
// modified).
func (l *Labels) Bytes() []byte { return l.b }
