package loadgen

import (
	"math"
	"time"
)

type traceCtx struct {
	traced, sampled                     bool
	traceID, parent, clientSpan, server string
}

func (g *generator) trace(e *cedge) traceCtx {
	var t traceCtx
	if e.Trace == TraceNone {
		return t
	}
	if p := g.parent; p != nil {
		// A call made while serving a traced request continues its trace:
		// its client span's parent is the server span of that request.
		if !p.traced {
			return t
		}
		return traceCtx{
			traced: true, sampled: p.sampled, traceID: p.traceID,
			parent: p.server, clientSpan: g.hexID(8), server: g.hexID(8),
		}
	}
	if g.cfg.UntracedShare > 0 && g.rng.Float64() < g.cfg.UntracedShare {
		return t
	}
	t.traced = true
	t.sampled = g.cfg.UnsampledShare <= 0 || g.rng.Float64() >= g.cfg.UnsampledShare
	t.traceID = g.hexID(16)
	t.parent = g.hexID(8)
	t.clientSpan = g.hexID(8)
	t.server = g.hexID(8)
	return t
}

// traceHeaders adds the logged trace headers (additional_request_headers_to_log)
// carrying span as the current span and parent as its parent to h and returns
// their size on the wire.
func traceHeaders(h map[string]string, style TraceStyle, t *traceCtx, span, parent string) int {
	if !t.traced {
		return 0
	}
	n := 0
	if style == TraceW3C || style == TraceW3CAndB3 {
		flags := "00"
		if t.sampled {
			flags = "01"
		}
		v := "00-" + t.traceID + "-" + span + "-" + flags
		h["traceparent"] = v
		n += len("traceparent") + len(v) + 4
	}
	if style == TraceB3 || style == TraceW3CAndB3 {
		s := "0"
		if t.sampled {
			s = "1"
		}
		h["x-b3-traceid"] = t.traceID
		h["x-b3-spanid"] = span
		h["x-b3-parentspanid"] = parent
		h["x-b3-sampled"] = s
		n += 12 + 32 + 11 + 16 + 17 + 16 + 12 + 1 + 16
	}
	return n
}

// served is what a call that reached its callee's proxy leaves for the
// calls the callee makes while serving it: the trace they continue, the
// callee's proxy (theirs as clients) and when it worked on the request.
type served struct {
	tc    traceCtx
	sp    *proxy
	start time.Time
	d     time.Duration
}

// callTree says which calls make up one request of the mesh end to end:
// a request enters on a root edge (from a workload nothing calls, such as
// an ingress gateway), and a workload serving a request makes each of its
// edges' calls n times on average, n being the edge's weight over the
// weight of the calls the workload serves. So the calls of whole requests
// keep the edges' relative rates of Generate's independent calls on a mesh
// whose weights are consistent (Bookinfo's are), and every hop of a request
// is in one trace.
type callTree struct {
	roots    []*cedge
	rootCum  []float64
	children map[*cworkload][]childCalls
}

type childCalls struct {
	e *cedge
	n float64 // calls per request served
}

// maxHops bounds a request's depth, for meshes whose edges form a cycle.
const maxHops = 8

func (c *compiled) callTree() *callTree {
	inbound := map[*cworkload]float64{}
	for _, e := range c.edges {
		if len(e.to.workloads) == 0 {
			continue
		}
		total := e.to.cumWeights[len(e.to.cumWeights)-1]
		prev := 0.0
		for i, w := range e.to.workloads {
			inbound[w] += e.Weight * (e.to.cumWeights[i] - prev) / total
			prev = e.to.cumWeights[i]
		}
	}
	t := &callTree{children: map[*cworkload][]childCalls{}}
	for _, e := range c.edges {
		in := inbound[e.from]
		if in == 0 {
			t.roots = append(t.roots, e)
			prev := 0.0
			if n := len(t.rootCum); n > 0 {
				prev = t.rootCum[n-1]
			}
			t.rootCum = append(t.rootCum, prev+e.Weight)
			continue
		}
		t.children[e.from] = append(t.children[e.from], childCalls{e: e, n: e.Weight / in})
	}
	return t
}

// request simulates one request of the mesh end to end, starting at start:
// a call on a root edge, then the calls of every workload that serves a
// call of it, in one trace. It returns the number of calls made.
func (g *generator) request(t *callTree, start time.Time) int {
	e := t.roots[pickCum(g.rng, t.rootCum)]
	return g.hop(t, e, e.from.proxies[g.rng.IntN(len(e.from.proxies))], start, nil, 1)
}

// hop makes one call of a request, continuing parent's trace, then the
// calls its callee makes while serving it, spread over its serving time.
func (g *generator) hop(t *callTree, e *cedge, cp *proxy, start time.Time, parent *traceCtx, depth int) int {
	g.parent, g.served = parent, served{}
	g.callFrom(e, cp, start)
	g.parent = nil
	s := g.served
	calls := 1
	if s.sp == nil || depth >= maxHops {
		return calls
	}
	for _, k := range t.children[s.sp.wl] {
		n := int(k.n)
		if frac := k.n - math.Floor(k.n); g.rng.Float64() < frac {
			n++
		}
		for range n {
			at := s.start.Add(time.Duration(g.rng.Float64() * float64(s.d) / 2))
			calls += g.hop(t, k.e, s.sp, at, &s.tc, depth+1)
		}
	}
	return calls
}
