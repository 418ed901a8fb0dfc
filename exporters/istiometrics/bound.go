package istiometrics

import (
	"math"

	"github.com/meshlens/meshlens/accesslog"
)

// The exposition of a family is bounded by its budgets (docs/operations.md
// states the figures): every series writes at most LinesPerLabelSet lines,
// each line its label values (counted in the family's label-set bytes,
// MaxLabelBytes) and at most FixedLineBytes other bytes, so a family
// holding S series (MaxSeries, plus at most MaxOverflowSeries overflow
// series) whose label-set bytes are B writes at most
//
//	LinesPerLabelSet × (B + S × FixedLineBytes) + HeaderBytes
//
// bytes (ExpositionBound), in either format. Overrides only lower it: a
// disabled metric writes no lines, a removed label neither its bytes (not
// counted in B) nor its name.

// LinesPerLabelSet is the most exposition lines one series of the family
// (tcp or HTTP) writes: the HTTP family's counter, three histograms
// (buckets, +Inf, sum, count) and two gRPC message counters; the TCP
// family's four counters.
func (c *Config) LinesPerLabelSet(tcp bool) int {
	if tcp {
		return 4
	}
	return 1 + (len(c.DurationBuckets) + 3) + (len(c.requestSizeBuckets()) + 3) + (len(c.responseSizeBuckets()) + 3) + 2
}

// FixedLineBytes is the most bytes one line of the family writes besides
// its series' budgeted label values: the metric name and suffix, the label
// names and quoting, the values of the labels of bounded length (reporter,
// protocol, codes, flags, security; and the identities of an overflow
// series, which no budget counts), an le label, the value, an OpenMetrics
// exemplar and the newline.
func (c *Config) FixedLineBytes(tcp bool) int {
	names, metrics := HTTPLabels, []string{RequestsTotal, RequestDuration, RequestBytes, ResponseBytes, RequestMessages, ResponseMessages}
	if tcp {
		names, metrics = TCPLabels, []string{TCPConnectionsOpened, TCPConnectionsClosed, TCPSentBytes, TCPReceivedBytes}
	}
	n := 0
	for _, m := range metrics {
		n = max(n, len(m))
	}
	if !tcp {
		n += len("_bucket")
		le := 0
		for _, b := range [][][]byte{leLabels(c.DurationBuckets), leLabels(c.requestSizeBuckets()), leLabels(c.responseSizeBuckets())} {
			for _, l := range b {
				le = max(le, len(l))
			}
		}
		n += le
	}
	// {name="value",...} and the space before the value.
	n += 1 + len(names) - 1 + 2
	for _, l := range names {
		n += len(l) + len(`=""`)
	}
	// The label values of bounded length.
	n += maxLen(4, func(i int) string { return accesslog.Reporter(i).String() })
	n += maxLen(4, func(i int) string { return accesslog.Protocol(i).String() })
	n += maxLen(3, func(i int) string { return accesslog.SecurityPolicy(i).String() })
	n += max(len(accesslog.ResponseFlags(math.MaxUint32).String()), len(overflow))
	if !tcp {
		worst := accesslog.Record{ResponseCode: math.MaxUint32, GRPCStatus: math.MaxInt32}
		n += len(worst.ResponseCodeLabel()) + len(worst.GRPCStatusLabel())
	}
	// An overflow series' identities: "overflow" in each budgeted label.
	n += overflowIdentities * len(overflow)
	// The value, an exemplar (`# {trace_id="…",span_id="…"} value ts`) and
	// the newline.
	const float = len("-2.2250738585072014e-308")
	n += float
	if !tcp {
		n += len(` # {trace_id="`) + 32 + len(`",span_id="`) + 16 + len(`"} `) + float + len(" ") + len("-9223372036854775.808")
	}
	return n + 1
}

// overflowIdentities is the number of budgeted label values of a label
// set (labelBytes counts them): eight of each workload, three of the
// service.
const overflowIdentities = 8 + 8 + 3

func maxLen(n int, s func(int) string) int {
	m := 0
	for i := range n {
		m = max(m, len(s(i)))
	}
	return m
}

// HeaderBytes is the bytes of the family's # HELP and # TYPE lines.
func (c *Config) HeaderBytes(tcp bool) int {
	metrics := []string{RequestsTotal, RequestDuration, RequestBytes, ResponseBytes, RequestMessages, ResponseMessages}
	if tcp {
		metrics = []string{TCPConnectionsOpened, TCPConnectionsClosed, TCPSentBytes, TCPReceivedBytes}
	}
	n := 0
	for _, m := range metrics {
		n += len("# HELP ") + len(m) + 1 + len(help[m]) + len("\n# TYPE ") + len(m) + 1 + len("histogram") + 1
	}
	return n
}

// ExpositionBound is the most bytes WriteText writes for a family (tcp or
// HTTP) that holds series series, overflow series included, whose
// label-set bytes are labelBytes.
func (c *Config) ExpositionBound(tcp bool, series int, labelBytes int64) int64 {
	return int64(c.LinesPerLabelSet(tcp))*(labelBytes+int64(series)*int64(c.FixedLineBytes(tcp))) + int64(c.HeaderBytes(tcp))
}

// MaxExpositionBytes is ExpositionBound with the family's budgets spent:
// MaxSeries series and MaxOverflowSeries overflow series, MaxLabelBytes of
// label values. It bounds what WriteText writes for the family whatever
// the senders send.
func (c *Config) MaxExpositionBytes(tcp bool) int64 {
	return c.ExpositionBound(tcp, c.MaxSeries+MaxOverflowSeries, c.MaxLabelBytes)
}

// NativeBytesPerHistogram is the most bytes the native part of one
// histogram takes in the protobuf exposition: schema, zero threshold and
// zero count (≤ 25 bytes), a span (≤ 14 bytes) and a delta (≤ 10 bytes) per
// bucket of at most MaxBuckets, the deltas' tag and length (≤ 6 bytes), and
// the histogram's length prefix growing by up to 4 bytes. 0 when native
// histograms are off.
func (c *Config) NativeBytesPerHistogram() int {
	if !c.NativeHistograms.Enabled {
		return 0
	}
	return 25 + c.NativeHistograms.MaxBuckets*(14+10) + 6 + 4
}

// ProtobufExpositionBound is the most bytes WriteProtobuf writes for a
// family (tcp or HTTP) of series series whose label-set bytes are
// labelBytes: no more than WriteText for the same series (a series' labels
// come once a metric rather than once a line, a line's value and bucket
// bound in fewer bytes than their text), plus the native histograms, plus
// the name, help and type a MetricFamily message repeats for each chunk.
func (c *Config) ProtobufExpositionBound(tcp bool, series int, labelBytes int64) int64 {
	b := c.ExpositionBound(tcp, series, labelBytes)
	if !tcp {
		b += int64(series) * 3 * int64(c.NativeBytesPerHistogram())
	}
	return b + (b/ChunkBytes+10)*int64(c.HeaderBytes(tcp)+16)
}
