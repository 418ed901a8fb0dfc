package loadgen

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	prom "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// MetricsStream is one Metrics Service stream (one per proxy, as Envoy's
// stats sink opens it): pre-encoded StreamMetricsMessages, one per stats
// flush. Messages[0] starts with the identifier; Messages[0][IdentifierLen:]
// is the same message without it.
type MetricsStream struct {
	NodeID   string
	Messages [][]byte
	// Families[i] is the number of metric families in Messages[i].
	Families      []int
	IdentifierLen int
}

// Decode unmarshals the stream's messages.
func (s *MetricsStream) Decode() ([]*metricsv3.StreamMetricsMessage, error) {
	out := make([]*metricsv3.StreamMetricsMessage, len(s.Messages))
	for i, b := range s.Messages {
		m := &metricsv3.StreamMetricsMessage{}
		if err := proto.Unmarshal(b, m); err != nil {
			return nil, fmt.Errorf("decode metrics message %d of %s: %w", i, s.NodeID, err)
		}
		out[i] = m
	}
	return out, nil
}

// Stat names. Istio's inbound listener is the virtual listener
// 0.0.0.0_15006; HCM stat prefixes are <direction>_0.0.0.0_<port>.
const (
	statServerLive      = "server.live"
	statServerUptime    = "server.uptime"
	statServerMemory    = "server.memory_allocated"
	statActiveClusters  = "cluster_manager.active_clusters"
	statInboundCxTotal  = "listener.0.0.0.0_15006.downstream_cx_total"
	statInboundCxActive = "listener.0.0.0.0_15006.downstream_cx_active"
	// statLogsWritten is Envoy's count of access-log entries its gRPC
	// access loggers took (one per entry the generator logs at a request's
	// or connection's end): what meshlens's completeness is measured
	// against.
	statLogsWritten = "access_logs.grpc_access_log.logs_written"
	// statLogsDropped is its count of entries dropped: 0 here (Envoy sends
	// the counter from its logger's creation on).
	statLogsDropped = "access_logs.grpc_access_log.logs_dropped"
)

type statVal struct {
	gauge bool
	v     float64
}

// proxyStats holds the cumulative Envoy stats of one proxy. Counters only
// grow; gauges are current values.
type proxyStats struct {
	p        *proxy
	started  time.Time
	clusters int
	vals     map[string]*statVal
}

func newProxyStats(p *proxy, started time.Time, clusters int) *proxyStats {
	return &proxyStats{p: p, started: started, clusters: clusters, vals: map[string]*statVal{}}
}

func (s *proxyStats) add(name string, gauge bool, d float64) {
	v, ok := s.vals[name]
	if !ok {
		v = &statVal{gauge: gauge}
		s.vals[name] = v
	}
	v.v += d
}

func codeClass(code uint32) string {
	return strconv.Itoa(int(code/100)) + "xx"
}

// apply records one stat event.
func (s *proxyStats) apply(ev *statEvent) {
	e := ev.edge
	if ev.kind == evReqEnd || ev.kind == evConnClose {
		s.add(statLogsWritten, false, 1) // the entry logged at the end
		s.add(statLogsDropped, false, 0)
	}
	if ev.server {
		hcm := "http.inbound_0.0.0.0_" + strconv.FormatUint(uint64(e.to.targetPort), 10) + "."
		switch ev.kind {
		case evReqStart:
			s.add(statInboundCxActive, true, 1)
			s.add(hcm+"downstream_rq_active", true, 1)
		case evReqEnd:
			s.add(statInboundCxActive, true, -1)
			s.add(hcm+"downstream_rq_active", true, -1)
			s.add(hcm+"downstream_rq_total", false, 1)
			s.add(hcm+"downstream_rq_"+codeClass(ev.code), false, 1)
			s.add(hcm+"downstream_rq_completed", false, 1)
		case evConnOpen:
			s.add(statInboundCxActive, true, 1)
			s.add(statInboundCxTotal, false, 1)
		case evConnClose:
			s.add(statInboundCxActive, true, -1)
		}
		return
	}
	cl := "cluster." + e.to.cluster + "."
	switch ev.kind {
	case evReqStart:
		s.add(cl+"upstream_rq_active", true, 1)
	case evReqEnd:
		s.add(cl+"upstream_rq_active", true, -1)
		if ev.connFail {
			s.add(cl+"upstream_cx_connect_fail", false, ufAttempts)
			s.add(cl+"upstream_rq_retry", false, ufAttempts-1)
			s.add(cl+"upstream_rq_retry_limit_exceeded", false, 1)
			s.add(cl+"upstream_rq_503", false, 1)
			s.add(cl+"upstream_rq_5xx", false, 1)
		} else {
			s.add(cl+"upstream_rq_"+strconv.Itoa(int(ev.code)), false, 1)
			s.add(cl+"upstream_rq_"+codeClass(ev.code), false, 1)
		}
		s.add(cl+"upstream_rq_total", false, 1)
		s.add(cl+"upstream_rq_completed", false, 1)
	case evConnOpen:
		s.add(cl+"upstream_cx_total", false, 1)
		s.add(cl+"upstream_cx_active", true, 1)
	case evConnClose:
		s.add(cl+"upstream_cx_active", true, -1)
		if ev.connFail {
			s.add(cl+"upstream_cx_connect_fail", false, 1)
		}
		s.add(cl+"upstream_cx_tx_bytes_total", false, float64(ev.received))
		s.add(cl+"upstream_cx_rx_bytes_total", false, float64(ev.sent))
	}
}

// snapshot returns one StreamMetricsMessage's families at time at: one
// family with one metric per stat, sorted by name, as Envoy's sink sends
// them.
func (s *proxyStats) snapshot(at time.Time) []*prom.MetricFamily {
	ts := at.UnixMilli()
	uptime := at.Sub(s.started).Seconds() + 3600
	mem := 9.4e6 + float64(len(s.vals))*2048
	fixed := []struct {
		name string
		v    float64
	}{
		{statActiveClusters, float64(s.clusters)},
		{statServerLive, 1},
		{statServerMemory, mem},
		{statServerUptime, float64(int64(uptime))},
	}
	names := make([]string, 0, len(s.vals))
	for n := range s.vals {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]*prom.MetricFamily, 0, len(names)+len(fixed))
	for _, f := range fixed {
		out = append(out, family(f.name, true, f.v, ts))
	}
	for _, n := range names {
		v := s.vals[n]
		out = append(out, family(n, v.gauge, v.v, ts))
	}
	return out
}

func family(name string, gauge bool, v float64, ts int64) *prom.MetricFamily {
	m := &prom.Metric{TimestampMs: proto.Int64(ts)}
	typ := prom.MetricType_COUNTER
	if gauge {
		typ = prom.MetricType_GAUGE
		m.Gauge = &prom.Gauge{Value: proto.Float64(v)}
	} else {
		m.Counter = &prom.Counter{Value: proto.Float64(v)}
	}
	return &prom.MetricFamily{Name: proto.String(name), Type: typ.Enum(), Metric: []*prom.Metric{m}}
}

// encodeMetrics encodes a StreamMetricsMessage with an optional pre-encoded
// identifier.
func encodeMetrics(ident []byte, fams []*prom.MetricFamily) ([]byte, int, error) {
	body, err := deterministic.Marshal(&metricsv3.StreamMetricsMessage{EnvoyMetrics: fams})
	if err != nil {
		return nil, 0, fmt.Errorf("encode metrics: %w", err)
	}
	if ident == nil {
		return body, 0, nil
	}
	n := protowire.SizeTag(1) + protowire.SizeBytes(len(ident))
	out := make([]byte, 0, n+len(body))
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendBytes(out, ident)
	return append(out, body...), n, nil
}

// metricsStreams replays the stat events in time order and snapshots every
// proxy at Start + k*MetricsInterval until the last entry was written.
func (c *compiled) metricsStreams(events []statEvent, cfg GenConfig, end time.Time) []MetricsStream {
	slices.SortFunc(events, func(a, b statEvent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	stats := make([]*proxyStats, len(c.proxies))
	out := make([]MetricsStream, len(c.proxies))
	for i, p := range c.proxies {
		stats[i] = newProxyStats(p, cfg.Start, len(c.services)+5)
		out[i].NodeID = p.nodeID
	}
	next := 0
	for at := cfg.Start.Add(cfg.MetricsInterval); ; at = at.Add(cfg.MetricsInterval) {
		for next < len(events) && events[next].at <= at.UnixNano() {
			ev := &events[next]
			stats[ev.p.idx].apply(ev)
			next++
		}
		for i, s := range stats {
			var ident []byte
			if len(out[i].Messages) == 0 {
				ident = s.p.identMetrics
			}
			fams := s.snapshot(at)
			out[i].Families = append(out[i].Families, len(fams))
			b, n, err := encodeMetrics(ident, fams)
			if err != nil {
				panic("loadgen: " + err.Error())
			}
			if ident != nil {
				out[i].IdentifierLen = n
			}
			out[i].Messages = append(out[i].Messages, b)
		}
		if !at.Before(end) && next == len(events) {
			break
		}
	}
	return out
}
