package spans

import (
	"strconv"
	"strings"
)

// The span metrics' exposition is bounded by their two budgets
// (docs/operations.md states the figures): every series writes at most
// LinesPerSeries lines, each line its service_name and span_name (counted
// in the label-set bytes, MaxLabelBytes) and at most FixedLineBytes other
// bytes, so S series (MaxSeries, plus at most MaxOverflowSeries overflow
// series) whose label-set bytes are B write at most
//
//	LinesPerSeries × (B + S × FixedLineBytes) + HeaderBytes
//
// bytes (ExpositionBound), in the text format and in OpenMetrics.

// MaxOverflowSeries is the most overflow series: one per kind and status.
const MaxOverflowSeries = 4

// maxFloatLen is the longest float either format writes: strconv's
// shortest 'g' form, "-2.2250738585072014e-308".
const maxFloatLen = 24

// LinesPerSeries is the most exposition lines one series writes: its calls
// counter and its histogram (buckets, +Inf, _sum, _count).
func (cfg MetricsConfig) LinesPerSeries() int {
	return 1 + len(cfg.withDefaults().Buckets) + 3
}

// FixedLineBytes is the most bytes a line writes besides its series'
// service_name and span_name: the metric name and suffix, the label names
// and quoting, span_kind and status_code, an le label, an overflow series'
// service_name and span_name (which no budget counts), the value and the
// newline.
func (cfg MetricsConfig) FixedLineBytes() int {
	n := max(len(spmCallsName), len(spmDurationName)+len("_bucket"))
	n += len("{}") + len(spmLabels) - 1
	for _, l := range spmLabels {
		n += len(l) + len(`=""`)
	}
	n += max(len(KindClient), len(KindServer)) + max(len(StatusError), len(StatusUnset))
	le := len("+Inf")
	for _, b := range cfg.withDefaults().Buckets {
		f := strconv.FormatFloat(b, 'g', -1, 64)
		if !strings.ContainsAny(f, "e.") {
			f += ".0" // OpenMetrics
		}
		le = max(le, len(f))
	}
	n += len(`,le=""`) + le
	n += 2 * len(OverflowLabel)
	return n + len(" ") + maxFloatLen + len("\n")
}

// HeaderBytes is the bytes of the # HELP and # TYPE lines of the two
// metrics.
func HeaderBytes() int {
	return len("# HELP ")*2 + len(spmCallsName) + len(spmCallsHelp) + len(spmDurationName) + len(spmDurationHelp) + 2*len(" \n") +
		len("# TYPE ")*2 + len(spmCallsName) + len(" counter\n") + len(spmDurationName) + len(" histogram\n")
}

// ExpositionBound is the most bytes traces_span_metrics_* write for series
// series, overflow series included, whose label-set bytes are labelBytes.
func (cfg MetricsConfig) ExpositionBound(series int, labelBytes int64) int64 {
	return int64(cfg.LinesPerSeries())*(labelBytes+int64(series)*int64(cfg.FixedLineBytes())) + int64(HeaderBytes())
}

// MaxExpositionBytes is ExpositionBound with the budgets spent: MaxSeries
// series and MaxOverflowSeries overflow series, MaxLabelBytes of labels. It
// bounds what traces_span_metrics_* write whatever the records.
func (cfg MetricsConfig) MaxExpositionBytes() int64 {
	c := cfg.withDefaults()
	return c.ExpositionBound(c.MaxSeries+MaxOverflowSeries, c.MaxLabelBytes)
}

// escapedLen is the length of s as the exposition writes a label value:
// backslash, double quote and newline escaped.
func escapedLen[S string | []byte](s S) int64 {
	n := int64(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			n++
		}
	}
	return n
}
