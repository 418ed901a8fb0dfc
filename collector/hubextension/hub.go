package hubextension

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/completeness"
	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/exporters/spans"
	"github.com/meshlens/meshlens/topology/api"
	"github.com/meshlens/meshlens/topology/web"
)

// aggregation is what the hub needs of each aggregation it feeds (the Istio
// series, the graph, the span metrics). Every aggregation follows one lock
// convention (docs/adr/0009-layers-and-lock-convention.md): its core takes
// no lock and its adapter, the type the hub holds, owns the lock(s), so the
// hub never locks for it. Records are valid only during the call; local is
// the batch's per-stream handle (accesslog.Consumer).
type aggregation interface {
	ConsumeRecords(recs []accesslog.Record, local *accesslog.StreamLocal, now time.Time)
	// Expire removes what has been idle too long and returns how much.
	Expire(now time.Time) int
}

// Hub is the meshlens extension.
type Hub struct {
	cfg *Config
	set extension.Settings
	now func() time.Time
	reg *prometheus.Registry // the hub's own metrics and the receivers'
	// gatherers are what /metrics serves before the Istio series, gathered
	// one at a time: reg, the span metrics' registry, envoy_*'s.
	gatherers     []prometheus.Gatherer
	scrapesFailed prometheus.Counter

	aggs    []aggregation // agg, graph, span metrics, completeness, in this order
	records prometheus.Counter
	agg     *istiometrics.Aggregator
	envoy   *envoystats.Locked
	// complete sets each proxy's entries against its Envoy's logger stats.
	complete *completeness.Locked
	graph    *api.Live
	// spans is the span pipeline records of the other ingest paths are
	// offered to (spans.go).
	spans spansRef
	// rw is the remote-write sender, nil when remote_write is off.
	rw *rwSender

	stop     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	ready    map[string]bool
	server   *http.Server
	rwCancel context.CancelFunc // ends the remote-write sender
	mux      *http.ServeMux
	serveWG  sync.WaitGroup
}

var _ extension.Extension = (*Hub)(nil)

func newHub(cfg *Config, set extension.Settings, now func() time.Time) (*Hub, error) {
	reg := prometheus.NewRegistry()
	h := &Hub{
		cfg:   cfg,
		set:   set,
		now:   now,
		reg:   reg,
		ready: map[string]bool{},
		mux:   http.NewServeMux(),
		records: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_hub_records_total", Help: "Records handed to the hub's aggregations.",
		}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		h.records,
	)
	h.complete = completeness.NewLocked(maxCompletenessProxies, cmp.Or(cfg.Metrics.SeriesTTL, 10*time.Minute), cfg.EnvoyStats.CountersAsDeltas)
	ks := cfg.Auth.kialiSettings()
	ks.Version = set.BuildInfo.Version
	graph, err := api.NewLive(cfg.Topology, api.Options{Start: now(), Kiali: ks, Proxies: proxySource{h.complete}})
	if err != nil {
		return nil, fmt.Errorf("create topology: %w", err)
	}
	h.graph = graph
	h.agg = istiometrics.New(cfg.Metrics)
	h.envoy = envoystats.NewLocked(cfg.EnvoyStats)
	spm := spans.NewLocked(cfg.spanMetricsConfig(), now)
	reg.MustRegister(h.envoy.SelfMetrics())
	// The span metrics' and envoy_*'s registries are read by the scrape
	// and by the remote-write sender.
	spmReg, envoyReg := newRegistryOf(spm), newRegistryOf(h.envoy)
	h.gatherers = []prometheus.Gatherer{reg, spmReg, envoyReg}
	reg.MustRegister(h.complete)
	h.aggs = []aggregation{h.agg, h.graph, spm, h.complete}
	h.stop = make(chan struct{})
	h.registerSelfMetrics()
	if cfg.RemoteWrite.Enabled() {
		src := rwSources{istio: h.agg, envoy: envoyReg, spanMetric: spmReg}
		rw, err := newRWSender(&cfg.RemoteWrite, src, cfg.Metrics.NativeHistograms.Enabled, reg, set.Logger, now, set.BuildInfo.Version)
		if err != nil {
			return nil, err
		}
		h.rw = rw
	}
	return h, nil
}

// maxCompletenessProxies bounds the proxies whose completeness is tracked
// (as the receiver's max_streams default).
const maxCompletenessProxies = 10_000

// newRegistryOf returns a registry holding c alone.
func newRegistryOf(c prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}

// Registerer returns the hub's private registry, served on /metrics.
func (h *Hub) Registerer() prometheus.Registerer { return h.reg }

// ConsumeRecords implements accesslog.Consumer for every ingest path: it
// hands the batch to every aggregation. A record's labels are its own: the
// other report of the same hop never changes them (docs/adr/0003).
func (h *Hub) ConsumeRecords(_ context.Context, local *accesslog.StreamLocal, recs []accesslog.Record) error {
	now := h.now()
	for _, a := range h.aggs {
		a.ConsumeRecords(recs, local, now)
	}
	h.records.Add(float64(len(recs)))
	return nil
}

var _ accesslog.Consumer = (*Hub)(nil)

// ConsumeEnvoyStats implements alsreceiver.EnvoyStatsSink: Envoy's own
// stats are re-exposed as envoy_* series labelled with the sending node.
func (h *Hub) ConsumeEnvoyStats(p *accesslog.Proxy, fams []*dto.MetricFamily, now time.Time) {
	h.envoy.Observe(envoystats.NodeIdentity{
		ID: p.NodeID, Cluster: p.NodeCluster, Namespace: p.Workload.Namespace, Workload: p.Workload.Name, Pod: p.Pod,
	}, fams, now)
	h.complete.ObserveStats(p, fams, now)
}

// SetReady records whether a component is ready; /readyz answers 200 when
// every component that reported is ready and at least one did.
func (h *Hub) SetReady(name string, ready bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ready[name] = ready
}

// Start binds the HTTP port and serves in the background.
func (h *Hub) Start(ctx context.Context, host component.Host) error {
	h.mux.HandleFunc(h.cfg.MetricsPath, h.serveMetrics)
	apiHandler := h.graph.Handler(h.now)
	h.mux.Handle("/api/", apiHandler)
	// Kiali's UI calls the API under its web root: <web_root>/api/….
	h.mux.Handle(h.cfg.Kiali.WebRoot+"/api/", http.StripPrefix(h.cfg.Kiali.WebRoot, apiHandler))
	if h.cfg.Kiali.UIDir != "" {
		ui, err := newKialiUI(h.cfg.Kiali.UIDir, h.cfg.Kiali.WebRoot)
		if err != nil {
			return err
		}
		h.mux.Handle(h.cfg.Kiali.WebRoot+"/", ui)
		h.mux.Handle(h.cfg.Kiali.WebRoot, http.RedirectHandler(h.cfg.Kiali.WebRoot+"/", http.StatusFound))
	}
	h.mux.Handle("/", web.Handler()) // the graph page at "/" and its /assets/
	h.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("/readyz", h.readyz)

	if h.rw != nil {
		// The client first: it starts nothing, so there is nothing to undo
		// if listening fails.
		if err := h.rw.start(ctx, host, h.set.TelemetrySettings); err != nil {
			return err
		}
	}
	ln, err := h.cfg.HTTP.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", h.cfg.HTTP.NetAddr.Endpoint, err)
	}
	srv, err := h.cfg.HTTP.ToServer(ctx, host.GetExtensions(), h.set.TelemetrySettings, secure(h.cfg.Auth, h.mux))
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("create HTTP server: %w", err)
	}
	h.mu.Lock()
	h.server = srv
	if h.rw != nil {
		// Background work gets its own cancellation: Start's context ends
		// when Start returns.
		rwCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.rwCancel = cancel
		h.serveWG.Go(func() { h.rw.run(rwCtx) })
	}
	h.mu.Unlock()
	h.set.Logger.Info("meshlens HTTP server started", zap.String("endpoint", ln.Addr().String()),
		zap.String("metrics_path", h.cfg.MetricsPath))
	h.serveWG.Add(2)
	go func() {
		defer h.serveWG.Done()
		h.expireLoop()
	}()
	go func() {
		defer h.serveWG.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
		}
	}()
	return nil
}

func (h *Hub) readyz(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	var notReady []string
	for name, ok := range h.ready {
		if !ok {
			notReady = append(notReady, name)
		}
	}
	n := len(h.ready)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	switch {
	case n == 0:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("no receiver is running\n"))
	case len(notReady) > 0:
		sort.Strings(notReady)
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "not ready: %s\n", strings.Join(notReady, ", "))
	default:
		_, _ = w.Write([]byte("ok\n"))
	}
}

// expireLoop drops idle series and edges.
func (h *Hub) expireLoop() {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			now := h.now()
			for _, a := range h.aggs {
				a.Expire(now)
			}
			h.envoy.Expire(now)
		}
	}
}

// Shutdown stops the HTTP server and the expiry loop. It is safe without
// Start and idempotent.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() { close(h.stop) })
	// Ends the push streams first: they never go idle on their own.
	_ = h.graph.Close()
	h.mu.Lock()
	srv := h.server
	h.server = nil
	if h.rwCancel != nil {
		h.rwCancel() // a push under way ends at once
		h.rwCancel = nil
	}
	h.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	h.serveWG.Wait()
	var m dto.Metric
	_ = h.records.Write(&m)
	h.set.Logger.Info("meshlens HTTP server stopped", zap.Float64("records_aggregated", m.GetCounter().GetValue()))
	return err
}
