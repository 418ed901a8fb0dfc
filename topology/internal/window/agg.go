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
	Kinds                []KindCount
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
	v, ok := hist.Quantile(&a.Hist, q)
	if !ok {
		return 0, false
	}
	if a.HasRange {
		v = min(max(v, a.MinMicros/1000), a.MaxMicros/1000)
	}
	return v, true
}

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
	for _, k := range o.Kinds {
		a.addKind(k.Kind, k.Host, f*k.Count)
	}
}

// Samples is the number of latency samples.
func (a *Agg) Samples() float64 {
	var n float64
	for _, c := range a.Hist {
		n += c
	}
	return n
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
// into dst so that each request counts once:
//
//   - only one side reported: that side;
//   - both reported: the server side, plus the client's proxy-generated
//     failures that the server cannot have seen. Those are the client's
//     errors with a proxy failure flag (UF, UH, URX, UO, …), capped at the
//     surplus of client over server requests in the span (client − server),
//     so that a flagged failure the server did see is not counted twice.
//
// Latency is the client's (what the caller waited, network and proxies
// included) when the client reported durations, else the server's. Bytes,
// messages, connections and mTLS are the server's. It returns the number of
// client-only failures added.
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
	_, proxy := client.Errors()
	clientOnly = min(proxy, max(0, client.Requests-server.Requests))
	if clientOnly > 0 {
		f := clientOnly / proxy
		for _, k := range client.Kinds {
			if k.Kind.ProxyError() {
				dst.addKind(k.Kind, k.Host, f*k.Count)
			}
		}
		dst.Requests += clientOnly
	}
	if client.Samples() > 0 {
		dst.Hist = client.Hist
		dst.DurSumMicros = client.DurSumMicros
		dst.MinMicros, dst.MaxMicros, dst.HasRange = client.MinMicros, client.MaxMicros, client.HasRange
	}
	return clientOnly
}
