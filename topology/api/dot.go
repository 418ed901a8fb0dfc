package api

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/meshlens/meshlens/topology"
)

// DOT renders a snapshot as a Graphviz digraph, with the first window's
// stats on the edges. The output is deterministic.
func DOT(s *topology.Snapshot) []byte {
	var b bytes.Buffer
	win := ""
	if len(s.Windows) > 0 {
		win = s.Windows[0].Name
	}
	fmt.Fprintf(&b, "digraph meshlens {\n")
	fmt.Fprintf(&b, "  graph [rankdir=LR, label=%s];\n", quote(fmt.Sprintf("meshlens %s graph, %s window at %s",
		s.Granularity, win, s.Time.UTC().Format("2006-01-02T15:04:05Z"))))
	fmt.Fprintf(&b, "  node [shape=box, fontname=Helvetica];\n  edge [fontname=Helvetica, fontsize=10];\n")
	for _, n := range s.Nodes {
		name := n.Workload
		switch n.Type {
		case topology.NodeService:
			name = n.Service
		case topology.NodeApp:
			name = n.App
			if n.Version != "" {
				name += " " + n.Version
			}
		}
		shape := "box"
		switch n.Type {
		case topology.NodeService:
			shape = "ellipse"
		case topology.NodeUnknown:
			shape = "diamond"
		}
		fmt.Fprintf(&b, "  %s [label=%s, shape=%s];\n", quote(n.ID), quote(n.Namespace+"/"+name+"\n"+string(n.Type)), shape)
	}
	for _, e := range s.Edges {
		label := e.Protocol
		if len(e.Stats) > 0 {
			st := &e.Stats[0]
			if e.Protocol == "tcp" {
				label += fmt.Sprintf(" %.0f B/s", st.BytesOutRate+st.BytesInRate)
			} else {
				label += fmt.Sprintf(" %.2f rps, %.1f%% err", st.RequestRate, st.ErrorPercent)
				if st.Latency != nil {
					label += fmt.Sprintf("\np95 %.0f ms", st.Latency.P95)
				}
			}
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", quote(e.Source), quote(e.Target), quote(label))
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// quote returns a DOT double-quoted string.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
