package layering

import (
	"fmt"
	"slices"
	"strings"
)

// Module is the meshlens module path.
const Module = "github.com/meshlens/meshlens"

// layer is one layer of the tree: the packages under its prefixes, the
// meshlens packages they may import (by prefix), and, for pure cores, the
// other packages they must not import.
type layer struct {
	name     string
	prefixes []string // module-relative; "x" matches x and x/...
	exact    []string // module-relative packages matched exactly
	may      []string // module-relative prefixes it may import
	mayExact []string // module-relative packages it may import
	core     bool     // a pure core: no I/O, servers, logging or metrics
}

// layers, most specific first: a package belongs to the first layer that
// names it.
var layers = []layer{
	{
		name: "ingest core", prefixes: []string{"accesslog"},
		may: []string{"accesslog"}, core: true,
	},
	{
		name: "topology core", exact: []string{"topology"},
		prefixes: []string{"topology/internal/hist", "topology/internal/promql", "topology/internal/window", "topology/internal/kiali"},
		may:      []string{"accesslog", "topology/internal"}, mayExact: []string{"topology"}, core: true,
	},
	{
		name: "topology adapters", prefixes: []string{"topology"},
		may: []string{"accesslog", "topology"},
	},
	{
		// The remote-write encoder (ADR 0013): pure, imported by the
		// aggregations' remote-write readers.
		name: "remote-write encoder core", exact: []string{"exporters/remotewrite"},
		core: true,
	},
	{
		name: "aggregations and exporters", prefixes: []string{"exporters"},
		may: []string{"accesslog", "exporters"},
	},
	{
		name: "traffic simulator", prefixes: []string{"loadgen"},
		may: []string{"loadgen"},
	},
	{
		name: "test support", prefixes: []string{"internal"},
		may: []string{"accesslog", "loadgen", "internal"}, mayExact: []string{"topology"},
	},
	{
		// The HTTP/2 and gRPC framing of the receiver's event loops (ADR
		// 0014): pure, driven by the loops in the receiver.
		name: "HTTP/2 and gRPC core", exact: []string{"collector/alsreceiver/internal/h2grpc"},
		core: true,
	},
	{
		name: "collector components and wiring", prefixes: []string{"collector"},
		may: []string{"accesslog", "exporters", "topology", "collector", "loadgen"},
	},
	{
		name: "commands", prefixes: []string{"cmd"},
		may: []string{"collector"},
	},
	{
		name: "end-to-end tests", prefixes: []string{"e2e"},
		may: []string{""},
	},
}

// coreForbidden are the imports a pure core may not have: they do I/O,
// serve or dial, log, or register metrics (prefixes; "x" matches x and x/...).
var coreForbidden = []string{
	"net", "os", "log", "syscall", "runtime/debug", "io/fs",
	"google.golang.org/grpc",
	"go.opentelemetry.io/collector/component", "go.opentelemetry.io/collector/consumer",
	"go.opentelemetry.io/collector/receiver", "go.opentelemetry.io/collector/extension",
	"go.opentelemetry.io/collector/pdata",
	"github.com/prometheus/client_golang", "go.uber.org/zap",
}

// coreAllowed are exceptions to coreForbidden: packages under a forbidden
// prefix that do no I/O.
var coreAllowed = []string{"net/url", "go.opentelemetry.io/collector/config/configopaque"}

func under(pkg, prefix string) bool {
	return prefix == "" || pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

func layerOf(rel string) (*layer, bool) {
	for i := range layers {
		l := &layers[i]
		if slices.Contains(l.exact, rel) {
			return l, true
		}
		for _, p := range l.prefixes {
			if under(rel, p) {
				return l, true
			}
		}
	}
	return nil, false
}

// check returns one violation per import of pkg (a full import path) that
// its layer does not allow.
func check(pkg string, imports []string) []string {
	rel, ok := strings.CutPrefix(pkg, Module+"/")
	if !ok {
		return nil
	}
	l, ok := layerOf(rel)
	if !ok {
		return []string{fmt.Sprintf("%s: in no layer: add it to internal/layering/rules.go and the ADR", rel)}
	}
	var out []string
	for _, imp := range imports {
		if irel, ok := strings.CutPrefix(imp, Module+"/"); ok {
			if !slices.Contains(l.mayExact, irel) && !slices.ContainsFunc(l.may, func(p string) bool { return under(irel, p) }) {
				out = append(out, fmt.Sprintf("%s (%s) imports %s", rel, l.name, irel))
			}
			continue
		}
		if !l.core || slices.Contains(coreAllowed, imp) {
			continue
		}
		if slices.ContainsFunc(coreForbidden, func(p string) bool { return under(imp, p) }) {
			out = append(out, fmt.Sprintf("%s (%s, a pure core) imports %s", rel, l.name, imp))
		}
	}
	return out
}
