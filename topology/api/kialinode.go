package api

import (
	"net/http"
	"time"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
)

// Kiali's node graphs (kiali/kiali routing/routes.go GraphNode): the graph
// around one workload, app, app version or service, with Kiali's graph
// parameters.
func (l *Live) nodeGraphRoutes(mux *http.ServeMux, now func() time.Time) {
	// Each node graph keeps the traffic of its node alone (Focus, on the
	// stored edges: Kiali queries the node's series), then the part of the
	// graph around the node (Around).
	route := func(pattern string, focus func(r *http.Request) (func(topology.End) bool, func(*topology.Node) bool)) {
		mux.HandleFunc("GET "+pattern, func(w http.ResponseWriter, r *http.Request) {
			ends, nodes := focus(r)
			l.serveNodeGraph(w, r, now(), ends, nodes)
		})
	}
	route("/api/namespaces/{ns}/workloads/{workload}/graph", func(r *http.Request) (func(topology.End) bool, func(*topology.Node) bool) {
		ns, wl := r.PathValue("ns"), r.PathValue("workload")
		return func(e topology.End) bool { return e.Namespace == ns && e.Workload == wl },
			func(n *topology.Node) bool {
				return n.Namespace == ns && n.Workload == wl && n.Type != topology.NodeService
			}
	})
	route("/api/namespaces/{ns}/applications/{app}/graph", func(r *http.Request) (func(topology.End) bool, func(*topology.Node) bool) {
		ns, app := r.PathValue("ns"), r.PathValue("app")
		return func(e topology.End) bool { return e.Namespace == ns && e.App == app },
			func(n *topology.Node) bool {
				return n.Namespace == ns && n.App == app && n.Type != topology.NodeService
			}
	})
	route("/api/namespaces/{ns}/applications/{app}/versions/{version}/graph", func(r *http.Request) (func(topology.End) bool, func(*topology.Node) bool) {
		ns, app, v := r.PathValue("ns"), r.PathValue("app"), r.PathValue("version")
		return func(e topology.End) bool { return e.Namespace == ns && e.App == app && e.Version == v },
			func(n *topology.Node) bool {
				return n.Namespace == ns && n.App == app && n.Version == v && n.Type != topology.NodeService
			}
	})
	route("/api/namespaces/{ns}/services/{service}/graph", func(r *http.Request) (func(topology.End) bool, func(*topology.Node) bool) {
		ns, svc := r.PathValue("ns"), r.PathValue("service")
		return func(e topology.End) bool { return e.ServiceNamespace == ns && e.Service == svc },
			func(n *topology.Node) bool {
				return n.Type == topology.NodeService && n.Namespace == ns && n.Service == svc
			}
	})
}

func (l *Live) serveNodeGraph(w http.ResponseWriter, r *http.Request, now time.Time, ends func(topology.End) bool, focus func(*topology.Node) bool) {
	ns := r.PathValue("ns")
	if !validNamespace(ns) {
		l.writeError(w, badf("invalid namespace %q", ns))
		return
	}
	// A node graph is drawn from the node's namespace unless the client
	// names others (Kiali's UI does not).
	if r.URL.Query().Get("namespaces") == "" {
		v := r.URL.Query()
		v.Set("namespaces", ns)
		r.URL.RawQuery = v.Encode()
	}
	q, err := l.parse(r, now, true)
	if err != nil {
		l.writeError(w, err)
		return
	}
	q.snap.Focus = ends
	snap, err := l.snapshot(r.Context(), &q)
	if err != nil {
		l.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, kiali.Render(Around(snap, focus), &q.kiali))
}

// Around returns the part of s around the nodes focus selects: their edges
// in and out, and, where an injected service node stands in front of a
// focus node, the edges into that service node; for a service node, the
// edges in and out of it. The nodes are those the kept edges join, and the
// focus nodes.
func Around(s *topology.Snapshot, focus func(*topology.Node) bool) *topology.Snapshot {
	in := map[string]bool{}
	for i := range s.Nodes {
		if focus(&s.Nodes[i]) {
			in[s.Nodes[i].ID] = true
		}
	}
	isService := map[string]bool{}
	for i := range s.Nodes {
		if s.Nodes[i].Type == topology.NodeService {
			isService[s.Nodes[i].ID] = true
		}
	}
	front := map[string]bool{} // service nodes in front of a focus node
	for i := range s.Edges {
		e := &s.Edges[i]
		if in[e.Target] && isService[e.Source] && !in[e.Source] {
			front[e.Source] = true
		}
	}
	out := *s
	out.Nodes, out.Edges = nil, nil
	keep := map[string]bool{}
	for i := range s.Edges {
		e := &s.Edges[i]
		if in[e.Source] || in[e.Target] || front[e.Target] {
			out.Edges = append(out.Edges, *e)
			keep[e.Source], keep[e.Target] = true, true
		}
	}
	for i := range s.Nodes {
		if keep[s.Nodes[i].ID] || in[s.Nodes[i].ID] {
			out.Nodes = append(out.Nodes, s.Nodes[i])
		}
	}
	return &out
}
