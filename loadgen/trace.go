package loadgen

type traceCtx struct {
	traced, sampled                     bool
	traceID, parent, clientSpan, server string
}

func (g *generator) trace(e *cedge) traceCtx {
	var t traceCtx
	if e.Trace == TraceNone {
		return t
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
