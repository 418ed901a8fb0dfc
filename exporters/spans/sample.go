package spans

import (
	"encoding/binary"
	"math"

	"github.com/meshlens/meshlens/accesslog"
)

// Decision is the sampling decision for one record.
type Decision uint8

// Decisions. The kept ones say why, and the span carries it as
// meshlens.sampled_by.
const (
	// Ineligible records never become spans: TCP entries, entries that do
	// not end a request, or records without a trace (no trace context and
	// synthetic trace ids off, or no x-request-id either).
	Ineligible Decision = iota
	SampledOut          // eligible, not kept
	KeepRate            // kept by the trace-id ratio
	KeepError           // kept because the request failed
	KeepSlow            // kept because it took at least slow_threshold
	numDecisions
)

var decisionNames = [...]string{"ineligible", "sampled_out", "rate", "error", "slow"}

// String returns the label value used in metrics and attributes.
func (d Decision) String() string {
	if int(d) < len(decisionNames) {
		return decisionNames[d]
	}
	return "invalid"
}

// Kept reports whether the record becomes a span.
func (d Decision) Kept() bool { return d >= KeepRate }

// Decisions lists every decision, for exporting counters with all values.
func Decisions() []Decision {
	out := make([]Decision, numDecisions)
	for i := range out {
		out[i] = Decision(i)
	}
	return out
}

// Sampler decides which records become spans. It reads only the record
// (no pdata is built for a record it drops), allocates nothing and is safe
// for concurrent use.
type Sampler struct {
	synthetic  bool
	keepErrors bool
	slow       int64
	// threshold is the OpenTelemetry rejection threshold: a trace is kept
	// when the low 56 bits of its id are >= threshold (2^56 keeps nothing).
	threshold uint64
}

const randomBits = 56

// NewSampler returns a Sampler for cfg (which must be valid).
func NewSampler(cfg Config) *Sampler {
	return &Sampler{
		synthetic:  cfg.SyntheticTraceIDs,
		keepErrors: cfg.KeepErrors,
		slow:       int64(cfg.SlowThreshold),
		threshold:  Threshold(cfg.SamplingRate),
	}
}

// Threshold returns the rejection threshold for a sampling rate in [0, 1]:
// round((1 - rate) * 2^56), as in OpenTelemetry's consistent probability
// sampling (the `th` of its tracestate), so that a collector's
// probabilistic sampler with the same rate agrees with meshlens.
func Threshold(rate float64) uint64 {
	switch {
	case !(rate > 0): // also NaN
		return 1 << randomBits
	case rate >= 1:
		return 0
	}
	return uint64(math.Round((1 - rate) * (1 << randomBits)))
}

// Randomness returns the low 56 bits of a trace id: the part W3C trace
// context level 2 declares random (flag 0x02) and the part B3's 64-bit ids,
// left-padded to 128 bits, still carry.
func Randomness(traceID *[16]byte) uint64 {
	return binary.BigEndian.Uint64(traceID[8:]) & (1<<randomBits - 1)
}

// Decide returns the decision for r and the trace its span belongs to.
// Errors and slow requests are kept whatever the trace-id draw, so the two
// reports of a hop can differ there (the client may see a timeout the
// server does not); the draw itself is the same for both.
func (s *Sampler) Decide(r *accesslog.Record) (Decision, Trace) {
	if r.Kind != accesslog.KindHTTP || !r.Final || r.Reporter == 0 {
		return Ineligible, Trace{}
	}
	t, ok := TraceOf(r, s.synthetic)
	if !ok {
		return Ineligible, Trace{}
	}
	switch {
	case Randomness(&t.ID) >= s.threshold:
		return KeepRate, t
	case s.keepErrors && r.IsError():
		return KeepError, t
	case s.slow > 0 && r.DurationNanos >= s.slow:
		return KeepSlow, t
	}
	return SampledOut, t
}
