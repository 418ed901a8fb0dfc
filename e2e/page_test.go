package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// browser starts a headless Chromium (Debian's) with a fresh profile and
// returns a tab and the console messages of type error or exception seen so
// far. Everything is stopped when the test ends.
func browser(t *testing.T, chromium string) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Nothing may go to the network: the test machine has none.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1600, 1000),
	)
	// A bound for everything the browser does, so that a hang fails the test.
	parent, cancelParent := context.WithTimeout(context.Background(), 4*time.Minute)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit and removes its profile
		cancelParent()
	})
	return ctx, watchConsole(ctx, t)
}

// watchConsole sizes the tab of ctx and returns the console errors and
// exceptions it logged so far.
func watchConsole(ctx context.Context, t *testing.T) func() []string {
	t.Helper()
	var (
		mu       sync.Mutex
		problems []string
	)
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				problems = append(problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				mu.Unlock()
			}
		}
	}()
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(1600, 1000)))
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(problems)
	}
}

// pageState is what the graph page has drawn.
type pageState struct {
	Conn   string            `json:"conn"`
	Empty  bool              `json:"empty"`
	Nodes  []string          `json:"nodes"`
	Edges  []string          `json:"edges"`
	Labels map[string]string `json:"labels"`
	Kind   string            `json:"kind"`
	ID     string            `json:"id"`
	Hash   string            `json:"hash"`
}

const pageStateJS = `(() => {
	const q = (s) => [...document.querySelectorAll(s)];
	const d = document.getElementById('details');
	return {
		conn: document.getElementById('status').dataset.conn,
		empty: !document.getElementById('empty').hidden,
		nodes: q('#nodes [data-node-id]').map((e) => e.dataset.nodeId),
		edges: q('#edges [data-edge-id]').map((e) => e.dataset.edgeId),
		labels: Object.fromEntries(q('#labels [data-edge-id]').map((e) => [e.dataset.edgeId, e.textContent])),
		kind: d.dataset.kind,
		id: d.dataset.id || '',
		hash: location.hash,
	};
})()`

// pollPage polls the page until ok accepts its state or timeout passes; it
// returns the last state.
func pollPage(ctx context.Context, t *testing.T, timeout time.Duration, ok func(pageState) bool) (pageState, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](pageStateJS))
		require.NoError(t, err)
		if ok(st) {
			return st, true
		}
		if time.Now().After(deadline) {
			return st, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitPage polls the page until ok accepts its state, or fails the test.
func waitPage(ctx context.Context, t *testing.T, what string, timeout time.Duration, ok func(pageState) bool) pageState {
	t.Helper()
	st, done := pollPage(ctx, t, timeout, ok)
	if !done {
		t.Fatalf("page: %s: not after %s; last state: %+v", what, timeout, st)
	}
	return st
}

// click clicks an element with the mouse until the page shows what it
// should: a live update may move the element between the two steps of a
// click (finding its position, pressing the button).
func click(ctx context.Context, t *testing.T, sel chromedp.CSS, what string, ok func(pageState) bool) {
	t.Helper()
	for attempt := 1; attempt <= 3; attempt++ {
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(sel)))
		if _, done := pollPage(ctx, t, 3*time.Second, ok); done {
			return
		}
		t.Logf("click %d on %s: no %s yet", attempt, sel, what)
	}
	waitPage(ctx, t, what, time.Second, ok)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

var (
	labelRE = regexp.MustCompile(`^[0-9.<k]+ rps · [0-9.<]+% · p99 [0-9.]+ (ms|s)$`)
	rateRE  = regexp.MustCompile(`^([0-9.]+k?)/s$`)
	pctRE   = regexp.MustCompile(`^[0-9.<]+%$`)
	msRE    = regexp.MustCompile(`^[0-9.]+ (ms|s)$`)
)

// TestE2EGraphPage loads the graph page of the real binary in headless
// Chromium, under the hub's security headers: it waits for traffic, then
// follows the push stream while a simulated Bookinfo mesh streams access
// logs, clicks an edge and a node, checks the details (both reporters side
// by side), saves a screenshot (MESHLENS_SCREENSHOT, else a temporary file),
// switches the graph type and window, and reconnects when the server
// restarts.
func TestE2EGraphPage(t *testing.T) {
	chromium := need(t, "chromium")
	start := time.Now()
	m := startMeshlens(t)
	base := "http://" + m.HTTP + "/"

	// The page and its assets are served from the binary.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base, http.NoBody)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
	for _, a := range []string{"assets/app.js", "assets/style.css", "assets/favicon.svg"} {
		code, _, err := httpGet(base+a, "")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, a)
	}

	ctx, problems := browser(t, chromium)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base)))

	// No traffic yet: connected, and saying so.
	waitPage(ctx, t, "live and waiting for traffic", 20*time.Second, func(s pageState) bool {
		return s.Conn == "live" && s.Empty && len(s.Nodes) == 0
	})
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("empty")))
	require.NoError(t, err)
	assert.Contains(t, text, "Waiting for traffic")

	// A simulated Bookinfo mesh streams into meshlens, as Envoys would; the
	// page is not reloaded: what appears comes through the push stream.
	demoCtx, stopDemo := context.WithCancel(context.Background())
	demoDone := make(chan error, 1)
	conn := dial(t, m.GRPC)
	go func() { demoDone <- loadgen.Demo(demoCtx, conn, loadgen.Bookinfo(), 200, time.Now) }()
	t.Cleanup(func() {
		stopDemo()
		assert.NoError(t, <-demoDone)
	})

	const (
		ingress     = "wl_Kubernetes_istio-system_istio-ingressgateway"
		productpage = "wl_Kubernetes_default_productpage-v1"
		reviews2    = "wl_Kubernetes_default_reviews-v2"
		ratings     = "wl_Kubernetes_default_ratings-v1"
	)
	wantNodes := []string{
		ingress, productpage, "wl_Kubernetes_default_details-v1",
		"wl_Kubernetes_default_reviews-v1", reviews2, "wl_Kubernetes_default_reviews-v3", ratings,
		"wl_Kubernetes_default_recommendations-v1", "wl_Kubernetes_default_mongodb-v1",
		"svc_unknown_default_www.googleapis.com", "svc_unknown_unknown_PassthroughCluster",
	}
	edge := productpage + "." + reviews2 + ".http"
	wantEdges := []string{
		ingress + "." + productpage + ".http",
		productpage + ".wl_Kubernetes_default_details-v1.http",
		productpage + ".wl_Kubernetes_default_reviews-v1.http",
		edge,
		productpage + ".wl_Kubernetes_default_reviews-v3.http",
		productpage + ".wl_Kubernetes_default_recommendations-v1.grpc",
		productpage + ".svc_unknown_unknown_PassthroughCluster.http",
		reviews2 + "." + ratings + ".http",
		"wl_Kubernetes_default_reviews-v3." + ratings + ".http",
		ratings + ".wl_Kubernetes_default_mongodb-v1.tcp",
		"wl_Kubernetes_default_details-v1.svc_unknown_default_www.googleapis.com.tcp",
	}
	t0 := time.Now()
	st := waitPage(ctx, t, "Bookinfo nodes and edges drawn", 60*time.Second, func(s pageState) bool {
		return !s.Empty && containsAll(s.Nodes, wantNodes) && containsAll(s.Edges, wantEdges) &&
			labelRE.MatchString(s.Labels[edge]) && labelRE.MatchString(s.Labels[reviews2+"."+ratings+".http"])
	})
	t.Logf("graph drawn %s after the traffic started: %d nodes, %d edges; %s: %q",
		time.Since(t0).Round(time.Millisecond), len(st.Nodes), len(st.Edges), edge, st.Labels[edge])

	// Readable at the default zoom (the graph fitted to the window): the
	// edge labels and node names at least 11 px on screen, and the edges
	// leaving productpage apart from each other, not drawn on top of each
	// other where they leave it.
	textPx, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(() => {
		const px = (sel) => Math.min(...[...document.querySelectorAll(sel)]
			.map((t) => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a));
		return { labels: px('#labels text'), names: px('#nodes .name') };
	})()`))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, textPx["labels"], 10.95, "edge label size on screen, px")
	assert.GreaterOrEqual(t, textPx["names"], 10.95, "node name size on screen, px")
	apart, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`(() => {
		// Where each edge leaving productpage is 15 px (on screen) along
		// its path: the closest two, in px.
		const pts = [...document.querySelectorAll('#edges [data-source="`+productpage+`"] path.line')].map((p) => {
			const m = p.getScreenCTM();
			const at = p.getPointAtLength(15 / m.a);
			return [m.a * at.x + m.e, m.d * at.y + m.f];
		});
		let min = Infinity;
		for (let i = 0; i < pts.length; i++)
			for (let j = i + 1; j < pts.length; j++) min = Math.min(min, Math.hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]));
		return pts.length > 1 ? min : -1;
	})()`))
	require.NoError(t, err)
	t.Logf("on screen: edge labels %.1f px, node names %.1f px; edges leaving productpage %.1f px apart", textPx["labels"], textPx["names"], apart)
	assert.GreaterOrEqual(t, apart, 3.0, "px between the closest two edges leaving productpage, 15 px from it")

	// Click the productpage → reviews-v2 edge (its label: a real mouse click).
	click(ctx, t, chromedp.CSS(`#labels [data-edge-id="`+edge+`"] rect`), "edge details",
		func(s pageState) bool { return s.Kind == "edge" && s.ID == edge })

	// Both reporters side by side, with numbers: rate, error rate, p50/p95/p99
	// (once both have reported: their batches arrive independently).
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#details td[data-side]').length > 0 &&
		!document.querySelector('#details td[data-side].na')`, chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "both sides in the details")
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#details td[data-side]')]
		.map((e) => [e.dataset.side + '.' + e.dataset.metric, e.textContent]))`))
	require.NoError(t, err)
	for _, side := range []string{"client", "server"} {
		rate := cells[side+".rate"]
		mm := rateRE.FindStringSubmatch(rate)
		require.NotNil(t, mm, "%s rate %q", side, rate)
		v, err := strconv.ParseFloat(strings.TrimSuffix(mm[1], "k"), 64)
		require.NoError(t, err)
		assert.Positive(t, v, "%s rate", side)
		assert.Regexp(t, pctRE, cells[side+".errors"], "%s error rate", side)
		for _, q := range []string{"p50", "p95", "p99"} {
			assert.Regexp(t, msRE, cells[side+"."+q], "%s %s", side, q)
		}
	}
	details, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("details")))
	require.NoError(t, err)
	for _, want := range []string{"Client vs server", "source proxy", "destination proxy", "Where the time goes", "Failures only the client saw"} {
		assert.Contains(t, details, want)
	}
	// Where the time goes: client, server and client − server per quantile;
	// and the failures only the client saw.
	timing, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(
		[...document.querySelectorAll('#details .timegrid [data-metric], #details [data-metric="client-only-failures"]')]
		.map((e) => [e.dataset.metric, e.textContent]))`))
	require.NoError(t, err)
	for _, q := range []string{"p50", "p95", "p99"} {
		assert.Regexp(t, msRE, timing["client-"+q], "client %s", q)
		assert.Regexp(t, msRE, timing["server-"+q], "server %s", q)
		assert.Regexp(t, `^[+−][0-9.]+ (ms|s)$`, timing["overhead-"+q], "overhead %s", q)
	}
	assert.NotEmpty(t, timing["client-only-failures"], "client-only failures")

	// The screenshot: the graph with the edge's details. For the README
	// (MESHLENS_SCREENSHOT set), let the traffic run for a full 1m window
	// first.
	path := os.Getenv("MESHLENS_SCREENSHOT")
	if path != "" {
		time.Sleep(time.Until(t0.Add(65 * time.Second)))
	}
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")), "a PNG")
	if path == "" {
		path = filepath.Join(t.TempDir(), "graph.png")
	}
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, shot, 0o644))
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))

	// A node: its traffic in and out.
	click(ctx, t, chromedp.CSS(`#nodes [data-node-id="`+productpage+`"] .shape`), "node details",
		func(s pageState) bool { return s.Kind == "node" && s.ID == productpage })
	details, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("details")))
	require.NoError(t, err)
	for _, want := range []string{"productpage-v1", "Inbound", "Outbound", "istio-ingressgateway", "reviews-v2"} {
		assert.Contains(t, details, want)
	}

	// The same mesh in a second cluster: its nodes differ from the first's
	// only by cluster, so each names its cluster; a node that is the same
	// in both (a host outside the mesh) does not.
	east := loadgen.Bookinfo()
	east.ClusterID = "east"
	_, err = loadgen.Send(context.Background(), conn, east.Generate(loadgen.GenConfig{Seed: 3, Requests: 400, Start: time.Now()}), loadgen.SendOptions{})
	require.NoError(t, err)
	const ratingsEast = "wl_east_default_ratings-v1"
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('#nodes [data-node-id="`+ratingsEast+`"]')`,
		chromedp.WithPollingTimeout(30*time.Second)))
	require.NoError(t, err, "the east cluster's ratings-v1 drawn")
	subs, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll('#nodes [data-node-id]')]
		.map((e) => [e.dataset.nodeId, e.querySelector('.sub').textContent]))`))
	require.NoError(t, err)
	assert.Contains(t, subs[ratingsEast], "cluster east")
	assert.Contains(t, subs[ratings], "cluster Kubernetes")
	passthrough := "svc_unknown_unknown_PassthroughCluster"
	require.Contains(t, subs, passthrough)
	assert.NotRegexp(t, `cluster (east|Kubernetes)`, subs[passthrough], "a node without a twin in another cluster")

	// Other graph type and window: the page reconnects with ?graphType=app.
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.getElementById('graphType');
		s.value = 'app';
		s.dispatchEvent(new Event('change'));
		const w = document.getElementById('window');
		w.value = '10m';
		w.dispatchEvent(new Event('change'));
	})()`)))
	appEdge := "app_Kubernetes_default_productpage.app_Kubernetes_default_reviews.http"
	st = waitPage(ctx, t, "app graph", 30*time.Second, func(s pageState) bool {
		return s.Conn == "live" && slices.Contains(s.Nodes, "app_Kubernetes_default_reviews") &&
			slices.Contains(s.Edges, appEdge) && labelRE.MatchString(s.Labels[appEdge])
	})
	assert.Equal(t, "#graphType=app&window=10m", st.Hash)
	for _, id := range st.Nodes {
		assert.False(t, strings.HasPrefix(id, "wl_Kubernetes_default_"), "workload node %s in the app graph", id)
	}

	assert.Empty(t, problems(), "console errors and exceptions (CSP violations show here)")

	// The server restarts: the page notices, reconnects by itself and draws
	// the new process's graph as the mesh reconnects too. (Chromium logs the
	// refused connections as console errors: checked above, not here.)
	require.NoError(t, m.stop(t, 15*time.Second))
	waitPage(ctx, t, "not live while the server is down", 15*time.Second, func(s pageState) bool { return s.Conn != "live" })
	startProcess(t, "meshlens-restarted", []string{"MESHLENS_GRPC_ENDPOINT=" + m.GRPC, "MESHLENS_HTTP_ENDPOINT=" + m.HTTP}, meshlensBinary(t))
	waitHTTP(t, "http://"+m.HTTP+"/readyz", 30*time.Second)
	t1 := time.Now()
	waitPage(ctx, t, "live again with the restarted server's graph", 45*time.Second, func(s pageState) bool {
		return s.Conn == "live" && slices.Contains(s.Edges, appEdge)
	})
	t.Logf("reconnected and redrawn %s after the restart", time.Since(t1).Round(time.Millisecond))
	t.Logf("page test: %s in all", time.Since(start).Round(time.Millisecond))
}

// TestE2EGraphPageStreamCut opens the page through a reverse proxy that
// cuts the push stream every 2 seconds, as proxies and load balancers cut
// long responses on schedule: the page reconnects by itself and stays
// "live" throughout, never flashing "reconnecting…".
func TestE2EGraphPageStreamCut(t *testing.T) {
	chromium := need(t, "chromium")
	m := startMeshlens(t)
	target, err := url.Parse("http://" + m.HTTP)
	require.NoError(t, err)
	var streams atomic.Int32
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // server-sent events go through at once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/graph/stream" {
			streams.Add(1)
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			r = r.WithContext(ctx)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	ctx, _ := browser(t, chromium)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")))
	waitPage(ctx, t, "live", 20*time.Second, func(s pageState) bool { return s.Conn == "live" })
	// Every status the page shows from now on.
	require.NoError(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		window.connSeen = [];
		const st = document.getElementById('status');
		new MutationObserver(() => window.connSeen.push(st.dataset.conn + ': ' + document.getElementById('statusText').textContent))
			.observe(st, { attributes: true, attributeFilter: ['data-conn'], subtree: true, childList: true, characterData: true });
	})()`)))
	first := streams.Load()
	require.Eventually(t, func() bool { return streams.Load() >= first+3 }, 40*time.Second, 100*time.Millisecond,
		"the page did not reconnect after the cuts")
	st := waitPage(ctx, t, "live after the last cut", 10*time.Second, func(s pageState) bool { return s.Conn == "live" })
	require.Equal(t, "live", st.Conn)
	seen, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.connSeen`))
	require.NoError(t, err)
	for _, s := range seen {
		assert.True(t, strings.HasPrefix(s, "live"), "the page showed %q while the stream was cut and reopened (%d streams)", s, streams.Load())
	}
}

// TestE2EGraphPageCompleteness: the node panel of a workload shows its
// proxies' telemetry completeness. productpage-v1 runs two pods: the Envoy
// of one says its access logger dropped 25 entries (so meshlens received
// fewer than it logged: dropped on purpose), the other sends no Metrics
// Service stats. The panel shows the first incomplete, with the entries
// received, written and dropped and the share seen, and the second without
// counters.
func TestE2EGraphPageCompleteness(t *testing.T) {
	chromium := need(t, "chromium")
	m := startMeshlens(t)
	conn := dial(t, m.GRPC)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 5, Requests: 400, Start: time.Now()})

	// productpage-v1's two proxies, their entries and their identity.
	entries := map[string]int{}
	idents := map[string]*metricsv3.StreamMetricsMessage_Identifier{}
	for _, s := range tr.Streams {
		if !strings.Contains(s.NodeID, "~productpage-v1-") {
			continue
		}
		one := loadgen.Traffic{Streams: []loadgen.Stream{s}}
		entries[s.NodeID] += one.EntryCount()
		if idents[s.NodeID] == nil {
			msgs, err := s.Decode()
			require.NoError(t, err)
			idents[s.NodeID] = &metricsv3.StreamMetricsMessage_Identifier{Node: msgs[0].GetIdentifier().GetNode()}
		}
	}
	nodes := slices.Sorted(maps.Keys(entries))
	require.Len(t, nodes, 2, "productpage-v1's proxies")
	lossy, silent := nodes[0], nodes[1]
	require.Positive(t, entries[lossy])
	require.Positive(t, entries[silent])

	// The lossy proxy's first report is the base (Envoy had logged 1,000
	// entries before); then meshlens gets every entry of the mesh, and the
	// Envoy's next report counts its entries and 25 more it dropped.
	ms, err := metricsv3.NewMetricsServiceClient(conn).StreamMetrics(context.Background())
	require.NoError(t, err)
	require.NoError(t, ms.Send(loggerStats(idents[lossy], 1000, 0)))
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(fmt.Sprintf(`meshlens_proxy_telemetry_completeness_ratio{node_id=%q}`, lossy))
		return err == nil && v[0] == 1
	}, 30*time.Second, 50*time.Millisecond, "the base report arrived")
	_, err = loadgen.Send(context.Background(), conn, tr, loadgen.SendOptions{})
	require.NoError(t, err)
	const dropped = 25
	require.NoError(t, ms.Send(loggerStats(idents[lossy], 1000+float64(entries[lossy]), dropped)))
	_, err = ms.CloseAndRecv()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(fmt.Sprintf(`meshlens_proxy_entries_missing{node_id=%q}`, lossy))
		return err == nil && v[0] == dropped
	}, 30*time.Second, 50*time.Millisecond, "the second report arrived")

	ctx, problems := browser(t, chromium)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("http://"+m.HTTP+"/")))
	const productpage = "wl_Kubernetes_default_productpage-v1"
	waitPage(ctx, t, "productpage drawn", 30*time.Second, func(s pageState) bool { return slices.Contains(s.Nodes, productpage) })
	click(ctx, t, chromedp.CSS(`#nodes [data-node-id="`+productpage+`"] .shape`), "node details",
		func(s pageState) bool { return s.Kind == "node" && s.ID == productpage })
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#details tr[data-proxy]').length === 2`,
		chromedp.WithPollingTimeout(15*time.Second)))
	require.NoError(t, err, "the node panel lists productpage-v1's two proxies")

	type row struct {
		State string            `json:"state"`
		Name  string            `json:"name"`
		Cells map[string]string `json:"cells"`
	}
	var got struct {
		Rows    map[string]row `json:"rows"`
		Warning string         `json:"warning"`
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]row](`Object.fromEntries([...document.querySelectorAll('#details tr[data-proxy]')]
		.map((tr) => [tr.dataset.proxy, {
			state: tr.dataset.state,
			name: tr.querySelector('td.proxy').textContent,
			cells: Object.fromEntries([...tr.querySelectorAll('td[data-metric]')].map((td) => [td.dataset.metric, td.textContent])),
		}]))`))
	require.NoError(t, err)
	got.Rows = rows
	got.Warning, err = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#details [data-telemetry="incomplete"]') || {}).textContent || ''`))
	require.NoError(t, err)

	n := entries[lossy]
	assert.Equal(t, row{State: "incomplete", Name: podOf(lossy), Cells: map[string]string{
		"received": count(n), "written": count(n), "dropped": "25",
		"ratio": strconv.FormatFloat(math.Floor(1000*float64(n)/float64(n+dropped)+1e-6)/10, 'f', -1, 64) + "%",
	}}, got.Rows[lossy], "the proxy that dropped entries")
	assert.Equal(t, row{State: "no_counters", Name: podOf(silent), Cells: map[string]string{
		"received": count(entries[silent]), "no-counters": "no Envoy counters received",
	}}, got.Rows[silent], "the proxy without Metrics Service stats")
	assert.Contains(t, got.Warning, "1 of 2 proxies incomplete")
	assert.Contains(t, got.Warning, "less than 99%")
	assert.Contains(t, got.Warning, "MeshlensProxyTelemetryIncomplete")

	if path := os.Getenv("MESHLENS_SCREENSHOT_NODE"); path != "" {
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, shot, 0o644))
		t.Logf("screenshot: %s (%d bytes)", path, len(shot))
	}
	assert.Empty(t, problems(), "console errors and exceptions")
}

// podOf is the pod of an Istio node id, as the page shows it.
func podOf(node string) string {
	pod := strings.Split(node, "~")[2]
	return pod[:strings.LastIndexByte(pod, '.')]
}

// count formats n as the page does (en-US digit groups).
func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
