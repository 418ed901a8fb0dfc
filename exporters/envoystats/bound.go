package envoystats

// The envoy_* exposition is bounded by the store's two budgets
// (docs/operations.md states the figures). Each series writes at most
// MaxLinesPerSeries lines; each line its identity (metric name and labels,
// as Config.MaxLabelBytes counts them) and at most FixedLineBytes other
// bytes; each metric name its # HELP and # TYPE lines, which MaxLabelBytes
// counts too. A store holding S series whose label-set bytes are B thus
// writes at most
//
//	MaxLinesPerSeries × (B + S × FixedLineBytes)
//
// bytes (ExpositionBound), in the text format and in OpenMetrics.
//
// The label-set bytes are kept exact as series come and go: a series is
// charged its own bytes (metric name, tag values: series.bytes), its node's
// (node label names and values: nodeState.bytes) and its family's (the
// label names every line of the family writes, a series without the label
// exporting it as "": family.labelBytes); a new label name on a family is
// charged to each of its series, a change of a node's identity to each of
// the node's series, and everything is given back when a series or a
// metric name goes.

const (
	// MaxLinesPerSeries is the most exposition lines one series writes: a
	// histogram of MaxHistogramBuckets buckets, +Inf, _sum and _count (a
	// summary writes at most 64 quantiles, _sum and _count; a counter or a
	// gauge one line).
	MaxLinesPerSeries = MaxHistogramBuckets + 3
	// FixedLineBytes is the most bytes a line writes besides its series'
	// identity: a suffix (_bucket, _count, _sum; _total in OpenMetrics), a
	// le or quantile label, the value and the newline.
	FixedLineBytes = len("_bucket") + len(`,quantile=""`) + maxFloatLen + len(" ") + maxFloatLen + len("\n")
	// maxFloatLen is the longest float (le, quantile or value) either format
	// writes: strconv's shortest 'g' form, "-2.2250738585072014e-308".
	maxFloatLen = 24
)

// ExpositionBound is the most bytes the envoy_* series of a store holding
// series series of labelBytes label-set bytes (Stats.Series,
// Stats.LabelBytes) write, # HELP and # TYPE lines included.
func ExpositionBound(series int, labelBytes int64) int64 {
	return MaxLinesPerSeries * (labelBytes + int64(series)*int64(FixedLineBytes))
}

// MaxExpositionBytes is ExpositionBound with the budgets spent: MaxSeries
// series and MaxLabelBytes label-set bytes. It bounds what the envoy_*
// series write whatever the proxies send.
func (c Config) MaxExpositionBytes() int64 {
	c = c.withDefaults()
	return ExpositionBound(c.MaxSeries, c.MaxLabelBytes)
}

// escapedLen is the length of s as the exposition formats write a label
// value (and, at most, a help text): backslash, double quote and newline
// escaped.
func escapedLen(s string) int64 {
	n := int64(len(s))
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c == '"' || c == '\n' {
			n++
		}
	}
	return n
}

// labelBytes is the bytes one label takes on a line: its name, `="`, its
// escaped value, `"` and the comma before or after it.
func labelBytes(name, value string) int64 {
	return int64(len(name)) + int64(len(`="",`)) + escapedLen(value)
}

// nodeLabelBytes is the bytes the node labels of id take on each line of
// its series.
func nodeLabelBytes(id *NodeIdentity) int64 {
	return labelBytes(LabelNodeID, id.ID) + labelBytes(LabelNodeCluster, id.Cluster) + labelBytes(LabelNamespace, id.Namespace) +
		labelBytes(LabelWorkload, id.Workload) + labelBytes(LabelPod, id.Pod)
}

// ownBytes is the bytes a series of name with tags takes on each of its
// lines besides its node's and its family's labels: the name, the braces
// (less the comma counted for one label) and its tag values.
func ownBytes(name string, tags []tagValue) int64 {
	n := int64(len(name)) + int64(len("{}")) - 1
	for _, t := range tags {
		n += escapedLen(t.value)
	}
	return n
}

// headerBytes is the bytes of the # HELP and # TYPE lines of a metric name
// (OpenMetrics writes no more: it drops a counter's _total there).
func headerBytes(name, help string, k kind) int64 {
	return int64(len("# HELP ")+len(name)+len(" ")) + escapedLen(help) + int64(len("\n# TYPE ")+len(name)+len(" ")+len(kindNames[k])+len("\n"))
}

var kindNames = [numKinds]string{kindCounter: "counter", kindGauge: "gauge", kindSummary: "summary", kindHistogram: "histogram"}

// charge is the label-set bytes ser holds now.
func (ser *series) charge() int64 {
	return ser.bytes + ser.node.bytes + ser.fam.labelBytes
}
