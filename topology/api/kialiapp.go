package api

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
)

// The endpoints Kiali's UI calls on its graph, node-graph and side-panel
// paths besides the graph itself, answered from meshlens's own state
// (docs/api.md lists each with its source in Kiali; docs/kiali.md).

// KialiSettings are what the Kiali endpoints say of the server.
type KialiSettings struct {
	// AuthStrategy is the strategy /api/auth/info announces: "anonymous"
	// (no api_auth, or basic auth the browser supplies) or "header" (a
	// bearer token a proxy in front adds).
	AuthStrategy string
	// Username is the session's user name (basic auth), if any.
	Username string
	// Version is meshlens's version, shown in the UI's About box.
	Version string
}

func (l *Live) kialiRoutes(mux *http.ServeMux, now func() time.Time) {
	ks := l.opts.Kiali
	if ks.AuthStrategy == "" {
		ks.AuthStrategy = "anonymous"
	}
	static := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, v) }
	}
	session := func(w http.ResponseWriter, _ *http.Request) {
		user := cmp.Or(ks.Username, "anonymous")
		writeJSON(w, http.StatusOK, map[string]string{
			"username": user, "expiresOn": now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
		})
	}
	mux.HandleFunc("GET /api/auth/info", func(w http.ResponseWriter, _ *http.Request) {
		info := map[string]any{"strategy": ks.AuthStrategy, "sessionInfo": map[string]string{}}
		if ks.Username != "" {
			info["sessionInfo"] = map[string]string{"username": ks.Username}
		}
		writeJSON(w, http.StatusOK, info)
	})
	mux.HandleFunc("GET /api/authenticate", session)
	mux.HandleFunc("POST /api/authenticate", session)
	mux.HandleFunc("GET /api/logout", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /api/config", static(l.kialiConfig()))
	mux.HandleFunc("GET /api/status", static(map[string]any{
		"status": map[string]string{
			"Kiali state": "running", "Kiali core version": "meshlens " + cmp.Or(ks.Version, "dev"),
			"Kiali core commit hash": "", "Kiali container version": "",
		},
		"externalServices": []any{}, "warningMessages": []string{},
	}))
	// meshlens links to no tracing or Grafana from the UI, checks no Istio
	// configuration and grants no write access.
	mux.HandleFunc("GET /api/jaeger", static(map[string]any{
		"enabled": false, "integration": false, "url": "", "namespaceSelector": true, "whiteListIstioSystem": []string{},
	}))
	mux.HandleFunc("GET /api/grafana", static(map[string]any{"externalLinks": []any{}}))
	mux.HandleFunc("GET /api/istio/status", static([]any{}))
	mux.HandleFunc("GET /api/istio/permissions", func(w http.ResponseWriter, r *http.Request) {
		perms := map[string]any{}
		for ns := range strings.SplitSeq(r.URL.Query().Get("namespaces"), ",") {
			if ns != "" {
				perms[ns] = map[string]bool{"create": false, "update": false, "delete": false}
			}
		}
		writeJSON(w, http.StatusOK, perms)
	})
	mux.HandleFunc("GET /api/mesh/tls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "MTLS_NOT_ENABLED", "autoMTLSEnabled": false, "minTLS": ""})
	})
	mux.HandleFunc("GET /api/namespaces/{ns}/tls", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "MTLS_NOT_ENABLED", "autoMTLSEnabled": false, "minTLS": ""})
	})
	// meshlens holds no Istio configuration: nothing to validate.
	mux.HandleFunc("GET /api/namespaces/{ns}/validations", static(map[string]int{"errors": 0, "objectCount": 0, "warnings": 0}))
	mux.HandleFunc("GET /api/namespaces", func(w http.ResponseWriter, _ *http.Request) { l.serveNamespaces(w, now()) })
	mux.HandleFunc("GET /api/namespaces/{ns}/health", func(w http.ResponseWriter, r *http.Request) { l.serveNamespaceHealth(w, r, now()) })
	for _, kind := range []string{"apps", "services", "workloads"} {
		mux.HandleFunc("GET /api/namespaces/{ns}/"+kind+"/{name}/health", func(w http.ResponseWriter, r *http.Request) {
			l.serveNodeHealth(w, r, now(), kind)
		})
	}
}

// kialiConfig is Kiali's public configuration (kiali/kiali
// handlers/config.go PublicConfig) as far as the UI reads it: the health
// tolerances are Kiali's defaults, and the "Prometheus retention" is the
// longest window, so that the UI offers no duration meshlens cannot answer.
func (l *Live) kialiConfig() map[string]any {
	return map[string]any{
		"clusters":                 map[string]any{},
		"extensions":               map[string]any{"iter8": map[string]any{"enabled": false, "namespace": ""}},
		"healthConfig":             kiali.DefaultHealthConfig(),
		"installationTag":          "meshlens",
		"istioAnnotations":         map[string]string{"istioInjectionAnnotation": "sidecar.istio.io/inject"},
		"istioIdentityDomain":      "svc.cluster.local",
		"istioNamespace":           "istio-system",
		"istioComponentNamespaces": map[string]string{},
		"istioLabels":              map[string]string{"appLabelName": "app", "injectionLabelName": "istio-injection", "versionLabelName": "version"},
		"istioConfigMap":           "istio",
		"kialiFeatureFlags":        map[string]any{"istioInjectionAction": false, "uiDefaults": map[string]any{}},
		"prometheus": map[string]int64{
			"globalScrapeInterval": 15, "storageTsdbRetention": int64(l.longestWindow() / time.Second),
		},
	}
}

// namespace is Kiali's models.Namespace, as far as meshlens knows one.
type namespace struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// serveNamespaces lists the namespaces of the nodes meshlens holds (idle
// edges included), sorted; "unknown" is not a namespace.
func (l *Live) serveNamespaces(w http.ResponseWriter, now time.Time) {
	snap, err := l.Snapshot(now, topology.SnapshotOptions{Windows: []time.Duration{l.longestWindow()}, IncludeIdle: true})
	if err != nil {
		l.writeError(w, err)
		return
	}
	var names []string
	for i := range snap.Nodes {
		if ns := snap.Nodes[i].Namespace; ns != "" && ns != "unknown" && !slices.Contains(names, ns) {
			names = append(names, ns)
		}
	}
	slices.Sort(names)
	out := make([]namespace, 0, len(names))
	for _, n := range names {
		out = append(out, namespace{Name: n, Labels: map[string]string{}})
	}
	writeJSON(w, http.StatusOK, out)
}

// healthSnapshots returns the snapshots health of kind is computed from:
// the graph at the kind's granularity over the rate interval, and the
// workload graph (for an app's workloads).
func (l *Live) healthSnapshots(r *http.Request, now time.Time, kind, ns string) (s, workloads *topology.Snapshot, err error) {
	if !validNamespace(ns) {
		return nil, nil, badf("invalid namespace %q", ns)
	}
	d := min(10*time.Minute, l.longestWindow())
	if raw := r.URL.Query().Get("rateInterval"); raw != "" {
		pd, err := model.ParseDuration(raw)
		if err != nil || pd <= 0 {
			return nil, nil, badf("invalid rateInterval %q: want a duration such as 60s", raw)
		}
		if d = time.Duration(pd); d > l.longestWindow() {
			return nil, nil, badf("rateInterval %s exceeds the longest window (%s)", d, l.longestWindow())
		}
	}
	g := topology.Workload
	switch kind {
	case "app":
		g = topology.App
	case "service":
		g = topology.Service
	case "workload":
	default:
		return nil, nil, badf("invalid type %q: want app, service or workload", kind)
	}
	o := topology.SnapshotOptions{Granularity: g, Namespaces: []string{ns}, Windows: []time.Duration{d}, IncludeIdle: true}
	if s, err = l.Snapshot(now, o); err != nil {
		return nil, nil, err
	}
	if kind == "app" {
		o.Granularity = topology.Workload
		if workloads, err = l.Snapshot(now, o); err != nil {
			return nil, nil, err
		}
	}
	return s, workloads, nil
}

func (l *Live) serveNamespaceHealth(w http.ResponseWriter, r *http.Request, now time.Time) {
	ns := r.PathValue("ns")
	kind := cmp.Or(r.URL.Query().Get("type"), "app")
	s, wl, err := l.healthSnapshots(r, now, kind, ns)
	if err != nil {
		l.writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, kiali.NamespaceHealth(s, wl, ns, kind))
}

// serveNodeHealth answers the health of one app, service or workload
// (Kiali's /api/namespaces/{ns}/{apps|services|workloads}/{name}/health);
// one meshlens has not seen has no requests.
func (l *Live) serveNodeHealth(w http.ResponseWriter, r *http.Request, now time.Time, kinds string) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	kind := strings.TrimSuffix(kinds, "s")
	s, wl, err := l.healthSnapshots(r, now, kind, ns)
	if err != nil {
		l.writeError(w, err)
		return
	}
	if h, ok := kiali.NamespaceHealth(s, wl, ns, kind)[name]; ok {
		writeJSON(w, http.StatusOK, h)
		return
	}
	writeJSON(w, http.StatusOK, kiali.EmptyHealth(kind, name))
}
