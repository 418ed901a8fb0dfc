package promsource

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/loadgen"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
)

// This file checks issue 16's promise that the graph agrees with the
// metrics: per edge, the requests (by response code and flags), TCP bytes
// and connections of the live graph, of the global graph and of the Kiali
// route equal what Kiali computes from the Istio series with PromQL
// (kialiOracle), node identities included.

// kialiOracle computes a graph from Istio series the way Kiali's graph
// does (kiali/kiali graph/telemetry/istio/istio.go, kiali-graph.md §3–4):
// per metric, sum(increase(m[window])) by Kiali's group-by labels, first
// over the destination-reported series, then over the source-reported
// ones; a source-reported group is applied to an edge only when no group
// with the same source and destination identity, response code, flags and
// destination service was applied before (Kiali's edgeTSHash), so the
// destination's report wins where both exist. The window covers all the
// traffic, so the increase of a series is its value.
//
// It is written from Kiali's rules, not from meshlens's: node keys, the
// gRPC response code rule and the dedupe key are Kiali's.
type oracleEdge struct {
	requests  float64
	responses map[string]float64 // "code flags" → requests (TCP: closed connections)
	tcpRecv   float64            // istio_tcp_received_bytes_total (Kiali's "sent")
	tcpSent   float64            // istio_tcp_sent_bytes_total
	opened    float64
	closed    float64
}

// kialiIdentity are the labels Kiali groups by (and hashes into node
// identities), without the response labels.
var kialiIdentity = []string{
	"source_cluster", "source_workload_namespace", "source_workload", "source_canonical_service", "source_canonical_revision",
	"destination_cluster", "destination_service_namespace", "destination_service", "destination_service_name",
	"destination_workload_namespace", "destination_workload", "destination_canonical_service", "destination_canonical_revision",
}

func label(ls map[string]string, name string) string {
	if v := ls[name]; v != "" {
		return v
	}
	return "unknown"
}

func known(v string) bool { return v != "" && v != "unknown" }

// kialiCode is the response code Kiali shows and deduplicates by: "-" for
// no response; for gRPC the HTTP code when it is 4xx or 5xx, else the
// grpc-status.
func kialiCode(ls map[string]string) string {
	code := ls["response_code"]
	if n, err := strconv.Atoi(code); ls["request_protocol"] == "grpc" && (err != nil || n < 400) && ls["grpc_response_status"] != "" {
		return ls["grpc_response_status"]
	}
	if code == "" || code == "0" {
		return "-"
	}
	return code
}

// kialiNodes returns the Kiali node keys (before hashing) of a series'
// source and destination at a granularity: Kiali's graph.Id, given the
// cluster, service namespace and name, workload namespace and name, app
// (canonical service) of each end (a source has no service).
func kialiNodes(ls map[string]string, g topology.Granularity) (src, dst string) {
	srcCluster, dstCluster := label(ls, "source_cluster"), label(ls, "destination_cluster")
	svcNS := label(ls, "destination_service_namespace")
	if !known(dstCluster) && known(srcCluster) && known(svcNS) { // istio#29373
		dstCluster = srcCluster
	}
	srcNS := label(ls, "source_workload_namespace")
	src = kialiID(g, srcCluster, srcNS, "", srcNS, label(ls, "source_workload"), label(ls, "source_canonical_service"))
	dst = kialiID(g, dstCluster, svcNS, label(ls, "destination_service_name"),
		label(ls, "destination_workload_namespace"), label(ls, "destination_workload"), label(ls, "destination_canonical_service"))
	return src, dst
}

func kialiID(g topology.Granularity, cluster, svcNS, svc, wlNS, wl, app string) string {
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
	svcNode := "svc_" + cluster + "_" + ns + "_" + svc
	switch {
	case g == topology.App && known(app):
		return "app_" + cluster + "_" + ns + "_" + app
	case g == topology.Workload && known(wl):
		return "wl_" + cluster + "_" + ns + "_" + wl
	case known(svc):
		return svcNode
	default:
		return "wl_" + cluster + "_" + ns + "_" + wl
	}
}

func kialiOracle(all []series, g topology.Granularity) map[string]*oracleEdge {
	edges := map[string]*oracleEdge{}
	applied := map[string]bool{}
	metrics := []string{
		"istio_requests_total", "istio_tcp_received_bytes_total", "istio_tcp_sent_bytes_total",
		"istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total",
	}
	for _, metric := range metrics {
		for _, reporter := range []string{"destination", "source"} {
			// sum by (identity, protocol, code, grpc status, flags)
			groups := map[string]*series{}
			for _, s := range all {
				if s.name != metric || s.labels["reporter"] != reporter {
					continue
				}
				var k strings.Builder
				for _, l := range append(slices.Clone(kialiIdentity), "request_protocol", "response_code", "grpc_response_status", "response_flags") {
					k.WriteString(s.labels[l] + "\xff")
				}
				if gr := groups[k.String()]; gr != nil {
					gr.value += s.value
				} else {
					groups[k.String()] = &series{name: metric, labels: s.labels, value: s.value}
				}
			}
			for _, key := range slices.Sorted(maps.Keys(groups)) {
				gr := groups[key]
				if gr.value <= 0 {
					continue
				}
				ls := gr.labels
				var id strings.Builder
				id.WriteString(metric)
				for _, l := range kialiIdentity {
					id.WriteString("\xff" + ls[l])
				}
				code, flags := kialiCode(ls), cmp.Or(ls["response_flags"], "-")
				if ls["request_protocol"] == "tcp" {
					code = "-"
				}
				id.WriteString("\xff" + code + "\xff" + flags)
				if applied[id.String()] {
					continue
				}
				applied[id.String()] = true
				src, dst := kialiNodes(ls, g)
				ek := src + " " + dst + " " + ls["request_protocol"]
				e := edges[ek]
				if e == nil {
					e = &oracleEdge{responses: map[string]float64{}}
					edges[ek] = e
				}
				switch metric {
				case "istio_requests_total":
					e.requests += gr.value
					e.responses[code+" "+flags] += gr.value
				case "istio_tcp_received_bytes_total":
					e.tcpRecv += gr.value
				case "istio_tcp_sent_bytes_total":
					e.tcpSent += gr.value
				case "istio_tcp_connections_opened_total":
					e.opened += gr.value
				case "istio_tcp_connections_closed_total":
					e.closed += gr.value
					e.responses[code+" "+flags] += gr.value
				}
			}
		}
	}
	return edges
}

// graphEdges reads the same numbers from a snapshot (its only window).
func graphEdges(s *topology.Snapshot) map[string]*oracleEdge {
	out := map[string]*oracleEdge{}
	covered := s.Windows[0].CoveredSeconds
	for _, e := range s.Edges {
		st := e.Stats[0]
		oe := &oracleEdge{
			requests: st.Requests, responses: map[string]float64{},
			opened: st.ConnectionsOpened, closed: st.ConnectionsClosed,
		}
		if e.Protocol == "tcp" {
			oe.tcpRecv, oe.tcpSent = st.BytesInRate*covered, st.BytesOutRate*covered
		}
		for _, r := range st.Responses {
			oe.responses[r.Code+" "+r.Flags] += r.Requests
		}
		out[e.Source+" "+e.Target+" "+e.Protocol] = oe
	}
	return out
}

func assertAgree(t *testing.T, what string, want, got map[string]*oracleEdge) {
	t.Helper()
	require.Equal(t, slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)), "%s: the edges (node identities and protocols)", what)
	for k, w := range want {
		g := got[k]
		const eps = 1e-6
		assert.InDelta(t, w.requests, g.requests, eps, "%s %s: requests", what, k)
		assert.InDelta(t, w.tcpRecv, g.tcpRecv, eps*max(1, w.tcpRecv), "%s %s: TCP bytes received", what, k)
		assert.InDelta(t, w.tcpSent, g.tcpSent, eps*max(1, w.tcpSent), "%s %s: TCP bytes sent", what, k)
		assert.InDelta(t, w.opened, g.opened, eps, "%s %s: connections opened", what, k)
		assert.InDelta(t, w.closed, g.closed, eps, "%s %s: connections closed", what, k)
		require.Equal(t, slices.Sorted(maps.Keys(w.responses)), slices.Sorted(maps.Keys(g.responses)), "%s %s: response kinds", what, k)
		for rk, n := range w.responses {
			assert.InDelta(t, n, g.responses[rk], eps, "%s %s: %s", what, k, rk)
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// assertKialiRoute checks the Kiali JSON of a workload snapshot against the
// oracle: every edge (hashed node ids) with the rate Kiali would show.
func assertKialiRoute(t *testing.T, what string, s *topology.Snapshot, want map[string]*oracleEdge) {
	t.Helper()
	covered := s.Windows[0].CoveredSeconds
	cfg := kiali.Render(s, &kiali.Options{Duration: 10 * time.Minute, QueryTime: testNow, RateHTTP: "requests", RateGRPC: "requests", RateTCP: "sent"})
	got := map[string]string{}
	for _, e := range cfg.Elements.Edges {
		got[e.Data.Source+" "+e.Data.Target+" "+e.Data.Traffic.Protocol] = e.Data.Traffic.Rates[e.Data.Traffic.Protocol]
	}
	exp := map[string]string{}
	for k, w := range want {
		f := strings.Fields(k)
		total := w.requests
		if f[2] == "tcp" {
			total = w.tcpRecv // Kiali's default TCP rate, "sent", is istio_tcp_received_bytes_total
		}
		rate := ""
		if total > 0 {
			rate = kiali.RateString(2, total/covered)
		}
		exp[sha(f[0])+" "+sha(f[1])+" "+f[2]] = rate
	}
	assert.Equal(t, exp, got, "%s: Kiali route edge rates", what)
}

// TestGraphAgreesWithPromQL is the property: over generated meshes (both
// reporters, client-only connection failures, callers outside the mesh,
// external hosts, HTTP, gRPC and TCP, TCP with periodic entries with and
// without stream_id), with the streams split over two meshlens instances,
//
//   - each instance's live graph equals Kiali's computation over that
//     instance's own Istio series,
//   - one instance fed everything, and the global graph built from both
//     instances' series, equal Kiali's computation over all the series,
//   - and the Kiali route's edge rates are those numbers over the window,
//
// at the workload and app granularities: the same edges between the same
// node identities, and per edge the same requests by response code and
// flags, TCP bytes both ways and connections opened and closed.
func TestGraphAgreesWithPromQL(t *testing.T) {
	type gen struct {
		name string
		mesh loadgen.Mesh
		cfg  loadgen.GenConfig
	}
	gens := []gen{
		{"bookinfo", loadgen.Bookinfo(), loadgen.GenConfig{Seed: 1, Requests: 3000, TCPPeriodic: true, StreamsPerProxy: 2}},
		{"bookinfo without stream_id", loadgen.Bookinfo(), loadgen.GenConfig{Seed: 2, Requests: 3000, TCPPeriodic: true, OmitStreamID: true}},
	}
	for seed := uint64(1); seed <= 6; seed++ {
		services := 8 + int(seed)*3
		mesh := loadgen.Synthetic(services, 1+int(seed%3), services*3, seed)
		for i := range mesh.Edges { // connection failures only the client sees, on HTTP, gRPC and TCP edges
			if i%3 == 0 {
				mesh.Edges[i].Errors.ConnectionFailure = 0.05
			}
		}
		gens = append(gens, gen{
			fmt.Sprintf("synthetic %d services seed %d", services, seed),
			mesh,
			loadgen.GenConfig{
				Seed: seed, Requests: 2500, TCPPeriodic: seed%2 == 0, OmitStreamID: seed%3 == 0,
				StreamsPerProxy: 1 + int(seed%2),
			},
		})
	}
	windows := []time.Duration{10 * time.Minute}
	kinds := map[string]bool{} // protocols and response kinds over all the meshes
	for _, gn := range gens {
		t.Run(gn.name, func(t *testing.T) {
			streams := benchrecs.Generate(t, gn.mesh, gn.cfg, testNow)
			newGraph := func() *topology.Graph {
				g, err := topology.NewGraph(topology.Config{Windows: windows})
				require.NoError(t, err)
				g.SetStart(testNow.Add(-time.Hour))
				return g
			}
			all := newGraph()
			graphs := [2]*topology.Graph{newGraph(), newGraph()}
			aggs := [2]*istiometrics.Aggregator{istiometrics.New(istiometrics.DefaultConfig()), istiometrics.New(istiometrics.DefaultConfig())}
			n := 0
			benchrecs.Interleave(streams, func(stream int, recs []accesslog.Record) {
				at := testNow.Add(-5 * time.Minute).Add(time.Duration(n) * time.Millisecond)
				n++
				all.ObserveBatch(recs, at)
				graphs[stream%2].ObserveBatch(recs, at)
				aggs[stream%2].ConsumeRecords(recs, nil, at)
			})
			f := &fakeProm{}
			instances := [2]string{"a:9102", "b:9102"}
			for i := range aggs {
				f.scrape(t, "meshlens", instances[i], aggs[i])
			}
			src, err := NewWithQuery(f.query, `job="meshlens"`, time.Minute) // the fake answers slowly under -race
			require.NoError(t, err)
			for _, gran := range []topology.Granularity{topology.Workload, topology.App} {
				o := topology.SnapshotOptions{Granularity: gran, Windows: windows}
				want := kialiOracle(f.series, gran)
				require.NotEmpty(t, want)
				for k, e := range want {
					f := strings.Fields(k)
					kinds[f[2]] = true
					kinds["from "+strings.SplitN(f[0], "_", 2)[0]] = true
					kinds["to "+strings.SplitN(f[1], "_", 2)[0]] = true
					for rk := range e.responses {
						kinds[rk] = true
					}
				}

				local, err := all.Snapshot(testNow, o)
				require.NoError(t, err)
				assert.Zero(t, local.Stats.KindsFolded, "no response kind folded: the exactness below holds up to MaxKinds kinds per edge")
				assertAgree(t, gran.String()+" one instance", want, graphEdges(local))

				global, err := src.Snapshot(t.Context(), testNow, o)
				require.NoError(t, err)
				assertAgree(t, gran.String()+" global graph", want, graphEdges(global))

				for i, g := range graphs {
					var own []series
					for _, s := range f.series {
						if s.labels["instance"] == instances[i] {
							own = append(own, s)
						}
					}
					snap, err := g.Snapshot(testNow, o)
					require.NoError(t, err)
					assertAgree(t, fmt.Sprintf("%s instance %d", gran, i), kialiOracle(own, gran), graphEdges(snap))
				}
				if gran == topology.Workload {
					assertKialiRoute(t, "one instance", local, want)
					assertKialiRoute(t, "global graph", global, want)
				}
			}
		})
	}
	// The generated traffic has what the property is about: both
	// protocols' failures only the client saw among the rest.
	for _, k := range []string{"http", "grpc", "tcp", "200 -", "503 -", "503 UF,URX", "14 UF,URX", "- UF", "- -", "from unknown", "to svc", "to wl", "to app"} {
		assert.True(t, kinds[k], "the meshes have %q: %v", k, slices.Sorted(maps.Keys(kinds)))
	}
}
