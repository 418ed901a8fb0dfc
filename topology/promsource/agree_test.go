package promsource

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/internal/kialigraph"
	"github.com/meshlens/meshlens/loadgen"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
)

// This file checks issue 16's promise that the graph agrees with the
// metrics: per edge, the requests (by response code and flags), TCP bytes
// and connections of the live graph, of the global graph and of the Kiali
// route equal what Kiali computes from the Istio series
// (internal/kialigraph), node identities included. e2e/replicas_test.go
// checks the same against a real Prometheus.

// kialiOracle computes Kiali's graph (internal/kialigraph) from the fake
// Prometheus's series: a window covering all the traffic, so the increase
// of a series is its value.
func kialiOracle(all []series, g topology.Granularity) map[string]*kialigraph.Edge {
	in := make([]kialigraph.Series, len(all))
	for i, s := range all {
		in[i] = kialigraph.Series{Name: s.name, Labels: s.labels, Value: s.value}
	}
	return kialigraph.Compute(in, g.String())
}

func assertAgree(t *testing.T, what string, want, got map[string]*kialigraph.Edge) {
	t.Helper()
	assert.Empty(t, kialigraph.Diff(want, got, 1e-6), "%s: the graph differs from Kiali's over the same series", what)
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// assertKialiRoute checks the Kiali JSON of a workload snapshot against the
// oracle: every edge (hashed node ids) with the rate Kiali would show.
func assertKialiRoute(t *testing.T, what string, s *topology.Snapshot, want map[string]*kialigraph.Edge) {
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
		total := w.Requests
		if f[2] == "tcp" {
			total = w.TCPRecv // Kiali's default TCP rate, "sent", is istio_tcp_received_bytes_total
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
					for rk := range e.Responses {
						kinds[rk] = true
					}
				}

				local, err := all.Snapshot(testNow, o)
				require.NoError(t, err)
				assert.Zero(t, local.Stats.KindsFolded, "no response kind folded: the exactness below holds up to MaxKinds kinds per edge")
				assertAgree(t, gran.String()+" one instance", want, kialigraph.FromSnapshot(local))

				global, err := src.Snapshot(t.Context(), testNow, o)
				require.NoError(t, err)
				assertAgree(t, gran.String()+" global graph", want, kialigraph.FromSnapshot(global))

				for i, g := range graphs {
					var own []series
					for _, s := range f.series {
						if s.labels["instance"] == instances[i] {
							own = append(own, s)
						}
					}
					snap, err := g.Snapshot(testNow, o)
					require.NoError(t, err)
					assertAgree(t, fmt.Sprintf("%s instance %d", gran, i), kialiOracle(own, gran), kialigraph.FromSnapshot(snap))
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
