package topology

import (
	"fmt"
	"math"
	"time"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/topology/internal/window"
)

func formatWindow(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d%time.Second == 0:
		return fmt.Sprintf("%ds", d/time.Second)
	default:
		return d.String()
	}
}

func latencyOf(a *window.Agg) *Latency {
	n := a.Samples()
	if n <= 0 {
		return nil
	}
	l := &Latency{Samples: n, Avg: roundMicros(a.DurSumMicros / 1000 / n)}
	if n <= 1 { // one request: its duration is known exactly
		l.P50, l.P95, l.P99 = l.Avg, l.Avg, l.Avg
		return l
	}
	for _, q := range []struct {
		dst *float64
		q   float64
	}{{&l.P50, 0.5}, {&l.P95, 0.95}, {&l.P99, 0.99}} {
		v, _ := a.Quantile(q.q)
		*q.dst = roundMicros(v)
	}
	return l
}

// roundMicros rounds milliseconds to microseconds.
func roundMicros(ms float64) float64 { return math.Round(ms*1000) / 1000 }

// mtlsPercent is the share of requests (TCP: report entries) over mutual
// TLS, or nil without traffic.
func mtlsPercent(a *window.Agg, proto accesslog.Protocol) *float64 {
	base := a.Requests
	if proto == accesslog.ProtocolTCP {
		base = a.KindTotal()
	}
	if base <= 0 {
		return nil
	}
	p := min(100, a.MTLS/base*100)
	return &p
}

func side(a *window.Agg, covered float64, proto accesslog.Protocol) *Side {
	if !a.Active() {
		return nil
	}
	errs, proxy := a.Errors()
	return &Side{
		Requests: a.Requests, RequestRate: a.Requests / covered, Errors: errs, ProxyErrors: proxy,
		Latency: latencyOf(a), MTLSPercent: mtlsPercent(a, proto),
	}
}

func edgeStats(name string, covered float64, proto accesslog.Protocol, m, c, s *window.Agg, clientOnly float64) EdgeStats {
	errs, proxy := m.Errors()
	classes := m.ByClass()
	es := EdgeStats{
		Window: name, Requests: m.Requests, RequestRate: m.Requests / covered,
		Errors: errs, ErrorRate: errs / covered, ProxyErrors: proxy, AppErrors: errs - proxy,
		NoResponse: classes[window.ClassNoResponse], Status3xx: classes[window.Class3xx],
		Status4xx: classes[window.Class4xx], Status5xx: classes[window.Class5xx],
		GRPCErrors:  classes[window.ClassGRPCErr],
		Latency:     latencyOf(m),
		BytesInRate: m.BytesIn / covered, BytesOutRate: m.BytesOut / covered,
		MessagesInRate: m.MsgsIn / covered, MessagesOutRate: m.MsgsOut / covered,
		ConnectionsOpened: m.Opened, ConnectionsClosed: m.Closed,
		ClientOnlyFailures: clientOnly,
		Client:             side(c, covered, proto),
		Server:             side(s, covered, proto),
	}
	base := m.Requests
	if proto == accesslog.ProtocolTCP {
		base = m.KindTotal()
	}
	if base > 0 {
		es.ErrorPercent = errs / base * 100
	}
	if s.Active() {
		es.MTLSPercent = mtlsPercent(s, proto)
	} else {
		es.MTLSPercent = mtlsPercent(c, proto)
	}
	m.SortKinds()
	total := m.KindTotal()
	for _, k := range m.Kinds {
		if k.Count <= 0 {
			continue
		}
		es.Responses = append(es.Responses, Response{
			Code: k.Kind.Code.String(), Flags: k.Kind.Flags.String(), Host: k.Host,
			Requests: k.Count, Percent: k.Count / total * 100,
		})
	}
	if es.Client != nil && es.Server != nil && es.Client.Latency != nil && es.Server.Latency != nil {
		cl, sl := es.Client.Latency, es.Server.Latency
		es.LatencyOverhead = &Latency{
			P50: roundMicros(cl.P50 - sl.P50), P95: roundMicros(cl.P95 - sl.P95),
			P99: roundMicros(cl.P99 - sl.P99), Avg: roundMicros(cl.Avg - sl.Avg),
		}
	}
	return es
}
