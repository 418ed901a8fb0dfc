package api

import "net/http"

// ProxySource is what GET /api/v1/proxies needs: the telemetry
// completeness of the proxies of one workload. The hub implements it with
// its completeness tracker (exporters/completeness); this package does not
// depend on it.
type ProxySource interface {
	Proxies(q ProxyQuery) ProxyReport
}

// ProxySourceFunc adapts a function to a ProxySource.
type ProxySourceFunc func(q ProxyQuery) ProxyReport

// Proxies calls f.
func (f ProxySourceFunc) Proxies(q ProxyQuery) ProxyReport { return f(q) }

var _ ProxySource = ProxySourceFunc(nil)

// ProxyQuery names a workload as the graph's nodes do ("unknown" for what
// its proxies' identity does not say); an empty Cluster matches every
// cluster.
type ProxyQuery struct {
	Cluster, Namespace, Workload string
}

// ProxyReport is the answer of GET /api/v1/proxies.
type ProxyReport struct {
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	// IncompleteBelow is the ratio below which a proxy is "incomplete" (the
	// threshold of the alert rule MeshlensProxyTelemetryIncomplete).
	IncompleteBelow float64 `json:"incompleteBelow"`
	// Proxies are the workload's proxies by node id: at most as many as the
	// source tracks.
	Proxies []ProxyTelemetry `json:"proxies"`
}

// Proxy states.
const (
	ProxyComplete   = "complete"
	ProxyIncomplete = "incomplete"
	// ProxyNoCounters: the proxy sent no gRPC access logger counters over
	// the Metrics Service, so there is nothing to set its entries against.
	ProxyNoCounters = "no_counters"
)

// ProxyTelemetry is one proxy's telemetry completeness.
type ProxyTelemetry struct {
	NodeID  string `json:"nodeId"`
	Cluster string `json:"cluster"`
	// State is ProxyComplete, ProxyIncomplete or ProxyNoCounters.
	State string `json:"state"`
	// Received is every entry meshlens took from the proxy since it began
	// tracking it.
	Received uint64 `json:"received"`
	// Envoy is nil when the proxy sent no logger counters.
	Envoy *EnvoyCounters `json:"envoy,omitempty"`
}

// EnvoyCounters are a proxy's gRPC access logger counters, as its Envoy
// reported them over the Metrics Service, against what meshlens received
// over the same time: since meshlens first got them, or since the Envoy
// restarted.
type EnvoyCounters struct {
	Written uint64 `json:"written"`
	Dropped uint64 `json:"dropped"`
	// Received is the entries meshlens took from the proxy over the same
	// time.
	Received uint64 `json:"received"`
	// Missing is written plus dropped minus received, at least 0.
	Missing uint64 `json:"missing"`
	// Ratio is received over written plus dropped, at most 1 (1 when both
	// are 0).
	Ratio float64 `json:"ratio"`
}

func (l *Live) proxyRoutes(mux *http.ServeMux) {
	src := l.opts.Proxies
	if src == nil {
		return
	}
	mux.HandleFunc("GET /api/v1/proxies", func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.URL.RawQuery); n > maxQueryBytes {
			l.writeError(w, badf("query string of %d bytes: at most %d", n, maxQueryBytes))
			return
		}
		v := r.URL.Query()
		q := ProxyQuery{Cluster: v.Get("cluster"), Namespace: v.Get("namespace"), Workload: v.Get("workload")}
		if q.Namespace == "" || q.Workload == "" {
			l.writeError(w, badf("namespace and workload are required: the workload's namespace and name, as in the graph's nodes"))
			return
		}
		rep := src.Proxies(q)
		rep.Cluster, rep.Namespace, rep.Workload = q.Cluster, q.Namespace, q.Workload
		if rep.Proxies == nil {
			rep.Proxies = []ProxyTelemetry{}
		}
		writeJSON(w, http.StatusOK, rep)
	})
}
