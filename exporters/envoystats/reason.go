package envoystats

// Reason says why a sample was not stored. Observe counts each rejected
// sample (one dto.Metric) under exactly one reason; [Store.Stats] returns the
// totals keyed by [Reason.String].
type Reason uint8

// Rejection reasons.
const (
	// ReasonNoNode: Observe was called with an empty NodeIdentity.ID.
	ReasonNoNode Reason = iota
	// ReasonInvalidName: empty, non-UTF-8 or over-long (MaxStatNameLength)
	// stat name, or unusable labels (empty, non-UTF-8, duplicated after
	// sanitizing, a value over MaxLabelValueLength, more than 32 or
	// MaxSampleLabelBytes on a sample, more than 64 or
	// MaxFamilyLabelNameBytes of names on a metric name).
	ReasonInvalidName
	// ReasonIstioCustom: an Istio standard metric (istiocustom.*, or the
	// Wasm-era "reporter=…" encoding); meshlens computes istio_* itself.
	ReasonIstioCustom
	// ReasonUnsupportedType: GAUGE_HISTOGRAM or an unknown metric type.
	ReasonUnsupportedType
	// ReasonNaN: a NaN counter, gauge or sample sum.
	ReasonNaN
	// ReasonInvalidValue: missing value for the family's type, a negative or
	// infinite counter, NaN quantile, unordered histogram buckets, more than
	// 64 quantiles.
	ReasonInvalidValue
	// ReasonTypeConflict: the Prometheus name already exists with another type.
	ReasonTypeConflict
	// ReasonSummaryShadowed: a SUMMARY for a name that is exposed as a
	// histogram (Envoy's default histogram_emit_mode sends both).
	ReasonSummaryShadowed
	// ReasonNameCollision: the series would make the exposition invalid
	// (e.g. a counter "x_count" next to a summary "x").
	ReasonNameCollision
	// ReasonDuplicateSeries: another stat of the same node already gives
	// exactly this Prometheus name and label set.
	ReasonDuplicateSeries
	// ReasonSeriesLimit: the store holds Config.MaxSeries series.
	ReasonSeriesLimit
	// ReasonTooManyBuckets: a histogram sample with more than
	// MaxHistogramBuckets buckets.
	ReasonTooManyBuckets
	// ReasonLabelBytesLimit: the series would take the store's label-set
	// bytes over Config.MaxLabelBytes.
	ReasonLabelBytesLimit

	numReasons
)

// reasonNone is what internal checks return when there is nothing to reject.
const reasonNone Reason = 255

var reasonNames = [numReasons]string{
	ReasonNoNode:          "no_node_id",
	ReasonInvalidName:     "invalid_name",
	ReasonIstioCustom:     "istiocustom_skipped",
	ReasonUnsupportedType: "unsupported_type",
	ReasonNaN:             "nan",
	ReasonInvalidValue:    "invalid_value",
	ReasonTypeConflict:    "type_conflict",
	ReasonSummaryShadowed: "summary_shadowed",
	ReasonNameCollision:   "name_collision",
	ReasonDuplicateSeries: "duplicate_series",
	ReasonSeriesLimit:     "series_limit",
	ReasonTooManyBuckets:  "too_many_buckets",
	ReasonLabelBytesLimit: "label_bytes_limit",
}

// String returns the reason's label value, e.g. "series_limit".
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Reasons lists every reason, so a caller can pre-create its counters.
func Reasons() []Reason {
	rs := make([]Reason, numReasons)
	for i := range rs {
		rs[i] = Reason(i)
	}
	return rs
}
