package kialigraph

import (
	"cmp"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/meshlens/meshlens/topology"
)

// Series is one series (or one group of a sum by Kiali's group-by labels)
// with its value over the window: its increase, or its whole value when
// every series was born inside the window.
type Series struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Edge is what Kiali applies to one edge (source node, destination node,
// protocol) of the graph.
type Edge struct {
	Requests  float64            // istio_requests_total
	Responses map[string]float64 // "code flags" → requests; TCP: closed connections
	TCPRecv   float64            // istio_tcp_received_bytes_total (Kiali's rateTcp=sent)
	TCPSent   float64            // istio_tcp_sent_bytes_total
	Opened    float64            // istio_tcp_connections_opened_total
	Closed    float64            // istio_tcp_connections_closed_total
}

// Metrics are the counters Compute reads.
var Metrics = []string{
	"istio_requests_total", "istio_tcp_received_bytes_total", "istio_tcp_sent_bytes_total",
	"istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
}

// Identity are the labels Kiali groups by and hashes into node identities
// (without the response labels).
var Identity = []string{
	"source_cluster", "source_workload_namespace", "source_workload", "source_canonical_service", "source_canonical_revision",
	"destination_cluster", "destination_service_namespace", "destination_service", "destination_service_name",
	"destination_workload_namespace", "destination_workload", "destination_canonical_service", "destination_canonical_revision",
}

// GroupBy are Kiali's group-by labels of the request and TCP queries
// (a superset for TCP: its series have no code and gRPC status).
var GroupBy = append(slices.Clone(Identity), "request_protocol", "response_code", "grpc_response_status", "response_flags")

func label(ls map[string]string, name string) string {
	if v := ls[name]; v != "" {
		return v
	}
	return "unknown"
}

func known(v string) bool { return v != "" && v != "unknown" }

// Code is the response code Kiali shows and de-duplicates by: "-" for no
// response; for gRPC the HTTP code when it is 4xx or 5xx, else the
// grpc-status.
func Code(ls map[string]string) string {
	code := ls["response_code"]
	if n, err := strconv.Atoi(code); ls["request_protocol"] == "grpc" && (err != nil || n < 400) && ls["grpc_response_status"] != "" {
		return ls["grpc_response_status"]
	}
	if code == "" || code == "0" {
		return "-"
	}
	return code
}

// Nodes returns the Kiali node keys (before hashing) of a series' source
// and destination for a graph type ("workload" or "app").
func Nodes(ls map[string]string, graphType string) (src, dst string) {
	srcCluster, dstCluster := label(ls, "source_cluster"), label(ls, "destination_cluster")
	svcNS := label(ls, "destination_service_namespace")
	if !known(dstCluster) && known(srcCluster) && known(svcNS) { // istio#29373
		dstCluster = srcCluster
	}
	srcNS := label(ls, "source_workload_namespace")
	// meshlens's one difference here (docs/api.md): a host outside the mesh
	// whose namespace the series do not say (a ServiceEntry's, which only
	// Kubernetes knows) is drawn in its caller's namespace, not "unknown".
	if !known(svcNS) && !known(label(ls, "destination_workload_namespace")) && known(srcNS) &&
		topology.ExternalHost(label(ls, "destination_service")) {
		if name := label(ls, "destination_service_name"); name != "PassthroughCluster" && name != "BlackHoleCluster" {
			svcNS = srcNS
		}
	}
	src = id(graphType, srcCluster, srcNS, "", srcNS, label(ls, "source_workload"), label(ls, "source_canonical_service"))
	dst = id(graphType, dstCluster, svcNS, label(ls, "destination_service_name"),
		label(ls, "destination_workload_namespace"), label(ls, "destination_workload"), label(ls, "destination_canonical_service"))
	return src, dst
}

// id is Kiali's graph.Id for the workload and app graph types: a source
// passes no service.
func id(graphType, cluster, svcNS, svc, wlNS, wl, app string) string {
	ns := wlNS
	if !known(ns) {
		ns = svcNS
	}
	if ns == "unknown" && wl == "unknown" && app == "unknown" && svc == "" {
		return cluster + "_unknown_source"
	}
	if wl == "unknown" && app == "unknown" && svc == "unknown" {
		return "svc_" + cluster + "_" + ns + "_unknown"
	}
	switch {
	case graphType == "app" && known(app):
		return "app_" + cluster + "_" + ns + "_" + app
	case graphType == "workload" && known(wl):
		return "wl_" + cluster + "_" + ns + "_" + wl
	case known(svc):
		return "svc_" + cluster + "_" + ns + "_" + svc
	default:
		return "wl_" + cluster + "_" + ns + "_" + wl
	}
}

// Compute applies Kiali's rule to series of Metrics (each with its
// reporter label): per metric, sum by GroupBy over the destination-reported
// series, then over the source-reported ones; a group is applied to an
// edge only when no group with the same identity, code, flags (and
// metric) was applied before, so the destination's report wins where both
// exist. Edges are keyed "<source> <destination> <protocol>".
func Compute(all []Series, graphType string) map[string]*Edge {
	edges := map[string]*Edge{}
	applied := map[string]bool{}
	for _, metric := range Metrics {
		for _, reporter := range []string{"destination", "source"} {
			groups := map[string]*Series{}
			for _, s := range all {
				if s.Name != metric || s.Labels["reporter"] != reporter {
					continue
				}
				var k strings.Builder
				for _, l := range GroupBy {
					k.WriteString(s.Labels[l] + "\xff")
				}
				if g := groups[k.String()]; g != nil {
					g.Value += s.Value
				} else {
					groups[k.String()] = &Series{Name: metric, Labels: s.Labels, Value: s.Value}
				}
			}
			for _, key := range slices.Sorted(maps.Keys(groups)) {
				g := groups[key]
				if g.Value <= 0 {
					continue
				}
				apply(edges, applied, metric, g, graphType)
			}
		}
	}
	return edges
}

func apply(edges map[string]*Edge, applied map[string]bool, metric string, g *Series, graphType string) {
	ls := g.Labels
	code, flags := Code(ls), cmp.Or(ls["response_flags"], "-")
	if ls["request_protocol"] == "tcp" {
		code = "-"
	}
	var ts strings.Builder
	ts.WriteString(metric)
	for _, l := range Identity {
		ts.WriteString("\xff" + ls[l])
	}
	ts.WriteString("\xff" + code + "\xff" + flags)
	if applied[ts.String()] {
		return
	}
	applied[ts.String()] = true
	src, dst := Nodes(ls, graphType)
	ek := src + " " + dst + " " + ls["request_protocol"]
	e := edges[ek]
	if e == nil {
		e = &Edge{Responses: map[string]float64{}}
		edges[ek] = e
	}
	switch metric {
	case "istio_requests_total":
		e.Requests += g.Value
		e.Responses[code+" "+flags] += g.Value
	case "istio_tcp_received_bytes_total":
		e.TCPRecv += g.Value
	case "istio_tcp_sent_bytes_total":
		e.TCPSent += g.Value
	case "istio_tcp_connections_opened_total":
		e.Opened += g.Value
	case "istio_tcp_connections_closed_total":
		e.Closed += g.Value
		e.Responses[code+" "+flags] += g.Value
	}
}

// Diff lists the differences between two graphs: edges present in one
// only, and per edge every number that differs by more than eps relative
// to its size (at least eps absolute).
func Diff(want, got map[string]*Edge, eps float64) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		if !ok {
			out = append(out, "missing edge "+k)
			continue
		}
		w := want[k]
		for _, n := range []struct {
			name string
			w, g float64
		}{
			{"requests", w.Requests, g.Requests},
			{"TCP bytes received", w.TCPRecv, g.TCPRecv},
			{"TCP bytes sent", w.TCPSent, g.TCPSent},
			{"connections opened", w.Opened, g.Opened},
			{"connections closed", w.Closed, g.Closed},
		} {
			if differ(n.w, n.g, eps) {
				out = append(out, k+": "+n.name+" "+strconv.FormatFloat(n.g, 'f', -1, 64)+", want "+strconv.FormatFloat(n.w, 'f', -1, 64))
			}
		}
		for _, r := range slices.Sorted(maps.Keys(maps.Collect(func(yield func(string, bool) bool) {
			for r := range w.Responses {
				yield(r, true)
			}
			for r := range g.Responses {
				yield(r, true)
			}
		}))) {
			if differ(w.Responses[r], g.Responses[r], eps) {
				out = append(out, k+": responses "+r+" "+strconv.FormatFloat(g.Responses[r], 'f', -1, 64)+", want "+strconv.FormatFloat(w.Responses[r], 'f', -1, 64))
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			out = append(out, "unexpected edge "+k)
		}
	}
	return out
}

func differ(w, g, eps float64) bool {
	d := w - g
	if d < 0 {
		d = -d
	}
	return d > eps*max(1, w, -w)
}

// FromSnapshot reads the same numbers from a meshlens graph snapshot (its
// first window; rates times the seconds they divide by).
func FromSnapshot(s *topology.Snapshot) map[string]*Edge {
	out := map[string]*Edge{}
	covered := s.Windows[0].CoveredSeconds
	for _, e := range s.Edges {
		st := e.Stats[0]
		ke := &Edge{
			Requests: st.Requests, Responses: map[string]float64{},
			Opened: st.ConnectionsOpened, Closed: st.ConnectionsClosed,
		}
		if e.Protocol == "tcp" {
			ke.TCPRecv, ke.TCPSent = st.BytesInRate*covered, st.BytesOutRate*covered
		}
		for _, r := range st.Responses {
			ke.Responses[r.Code+" "+r.Flags] += r.Requests
		}
		out[e.Source+" "+e.Target+" "+e.Protocol] = ke
	}
	return out
}
