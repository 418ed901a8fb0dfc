package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// kialiUI fetches Kiali's web UI once (scripts/kiali-ui.sh) and returns
// its directory.
var kialiUI = sync.OnceValues(func() (string, error) {
	cmd := exec.CommandContext(context.Background(), "bash", "../scripts/kiali-ui.sh")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scripts/kiali-ui.sh: %w\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
})

// kialiUIBuild returns Kiali's web UI as published on npm, fetched by
// scripts/kiali-ui.sh into a cache directory the first time. Without npm
// (or the network) it skips outside CI and fails in CI, like need.
func kialiUIBuild(t *testing.T) string {
	t.Helper()
	path, err := kialiUI()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Kiali's UI is not installed: .ci/run must fetch it: %v", err)
		}
		t.Skipf("Kiali's UI (@kiali/kiali-ui from npm) is not available: %v", err)
	}
	return path
}

// netLog records every response and failed load the browser sees.
type netLog struct {
	mu     sync.Mutex
	byID   map[network.RequestID]string
	events []netEvent
}

type netEvent struct {
	URL    string
	Status int64
	Failed string
}

func (n *netLog) listen(ctx context.Context) error {
	n.mu.Lock()
	if n.byID == nil {
		n.byID = map[network.RequestID]string{}
	}
	n.mu.Unlock()
	return chromedp.Listen(ctx, func(ev any) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			n.byID[ev.RequestID] = ev.Request.URL
		case *network.EventResponseReceived:
			n.events = append(n.events, netEvent{URL: ev.Response.URL, Status: ev.Response.Status})
		case *network.EventLoadingFailed:
			if !ev.Canceled {
				n.events = append(n.events, netEvent{URL: n.byID[ev.RequestID], Failed: ev.ErrorText})
			}
		}
	})
}

func (n *netLog) snapshot() []netEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// cyState is what Kiali's UI drew: its cytoscape model.
type cyState struct {
	Nodes []cyNode `json:"nodes"`
	Edges []cyEdge `json:"edges"`
}

type cyNode struct {
	ID        string `json:"id"`
	NodeType  string `json:"nodeType"`
	Namespace string `json:"namespace"`
	Workload  string `json:"workload"`
	App       string `json:"app"`
	Service   string `json:"service"`
	IsBox     string `json:"isBox"`
	// IsInaccessible nodes have no health in Kiali's UI.
	IsInaccessible bool   `json:"isInaccessible"`
	HealthStatus   string `json:"healthStatus"`
	Border         string `json:"border"`
}

type cyEdge struct {
	ID     string `json:"id"`
	Source string `json:"source"`
	Target string `json:"target"`
}

// cyStateJS reads the cytoscape instance Kiali's graph renders into
// (cytoscape keeps it on its container as _cyreg.cy).
const cyStateJS = `(() => {
	const el = document.getElementById('cy');
	const cy = el && el._cyreg && el._cyreg.cy;
	if (!cy) return {nodes: [], edges: []};
	return {
		nodes: cy.nodes().map((n) => ({id: n.id(), nodeType: n.data('nodeType') || '', namespace: n.data('namespace') || '',
			workload: n.data('workload') || '', app: n.data('app') || '', service: n.data('service') || '',
			isBox: n.data('isBox') || '', isInaccessible: !!n.data('isInaccessible'), healthStatus: n.data('healthStatus') || '', border: n.style('border-color') || ''})),
		edges: cy.edges().map((e) => ({id: e.id(), source: e.data('source'), target: e.data('target')})),
	};
})()`

// TestE2EKialiUI serves Kiali's own web UI, as published on npm, from the
// real meshlens binary (--kiali-ui) while a simulated Bookinfo mesh streams
// access logs, opens its graph page in headless Chromium for each graph
// type and a node graph, and checks from the UI's cytoscape model that
// Kiali draws exactly the nodes and edges of meshlens's Kiali JSON, with
// the health status Kiali's default tolerances give meshlens's namespace
// health; that every request the UI made was answered by meshlens with
// success, and that the console shows no error.
func TestE2EKialiUI(t *testing.T) {
	chromium := need(t, "chromium")
	ui := kialiUIBuild(t)
	m := startMeshlens(t, "--kiali-ui", ui)
	base := "http://" + m.HTTP + "/kiali/"

	// Bookinfo, with errors enough for Kiali's default tolerances to
	// colour some nodes: ratings fails (5xx ≥ 10 %), details is degraded
	// (4xx ≥ 10 %).
	// Every other edge is without errors, so that each status is far from
	// a threshold (Kiali's tolerance for 5xx degrades from the first error).
	mesh := loadgen.Bookinfo()
	for i := range mesh.Edges {
		switch e := &mesh.Edges[i]; {
		case e.From == "default/reviews-v3" && e.To == "default/ratings":
			e.Errors = loadgen.ErrorMix{HTTP5xx: 0.4}
		case e.From == "default/productpage-v1" && e.To == "default/details":
			e.Errors = loadgen.ErrorMix{HTTP4xx: 0.15}
		default:
			e.Errors = loadgen.ErrorMix{}
		}
	}
	demoCtx, stopDemo := context.WithCancel(context.Background())
	demoDone := make(chan error, 1)
	conn := dial(t, m.GRPC)
	go func() { demoDone <- loadgen.Demo(demoCtx, conn, mesh, 200, time.Now) }()
	t.Cleanup(func() {
		stopDemo()
		assert.NoError(t, <-demoDone)
	})

	// The graph page draws what it fetched once (refresh=0): wait until
	// every Bookinfo edge has traffic in the last minute.
	require.Eventually(t, func() bool {
		code, body, err := httpGet("http://"+m.HTTP+"/api/namespaces/graph?namespaces=default,istio-system&graphType=workload&duration=60s", "")
		var g kialiGraph
		return err == nil && code == 200 && json.Unmarshal([]byte(body), &g) == nil && len(g.Elements.Edges) >= 11
	}, 60*time.Second, time.Second, "Bookinfo's edges in meshlens's graph")
	time.Sleep(10 * time.Second) // enough requests for stable error ratios

	// Each page opens in a tab of its own (tab): the UI cancels the
	// requests of a page it leaves.

	ctx, problems := browser(t, chromium)
	var nl netLog
	run := &kialiRun{browser: ctx, m: m, nl: &nl}

	const namespaces = "default,istio-system"
	statuses := map[string]int{} // health statuses drawn, over every graph
	count := func(st cyState) {
		for _, n := range st.Nodes {
			statuses[n.HealthStatus]++
		}
	}
	for _, gt := range []string{"workload", "app", "versionedApp", "service"} {
		t.Run(gt, func(t *testing.T) {
			page := base + "console/graph/namespaces?" + url.Values{
				"namespaces": {namespaces}, "graphType": {gt}, "duration": {"60"}, "refresh": {"0"},
			}.Encode()
			shot := ""
			if gt == "versionedApp" {
				// For docs/screenshots (MESHLENS_KIALI_SCREENSHOT), else a
				// temporary file.
				shot = cmp.Or(os.Getenv("MESHLENS_KIALI_SCREENSHOT"), filepath.Join(t.TempDir(), "kiali.png"))
			}
			count(run.checkGraph(t, page, "/kiali/api/namespaces/graph", shot))
		})
	}
	t.Run("node graph", func(t *testing.T) {
		page := base + "console/graph/node/namespaces/default/workloads/productpage-v1?" + url.Values{
			"graphType": {"workload"}, "duration": {"60"}, "refresh": {"0"},
		}.Encode()
		st := run.checkGraph(t, page, "/kiali/api/namespaces/default/workloads/productpage-v1/graph", "")
		require.NotEmpty(t, st.Nodes)
		count(st)
	})
	// Health colours: the errors above make some nodes fail and some
	// degrade, and Kiali colours their borders.
	t.Logf("health statuses drawn: %v", statuses)
	assert.Positive(t, statuses["Failure"], "a failing node drawn")
	assert.Positive(t, statuses["Degraded"], "a degraded node drawn")
	assert.Positive(t, statuses["Healthy"], "a healthy node drawn")

	for _, ev := range nl.snapshot() {
		t.Logf("net: %d %s %s", ev.Status, ev.URL, ev.Failed)
	}
	for _, ev := range nl.snapshot() {
		assert.True(t, strings.HasPrefix(ev.URL, "http://"+m.HTTP+"/") || strings.HasPrefix(ev.URL, "data:"),
			"a request to anything but meshlens: %s", ev.URL)
		assert.Empty(t, ev.Failed, ev.URL)
		assert.Less(t, ev.Status, int64(400), ev.URL)
	}
	assert.Empty(t, problems(), "console errors")
}

// checkKialiGraph opens page and waits until the UI's cytoscape model has
// exactly the nodes and edges of meshlens's answer to the graph request the
// UI made (apiPath, with the UI's own parameters), and the health status
// Kiali's default tolerances give each workload, app and service.
// kialiRun is the browser, meshlens and the network log of the test.
type kialiRun struct {
	browser context.Context //nolint:containedctx // the browser of the whole test, shared by its tabs
	m       *meshlens
	nl      *netLog
}

func (k *kialiRun) checkGraph(t *testing.T, page, apiPath, shot string) cyState {
	t.Helper()
	m, nl := k.m, k.nl
	ctx, tabProblems := tab(k.browser, t)
	require.NoError(t, nl.listen(ctx))
	_, err := chromedp.Run(ctx, chromedp.Navigate(page))
	require.NoError(t, err)
	defer func() {
		var errs []string
		for _, p := range tabProblems() {
			// Kiali's UI rejects its own pending validations fetch when the
			// graph's summary panel unmounts (kiali-ui 1.35
			// SummaryPanelGraph: validationSummaryPromises.cancelAll() on
			// a registerChained(...).then(...) without catch), as the node
			// graph selects its node: no request fails, no answer of
			// meshlens is involved (every request is checked below).
			if !strings.HasSuffix(p, "Uncaught (in promise) {isCanceled: true}") {
				errs = append(errs, p)
			}
		}
		assert.Empty(t, errs, "console errors")
	}()
	var (
		last cyState
		want kialiGraph
		why  string
	)
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		st, err := chromedp.Run(ctx, chromedp.Evaluate[cyState](cyStateJS))
		if err != nil || len(st.Nodes) == 0 {
			why = fmt.Sprintf("nothing drawn yet (%v)", err)
			continue
		}
		last = st
		want = fetchKiali(t, m, apiPath+"?"+url.Values{
			"namespaces": {"default,istio-system"}, "graphType": {pageParam(page, "graphType")}, "duration": {"60s"},
			"injectServiceNodes": {"true"}, "appenders": {"deadNode,sidecarsCheck,serviceEntry,istio,healthConfig"},
		}.Encode())
		if why = diffGraph(st, want); why != "" {
			continue
		}
		if why = diffHealth(t, m, st); why == "" {
			break
		}
	}
	require.Empty(t, why, "Kiali's UI at %s draws meshlens's graph", page)
	if shot != "" {
		time.Sleep(2 * time.Second) // the layout's animation
		b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(shot, b, 0o644))
		t.Logf("screenshot: %s (%d bytes)", shot, len(b))
	}
	t.Logf("%s: %d nodes, %d edges drawn", page, len(last.Nodes), len(last.Edges))
	return last
}

func pageParam(page, name string) string {
	u, err := url.Parse(page)
	if err != nil {
		return ""
	}
	return u.Query().Get(name)
}

type kialiGraph struct {
	Elements struct {
		Nodes []struct {
			Data cyNode `json:"data"`
		} `json:"nodes"`
		Edges []struct {
			Data cyEdge `json:"data"`
		} `json:"edges"`
	} `json:"elements"`
}

func fetchKiali(t *testing.T, m *meshlens, pathQuery string) kialiGraph {
	t.Helper()
	code, body, err := httpGet("http://"+m.HTTP+pathQuery, "application/json")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	var g kialiGraph
	require.NoError(t, json.Unmarshal([]byte(body), &g))
	return g
}

// diffGraph says how the drawn graph differs from meshlens's, or "".
func diffGraph(st cyState, want kialiGraph) string {
	var have, exp []string
	for _, n := range st.Nodes {
		have = append(have, n.ID)
	}
	for _, n := range want.Elements.Nodes {
		exp = append(exp, n.Data.ID)
	}
	sort.Strings(have)
	sort.Strings(exp)
	if !slices.Equal(have, exp) {
		return fmt.Sprintf("nodes: drawn %d %v, meshlens %d %v", len(have), have, len(exp), exp)
	}
	have, exp = nil, nil
	for _, e := range st.Edges {
		have = append(have, e.Source+">"+e.Target)
	}
	for _, e := range want.Elements.Edges {
		exp = append(exp, e.Data.Source+">"+e.Data.Target)
	}
	sort.Strings(have)
	sort.Strings(exp)
	if !slices.Equal(have, exp) {
		return fmt.Sprintf("edges: drawn %v, meshlens %v", have, exp)
	}
	return ""
}

// Kiali's health statuses, by priority (kiali-ui types/Health.ts).
var healthName = []string{"No health information", "Healthy", "Not Ready", "Degraded", "Failure"}

type requestHealth struct {
	Inbound  map[string]map[string]float64 `json:"inbound"`
	Outbound map[string]map[string]float64 `json:"outbound"`
}

type workloadStatus struct {
	DesiredReplicas   int `json:"desiredReplicas"`
	CurrentReplicas   int `json:"currentReplicas"`
	AvailableReplicas int `json:"availableReplicas"`
}

type nodeHealthJSON struct {
	Requests         requestHealth     `json:"requests"`
	WorkloadStatus   *workloadStatus   `json:"workloadStatus"`
	WorkloadStatuses []*workloadStatus `json:"workloadStatuses"`
}

// kialiStatus is the status Kiali's UI gives a node from its health with
// Kiali's default tolerances (kiali/kiali config.AddHealthDefault), written
// from kiali-ui types/ErrorRate and types/Health.ts: per direction, per
// tolerance, per protocol it matches, the share of requests whose code
// matches; the worst status wins, Failure from the failure threshold,
// Degraded from the degraded one.
func kialiStatus(h nodeHealthJSON) string {
	tolerances := []struct {
		code, protocol   string
		degraded, failed float64
	}{
		{`5\d\d`, "http", 0, 10},
		{`4\d\d`, "http", 10, 20},
		{`^[1-9]$|^1[0-6]$`, "grpc", 0, 10},
		{`^-$`, "http|grpc", 0, 10},
	}
	status := 0
	for _, ws := range append(h.WorkloadStatuses, h.WorkloadStatus) {
		if ws != nil && ws.DesiredReplicas > 0 && ws.DesiredReplicas == ws.CurrentReplicas && ws.CurrentReplicas == ws.AvailableReplicas {
			status = 1 // pods ready
		}
	}
	for _, dir := range []map[string]map[string]float64{h.Requests.Inbound, h.Requests.Outbound} {
		for _, tol := range tolerances {
			for protocol, codes := range dir {
				if !regexp.MustCompile(tol.protocol).MatchString(protocol) {
					continue
				}
				var total, errs float64
				for code, v := range codes {
					total += v
					if regexp.MustCompile(tol.code).MatchString(code) {
						errs += v
					}
				}
				if total == 0 {
					continue
				}
				s := 1
				switch pct := 100 * errs / total; {
				case pct > 0 && pct >= tol.failed:
					s = 4
				case pct > 0 && pct >= tol.degraded:
					s = 3
				}
				status = max(status, s)
			}
		}
	}
	return healthName[status]
}

// diffHealth says how the health status the UI gave each node differs from
// what Kiali's default tolerances give meshlens's health of it, or "".
func diffHealth(t *testing.T, m *meshlens, st cyState) string {
	t.Helper()
	cache := map[string]map[string]nodeHealthJSON{}
	health := func(ns, typ string) map[string]nodeHealthJSON {
		key := ns + "/" + typ
		if h, ok := cache[key]; ok {
			return h
		}
		code, body, err := httpGet("http://"+m.HTTP+"/api/namespaces/"+ns+"/health?type="+typ+"&rateInterval=60s", "")
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
		var h map[string]nodeHealthJSON
		require.NoError(t, json.Unmarshal([]byte(body), &h))
		cache[key] = h
		return h
	}
	var diffs []string
	for _, n := range st.Nodes {
		var h nodeHealthJSON
		var ok bool
		switch {
		case n.IsInaccessible || n.Namespace == "unknown" || n.IsBox != "" && n.IsBox != "app":
			continue
		case n.NodeType == "workload" || n.NodeType == "app" && n.Workload != "" && n.Workload != "unknown":
			h, ok = health(n.Namespace, "workload")[n.Workload]
		case n.NodeType == "app" || n.IsBox == "app":
			h, ok = health(n.Namespace, "app")[n.App]
		case n.NodeType == "service":
			h, ok = health(n.Namespace, "service")[n.Service]
		default:
			continue
		}
		want := healthName[0]
		if ok {
			want = kialiStatus(h)
		}
		if n.HealthStatus != want {
			diffs = append(diffs, fmt.Sprintf("%s %s/%s%s%s: drawn %q, want %q", n.NodeType, n.Namespace, n.Workload, n.App, n.Service, n.HealthStatus, want))
		}
	}
	return strings.Join(diffs, "; ")
}

// tab opens a new tab of the browser of browser() and returns its context
// and the console errors and exceptions it logged.
func tab(browserCtx context.Context, t *testing.T) (context.Context, func() []string) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	return ctx, watchConsole(ctx, t)
}
