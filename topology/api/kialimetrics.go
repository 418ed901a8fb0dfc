package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshlens/meshlens/topology"
)

// Kiali's per-node metrics (kiali/kiali handlers/metrics.go
// AppMetrics, ServiceMetrics, WorkloadMetrics; models.MetricsMap): series of
// the node's traffic in or out, one point per step, each the rate over
// rateInterval ending there, computed from meshlens's own windows (a
// snapshot per point) instead of Prometheus.

// metricsQuery is a parsed Kiali metrics request (Kiali's
// IstioMetricsQuery, as far as meshlens answers it).
type metricsQuery struct {
	end       time.Time
	duration  time.Duration // span of the series
	step      time.Duration
	rate      time.Duration // rateInterval
	filters   []string
	byLabels  []string
	direction string // inbound | outbound
	quantiles []string
	avg       bool
}

// Bounds of a metrics request: the points of one series.
const maxMetricsPoints = 120

// metricNames are the Istio metrics meshlens answers (Kiali's names).
var metricNames = []string{
	"request_count", "request_error_count", "request_duration_millis",
	"request_throughput", "response_throughput", "tcp_sent", "tcp_received",
}

// listParam reads a list parameter as Kiali's UI sends it: name[]=a&name[]=b,
// or name=a,b.
func listParam(v url.Values, name string) []string {
	var out []string
	for _, raw := range append(v[name+"[]"], v[name]...) {
		for s := range strings.SplitSeq(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseMetricsQuery validates a metrics request's parameters against what
// the graph holds (longest: its longest window).
func parseMetricsQuery(v url.Values, now time.Time, longest time.Duration) (metricsQuery, error) {
	q := metricsQuery{end: now, duration: 30 * time.Minute, step: 15 * time.Second, rate: time.Minute, direction: "outbound", avg: true}
	q.duration = min(q.duration, longest)
	q.rate = min(q.rate, longest)
	if raw := v.Get("queryTime"); raw != "" {
		t, err := parseUnix(raw)
		if err != nil {
			return q, badf("invalid queryTime %q: want unix seconds", raw)
		}
		if t.Before(now) {
			q.end = t
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"duration", &q.duration}, {"step", &q.step}} {
		if raw := v.Get(p.name); raw != "" {
			secs, err := strconv.ParseInt(raw, 10, 64)
			if err != nil || secs <= 0 || secs > int64(30*24*time.Hour/time.Second) {
				return q, badf("invalid %s %q: want seconds", p.name, raw)
			}
			*p.dst = time.Duration(secs) * time.Second
		}
	}
	if raw := v.Get("rateInterval"); raw != "" {
		d, err := model.ParseDuration(raw)
		if err != nil || d <= 0 {
			return q, badf("invalid rateInterval %q: want a duration such as 60s", raw)
		}
		if q.rate = time.Duration(d); q.rate > longest {
			return q, badf("rateInterval %s exceeds the longest window (%s)", q.rate, longest)
		}
	}
	if q.duration/q.step > maxMetricsPoints {
		return q, badf("duration %s over step %s is more than %d points", q.duration, q.step, maxMetricsPoints)
	}
	switch d := v.Get("direction"); d {
	case "", "outbound":
	case "inbound":
		q.direction = d
	default:
		return q, badf("invalid direction %q: want inbound or outbound", d)
	}
	switch r := v.Get("reporter"); r {
	case "", "source", "destination", "both":
	default:
		return q, badf("invalid reporter %q: want source, destination or both", r)
	}
	q.filters = listParam(v, "filters")
	for _, f := range q.filters {
		if !slices.Contains(metricNames, f) {
			return q, badf("invalid filter %q: want one of %s", f, strings.Join(metricNames, ", "))
		}
	}
	if len(q.filters) == 0 {
		q.filters = metricNames
	}
	q.byLabels = listParam(v, "byLabels")
	for _, l := range q.byLabels {
		if l != "request_protocol" {
			return q, badf("invalid byLabels %q: meshlens groups by request_protocol only", l)
		}
	}
	q.quantiles = listParam(v, "quantiles")
	for _, s := range q.quantiles {
		if f, err := strconv.ParseFloat(s, 64); err != nil || f <= 0 || f >= 1 {
			return q, badf("invalid quantile %q: want a number between 0 and 1", s)
		}
	}
	if raw := v.Get("avg"); raw != "" {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return q, badf("invalid avg %q: want true or false", raw)
		}
		q.avg = b
	}
	return q, nil
}

// metric is Kiali's models.Metric.
type metric struct {
	Labels     map[string]string  `json:"labels"`
	Datapoints []model.SamplePair `json:"datapoints"`
	Stat       string             `json:"stat,omitempty"`
	Name       string             `json:"name"`
}

func (l *Live) metricsRoutes(mux *http.ServeMux, now func() time.Time) {
	for _, kind := range []string{"apps", "services", "workloads"} {
		mux.HandleFunc("GET /api/namespaces/{ns}/"+kind+"/{name}/metrics", func(w http.ResponseWriter, r *http.Request) {
			l.serveNodeMetrics(w, r, now(), kind)
		})
	}
}

func (l *Live) serveNodeMetrics(w http.ResponseWriter, r *http.Request, now time.Time, kind string) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	if !validNamespace(ns) {
		l.writeError(w, badf("invalid namespace %q", ns))
		return
	}
	q, err := parseMetricsQuery(r.URL.Query(), now, l.longestWindow())
	if err != nil {
		l.writeError(w, err)
		return
	}
	g, focus := topology.Workload, func(n *topology.Node) bool {
		return n.Type == topology.NodeWorkload && n.Namespace == ns && n.Workload == name
	}
	switch kind {
	case "apps":
		g = topology.App
		focus = func(n *topology.Node) bool { return n.Type == topology.NodeApp && n.Namespace == ns && n.App == name }
	case "services":
		g = topology.Service
		focus = func(n *topology.Node) bool {
			return n.Type == topology.NodeService && n.Namespace == ns && n.Service == name
		}
	}
	series := map[string]map[string]*metric{} // name → label key → series
	oldest := now.Add(-l.longestWindow() + q.rate)
	for t := q.end.Add(-q.duration).Add(q.step); !t.After(q.end); t = t.Add(q.step) {
		if t.Before(oldest) {
			continue // older than the graph keeps
		}
		snap, err := l.Snapshot(t, topology.SnapshotOptions{Granularity: g, Namespaces: []string{ns}, Windows: []time.Duration{q.rate}})
		if err != nil {
			l.writeError(w, err)
			return
		}
		addPoints(series, snap, focus, &q, t)
	}
	out := map[string][]metric{}
	for _, f := range q.filters {
		out[f] = []metric{}
		for _, key := range sortedKeys(series[f]) {
			out[f] = append(out[f], *series[f][key])
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		l.writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errorCode reports whether a response code is an error as Kiali's
// request_error_count counts it: no response, HTTP 4xx and 5xx, a gRPC
// status other than OK.
func errorCode(protocol, code string) bool {
	if code == "-" || strings.HasPrefix(code, "4") && len(code) == 3 || strings.HasPrefix(code, "5") && len(code) == 3 {
		return true
	}
	return protocol == "grpc" && code != "0"
}

// addPoints adds the point at t of every asked series from the focus
// node's edges in the snapshot.
func addPoints(series map[string]map[string]*metric, s *topology.Snapshot, focus func(*topology.Node) bool, q *metricsQuery, t time.Time) {
	ids := map[string]bool{}
	for i := range s.Nodes {
		if focus(&s.Nodes[i]) {
			ids[s.Nodes[i].ID] = true
		}
	}
	covered := 0.0
	if len(s.Windows) > 0 {
		covered = s.Windows[0].CoveredSeconds
	}
	type acc struct {
		v       float64
		samples float64
		lat     map[string]float64
	}
	vals := map[string]map[string]*acc{} // name → protocol → value
	add := func(name, protocol string, v float64) *acc {
		if vals[name] == nil {
			vals[name] = map[string]*acc{}
		}
		a := vals[name][protocol]
		if a == nil {
			a = &acc{lat: map[string]float64{}}
			vals[name][protocol] = a
		}
		a.v += v
		return a
	}
	for i := range s.Edges {
		e := &s.Edges[i]
		end := e.Source
		if q.direction == "inbound" {
			end = e.Target
		}
		if !ids[end] || len(e.Stats) == 0 {
			continue
		}
		st := &e.Stats[0]
		if e.Protocol == "tcp" {
			add("tcp_sent", "tcp", st.BytesOutRate)
			add("tcp_received", "tcp", st.BytesInRate)
			continue
		}
		add("request_count", e.Protocol, st.RequestRate)
		errs := 0.0
		for _, resp := range st.Responses {
			if errorCode(e.Protocol, resp.Code) && covered > 0 {
				errs += resp.Requests / covered
			}
		}
		add("request_error_count", e.Protocol, errs)
		add("request_throughput", e.Protocol, st.BytesInRate)
		add("response_throughput", e.Protocol, st.BytesOutRate)
		if lat := st.Latency; lat != nil && lat.Samples > 0 {
			a := add("request_duration_millis", e.Protocol, 0)
			a.samples += lat.Samples
			a.lat["avg"] += lat.Avg * lat.Samples
			// A quantile over several edges is not known from theirs: the
			// largest is an upper bound (docs/kiali.md).
			a.lat["0.5"] = max(a.lat["0.5"], lat.P50)
			a.lat["0.95"] = max(a.lat["0.95"], lat.P95)
			a.lat["0.99"] = max(a.lat["0.99"], lat.P99)
		}
	}
	ts := model.TimeFromUnixNano(t.UnixNano())
	point := func(name, protocol, stat string, v float64) {
		labels := map[string]string{}
		key := stat
		if len(q.byLabels) > 0 {
			labels["request_protocol"] = protocol
			key = protocol + "|" + stat
		}
		if series[name] == nil {
			series[name] = map[string]*metric{}
		}
		m := series[name][key]
		if m == nil {
			m = &metric{Labels: labels, Name: name, Stat: stat}
			series[name][key] = m
		}
		// Without byLabels the protocols add up into one point.
		if n := len(m.Datapoints); n > 0 && m.Datapoints[n-1].Timestamp == ts {
			m.Datapoints[n-1].Value += model.SampleValue(v)
			return
		}
		m.Datapoints = append(m.Datapoints, model.SamplePair{Timestamp: ts, Value: model.SampleValue(v)})
	}
	for _, name := range q.filters {
		for _, protocol := range sortedKeys(vals[name]) {
			a := vals[name][protocol]
			if name != "request_duration_millis" {
				point(name, protocol, "", a.v)
				continue
			}
			if q.avg && a.samples > 0 {
				point(name, protocol, "avg", a.lat["avg"]/a.samples)
			}
			for _, qt := range q.quantiles {
				if v, ok := a.lat[qt]; ok {
					point(name, protocol, qt, v)
				}
			}
		}
	}
}
