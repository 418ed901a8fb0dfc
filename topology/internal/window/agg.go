package window

import (
	"cmp"
	"slices"

	"github.com/meshlens/meshlens/topology/internal/hist"
)

// KindCount is the traffic of one response kind towards one destination
// service host.
type KindCount struct {
	Kind  Kind
	Host  string
	Count float64
}

// Agg is a view summed over a span of slots, possibly over several edges and
// scaled: every value is a float.
type Agg struct {
	Requests     float64
	MTLS         float64
	Opened       float64
	Closed       float64
	MsgsIn       float64
	MsgsOut      float64
	DurSumMicros float64
	// MinMicros and MaxMicros bound the durations (valid when HasRange).
	MinMicros, MaxMicros float64
	HasRange             bool
	BytesIn              float64
	BytesOut             float64
	Hist                 [hist.N]float64
	// Ext is a duration histogram with other bounds (the Istio buckets of
	// metrics read back from Prometheus). When set it replaces Hist:
	// quantiles are then Prometheus's histogram_quantile over it.
	Ext   *ExtHist
	Kinds []KindCount
}

// ExtHist is a histogram with explicit bounds: Counts[i] samples in
// (Bounds[i-1], Bounds[i]] (from 0 for i = 0) and Counts[len(Bounds)]
// above the last bound.
type ExtHist struct {
	Bounds []float64 // finite upper bounds in milliseconds, ascending
	Counts []float64
}

func (a *Agg) addRange(lo, hi float64) {
	if !a.HasRange {
		a.MinMicros, a.MaxMicros, a.HasRange = lo, hi, true
		return
	}
	a.MinMicros = min(a.MinMicros, lo)
	a.MaxMicros = max(a.MaxMicros, hi)
}

// Quantile returns the q-quantile of the durations in milliseconds: the
// histogram's, kept within the shortest and longest duration seen.
func (a *Agg) Quantile(q float64) (float64, bool) {
	if a.Ext != nil {
		return a.Ext.quantile(q)
	}
	v, ok := hist.Quantile(&a.Hist, q)
	if !ok {
		return 0, false
	}
	if a.HasRange {
		v = min(max(v, a.MinMicros/1000), a.MaxMicros/1000)
	}
	return v, true
}

// AddKind adds c responses of kind k towards the destination service host.
func (a *Agg) AddKind(k Kind, host string, c float64) { a.addKind(k, host, c) }

func (a *Agg) addKind(k Kind, host string, c float64) {
	for i := range a.Kinds {
		if a.Kinds[i].Kind == k && a.Kinds[i].Host == host {
			a.Kinds[i].Count += c
			return
		}
	}
	a.Kinds = append(a.Kinds, KindCount{Kind: k, Host: host, Count: c})
}

// Active reports whether the aggregate saw any traffic.
func (a *Agg) Active() bool {
	return a.Requests > 0 || a.BytesIn > 0 || a.BytesOut > 0 || a.Opened > 0 || a.Closed > 0 ||
		a.MsgsIn > 0 || a.MsgsOut > 0 || len(a.Kinds) > 0
}

// Add adds f × o to a.
func (a *Agg) Add(o *Agg, f float64) {
	if o == nil || f == 0 {
		return
	}
	a.Requests += f * o.Requests
	a.MTLS += f * o.MTLS
	a.Opened += f * o.Opened
	a.Closed += f * o.Closed
	a.MsgsIn += f * o.MsgsIn
	a.MsgsOut += f * o.MsgsOut
	a.DurSumMicros += f * o.DurSumMicros
	if o.HasRange {
		a.addRange(o.MinMicros, o.MaxMicros)
	}
	a.BytesIn += f * o.BytesIn
	a.BytesOut += f * o.BytesOut
	for i, c := range o.Hist {
		a.Hist[i] += f * c
	}
	if o.Ext != nil {
		a.addExt(o.Ext, f)
	}
	for _, k := range o.Kinds {
		a.addKind(k.Kind, k.Host, f*k.Count)
	}
}

// Samples is the number of latency samples.
func (a *Agg) Samples() float64 {
	var n float64
	if a.Ext != nil {
		for _, c := range a.Ext.Counts {
			n += c
		}
		return n
	}
	for _, c := range a.Hist {
		n += c
	}
	return n
}

// AddCumulative adds a Prometheus histogram to the external histogram:
// bounds are the finite `le` bounds (ascending, milliseconds), cum the
// cumulative counts of each followed by the +Inf count. Decreasing counts
// (extrapolation noise) count as zero.
func (a *Agg) AddCumulative(bounds, cum []float64) {
	if len(bounds) == 0 || len(cum) != len(bounds)+1 {
		return
	}
	e := &ExtHist{Bounds: bounds, Counts: make([]float64, len(cum))}
	prev := 0.0
	for i, c := range cum {
		e.Counts[i] = max(0, c-prev)
		prev = max(prev, c)
	}
	a.addExt(e, 1)
}

// addExt adds f × o to the external histogram; histograms with other
// bounds are re-bucketed onto the union of the bounds, as if samples were
// uniform within each bucket.
func (a *Agg) addExt(o *ExtHist, f float64) {
	if a.Ext == nil {
		a.Ext = &ExtHist{Bounds: slices.Clone(o.Bounds), Counts: make([]float64, len(o.Counts))}
	} else if !slices.Equal(a.Ext.Bounds, o.Bounds) {
		union := slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(a.Ext.Bounds), o.Bounds...))))
		a.Ext = &ExtHist{Bounds: union, Counts: a.Ext.rebucket(union)}
		o = &ExtHist{Bounds: union, Counts: o.rebucket(union)}
	}
	for i, c := range o.Counts {
		a.Ext.Counts[i] += f * c
	}
}

// cumulativeAt is the number of samples at or below v, interpolated
// linearly within a bucket.
func (e *ExtHist) cumulativeAt(v float64) float64 {
	cum, lo := 0.0, 0.0
	for i, b := range e.Bounds {
		c := e.Counts[i]
		if v <= b {
			if b > lo && v > lo {
				return cum + c*(v-lo)/(b-lo)
			}
			return cum
		}
		cum += c
		lo = b
	}
	return cum
}

// rebucket returns the counts of e over other bounds (a superset).
func (e *ExtHist) rebucket(bounds []float64) []float64 {
	out := make([]float64, len(bounds)+1)
	prev, total := 0.0, 0.0
	for _, c := range e.Counts {
		total += c
	}
	for i, b := range bounds {
		c := e.cumulativeAt(b)
		out[i] = c - prev
		prev = c
	}
	out[len(bounds)] = total - prev
	return out
}

// quantile is Prometheus's histogram_quantile: linear interpolation within
// the bucket holding the rank; the last finite bound when it falls in the
// +Inf bucket.
func (e *ExtHist) quantile(q float64) (float64, bool) {
	var total float64
	for _, c := range e.Counts {
		total += c
	}
	if total <= 0 || len(e.Bounds) == 0 {
		return 0, false
	}
	rank := q * total
	cum, lo := 0.0, 0.0
	for i, c := range e.Counts {
		if i == len(e.Bounds) {
			break
		}
		if c > 0 && cum+c >= rank {
			return lo + (e.Bounds[i]-lo)*(rank-cum)/c, true
		}
		cum += c
		lo = e.Bounds[i]
	}
	return e.Bounds[len(e.Bounds)-1], true
}

// Errors returns the errors (accesslog.Record.IsError) and, of those, the
// errors the proxy generated.
func (a *Agg) Errors() (errs, proxy float64) {
	for _, k := range a.Kinds {
		if k.Kind.Err {
			errs += k.Count
			if k.Kind.ProxyError() {
				proxy += k.Count
			}
		}
	}
	return errs, proxy
}

// KindTotal is the sum of the kind counts (the requests, or TCP entries).
func (a *Agg) KindTotal() float64 {
	var n float64
	for _, k := range a.Kinds {
		n += k.Count
	}
	return n
}

// ByClass returns the kind counts per class.
func (a *Agg) ByClass() (c [ClassGRPCErr + 1]float64) {
	for _, k := range a.Kinds {
		c[k.Kind.Code.Class()] += k.Count
	}
	return c
}

// SortKinds orders the kinds by code, flags and host.
func (a *Agg) SortKinds() {
	slices.SortFunc(a.Kinds, func(x, y KindCount) int {
		return cmp.Or(
			cmp.Compare(x.Kind.Code.String(), y.Kind.Code.String()),
			cmp.Compare(x.Kind.Flags.String(), y.Kind.Flags.String()),
			cmp.Compare(x.Host, y.Host),
			cmp.Compare(x.Kind.Code, y.Kind.Code),
			boolCmp(x.Kind.Err, y.Kind.Err),
		)
	})
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	default:
		return 1
	}
}

// CountOnce merges the client-side and server-side views of the same hops
// into dst so that each request counts once, with Kiali's rule for the two
// reporters of one series (kiali/kiali graph/telemetry/istio: the
// destination-reported series first, then each source-reported series whose
// response code, flags and host no destination-reported series of the same
// edge has):
//
//   - only one side reported: that side;
//   - both reported: the server side, plus the client's traffic of every
//     response kind (code, flags, host) the server side did not report in
//     the span. These are the requests only the client saw: connection
//     failures, no healthy upstream, circuit breaking, and the client's
//     timeouts of requests the server answered after the client gave up
//     (counted under both kinds, as Kiali counts them). For TCP the kinds
//     are closed connections.
//
// Latency is the client's (what the caller waited, network and proxies
// included) when the client reported durations, else the server's. Bytes,
// messages, opened connections and mTLS are the server's. It returns the
// errors added from the client side alone: the failures only the client
// reported.
func CountOnce(dst, client, server *Agg) (clientOnly float64) {
	switch {
	case !server.Active():
		dst.Add(client, 1)
		return 0
	case !client.Active():
		dst.Add(server, 1)
		return 0
	}
	dst.Add(server, 1)
	var added float64
	for _, k := range client.Kinds {
		if k.Count > 0 && !server.hasKind(k.Kind, k.Host) {
			dst.addKind(k.Kind, k.Host, k.Count)
			added += k.Count
			if k.Kind.Err {
				clientOnly += k.Count
			}
		}
	}
	if server.Requests > 0 || client.Requests > 0 {
		dst.Requests += added
	} else {
		dst.Closed += added
	}
	if client.Samples() > 0 {
		dst.Hist = client.Hist
		dst.Ext = nil
		if client.Ext != nil {
			dst.Ext = &ExtHist{Bounds: slices.Clone(client.Ext.Bounds), Counts: slices.Clone(client.Ext.Counts)}
		}
		dst.DurSumMicros = client.DurSumMicros
		dst.MinMicros, dst.MaxMicros, dst.HasRange = client.MinMicros, client.MaxMicros, client.HasRange
	}
	return clientOnly
}

// hasKind reports whether a counts traffic of kind k towards host.
func (a *Agg) hasKind(k Kind, host string) bool {
	for i := range a.Kinds {
		if a.Kinds[i].Kind == k && a.Kinds[i].Host == host && a.Kinds[i].Count > 0 {
			return true
		}
	}
	return false
}
