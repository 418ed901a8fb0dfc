package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

// The generated Grafana dashboards (deploy/grafana/dashboards/*.json, made
// by the dashboards/ module) are checked here against a real meshlens, as
// files: this test reads the JSON and does not import the dashboards module.
//
//   - Contract: every query of every panel and variable parses with
//     Prometheus's PromQL parser once its Grafana variables are expanded, and
//     reads only metric names and label names that the running meshlens
//     exports after the traffic below (its /metrics; job and instance are the
//     labels Prometheus adds when it scrapes). Renaming a metric or a label in
//     meshlens breaks this test until the dashboards follow.
//   - Data: against a real Prometheus scraping that meshlens (run with its
//     default configuration, as a user's is), every query returns data
//     with the values Grafana gives the variables when it opens the
//     dashboard (grafanaDefaults: the custom variables' current value, All
//     for multi-value variables with All, else the first value the
//     variable's own query lists, in its order), and again with the other
//     reporter selected; latency queries return exemplars with a
//     trace_id; every link to Jaeger's search names a service whose spans
//     meshlens describes (traces_span_metrics_calls_total), so Jaeger
//     finds them.
//
// Parsing uses Prometheus's own parser, which lives in the Prometheus server
// module; the root module does not depend on it (its requirements would move
// the collector off its release line), so the test builds the dashboards
// module's small promqlnames command and runs it as a program.

// dashboardsDir holds the generated dashboards.
const dashboardsDir = "../deploy/grafana/dashboards"

// pendingMetrics are read by the dashboards but not exported by meshlens
// yet. Once meshlens exports one, this test fails until it is removed from
// this list, so that the contract covers it from then on.
// Add entries as "name": "why" while a dashboard is ahead of meshlens.
var pendingMetrics = map[string]string{}

// noDataExpected lists the queries that cannot return data with the traffic
// this test can generate, by "<dashboard uid>/<panel title>/<refId>@<reporter>"
// (reporter "" for dashboards without the variable), with the reason.
// Queries on pendingMetrics are exempt while pending. Where zero is the
// truth (no failures of a kind), a query says 0 (… or on() vector(0)), not
// nothing, and needs no entry here.
var noDataExpected = map[string]string{}

// The dashboards as JSON, decoded as far as the tests need.
type dashFile struct {
	File       string
	UID        string `json:"uid"`
	Templating struct {
		List []dashVariable `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashVariable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Regex      string `json:"regex"`
	Sort       int    `json:"sort"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
	Options []struct {
		Value any `json:"value"`
	} `json:"options"`
}

type dashPanel struct {
	Type        string       `json:"type"`
	Title       string       `json:"title"`
	Targets     []dashTarget `json:"targets"`
	Panels      []dashPanel  `json:"panels"`
	FieldConfig struct {
		Defaults struct {
			Links []struct {
				URL string `json:"url"`
			} `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type dashTarget struct {
	RefID    string `json:"refId"`
	Expr     string `json:"expr"`
	Exemplar bool   `json:"exemplar"`
}

func loadDashboards(t *testing.T) []dashFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no dashboards in %s: run make dashboards", dashboardsDir)
	var out []dashFile
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var d dashFile
		require.NoError(t, json.Unmarshal(b, &d), f)
		d.File = filepath.Base(f)
		out = append(out, d)
	}
	return out
}

// query is one PromQL expression of a dashboard, before expansion.
type dashQuery struct {
	board    *dashFile
	panel    string
	refID    string
	expr     string
	exemplar bool
	// variable is set for a variable's query: label_values(selector,
	// label), whose selector is expr, or query_result(expr).
	variable, label string
}

func (q dashQuery) String() string {
	if q.variable != "" {
		return fmt.Sprintf("%s variable %s", q.board.File, q.variable)
	}
	return fmt.Sprintf("%s panel %q %s", q.board.File, q.panel, q.refID)
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)

func (d *dashFile) queries(t *testing.T) []dashQuery {
	t.Helper()
	var out []dashQuery
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashQuery{board: d, panel: p.Title, refID: tg.RefID, expr: tg.Expr, exemplar: tg.Exemplar})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m := queryResultRE.FindStringSubmatch(q); m != nil {
			out = append(out, dashQuery{board: d, variable: v.Name, expr: m[1]})
			continue
		}
		m := labelValuesRE.FindStringSubmatch(q)
		require.NotNil(t, m, "%s: variable %s: neither label_values(selector, label) nor query_result(expr): %q", d.File, v.Name, q)
		out = append(out, dashQuery{board: d, variable: v.Name, expr: m[1], label: m[2]})
	}
	return out
}

var queryResultRE = regexp.MustCompile(`^query_result\((.*)\)$`)

// panels returns the dashboard's panels, those inside collapsed rows too.
func (d *dashFile) panels() []dashPanel {
	var out []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashFile) hasVariable(name string) bool {
	return slices.ContainsFunc(d.Templating.List, func(v dashVariable) bool { return v.Name == name })
}

var grafanaVarRE = regexp.MustCompile(`\$([A-Za-z0-9_]+)|\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)\]\]`)

// expandVars replaces Grafana's $var, ${var}, ${var:fmt} and [[var]]
// (formats are not applied); a variable without a value is an error.
func expandVars(expr string, vals map[string]string) (string, error) {
	var missing []string
	out := grafanaVarRE.ReplaceAllStringFunc(expr, func(s string) string {
		m := grafanaVarRE.FindStringSubmatch(s)
		name := m[1] + m[2] + m[3]
		if strings.Trim(name, "0123456789") == "" {
			return s // $1: a regular expression's group (label_replace), not a variable
		}
		v, ok := vals[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %v", missing)
	}
	return out, nil
}

// promqlNames builds the dashboards module's promqlnames command once and
// returns its path.
var promqlNames = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "meshlens-promqlnames-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "promqlnames")
	cmd := exec.CommandContext(context.Background(), "go", "build", "-o", path, "./cmd/promqlnames")
	cmd.Dir = "../dashboards"
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build dashboards/cmd/promqlnames: %w\n%s", err, out)
	}
	return path, nil
})

// promqlNamesTool is promqlNames, or the test fails.
func promqlNamesTool(t *testing.T) string {
	t.Helper()
	path, err := promqlNames()
	require.NoError(t, err)
	return path
}

// promqlUse is what an expression reads from one metric.
type promqlUse struct {
	Metric string
	Labels []string
}

// parsePromQL runs the parser on the expressions, in one process.
func parsePromQL(t *testing.T, exprs []string) (uses [][]promqlUse, errs []string) {
	t.Helper()
	in, err := json.Marshal(exprs)
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), promqlNamesTool(t))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var res []struct {
		Error string
		Uses  []promqlUse
	}
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res, len(exprs))
	for _, r := range res {
		uses = append(uses, r.Uses)
		errs = append(errs, r.Error)
	}
	return uses, errs
}

// exportedLabels reads meshlens's /metrics and returns the label names of
// every series name it exports: a histogram gives name_bucket (with le),
// name_sum and name_count; a summary name (with quantile), name_sum and
// name_count. job and instance, which Prometheus adds on scrape, are added
// to every name.
func exportedLabels(t *testing.T, m *meshlens) map[string]map[string]bool {
	t.Helper()
	code, body, err := httpGet("http://"+m.HTTP+"/metrics", "text/plain;version=0.0.4")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err)
	out := map[string]map[string]bool{}
	add := func(name string, labels []*dto.LabelPair, extra ...string) {
		set := out[name]
		if set == nil {
			set = map[string]bool{"job": true, "instance": true}
			out[name] = set
		}
		for _, l := range labels {
			set[l.GetName()] = true
		}
		for _, l := range extra {
			set[l] = true
		}
	}
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				add(name+"_bucket", s.GetLabel(), "le")
				add(name+"_sum", s.GetLabel())
				add(name+"_count", s.GetLabel())
			case dto.MetricType_SUMMARY:
				add(name, s.GetLabel(), "quantile")
				add(name+"_sum", s.GetLabel())
				add(name+"_count", s.GetLabel())
			default:
				add(name, s.GetLabel())
			}
		}
	}
	return out
}

// dashTraffic is what the test sends to meshlens: the real Bookinfo ALS
// and Metrics Service captures once, and a generated Bookinfo mesh (HTTP,
// gRPC, TCP, errors, Envoy stats) per pass.
type dashTraffic struct {
	m       *meshlens
	tr      *loadgen.Traffic
	entries float64
	passes  int
}

func newDashTraffic(t *testing.T, m *meshlens) *dashTraffic {
	t.Helper()
	sendCaptures(t, m.GRPC)
	waitProcessed(t, m, 4)
	sendMetricsCaptures(t, m.GRPC, "identify.v3.json", "metrics.json")
	sendMetricsCaptures(t, m.GRPC, "identify.v3.json")
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 11, Requests: 4000, TCPPeriodic: true, MetricsInterval: 5 * time.Second})
	return &dashTraffic{m: m, tr: tr, entries: float64(tr.EntryCount())}
}

// pass sends the generated mesh once more and waits until meshlens has
// processed it.
func (d *dashTraffic) pass(t *testing.T) {
	t.Helper()
	conn := dial(t, d.m.GRPC)
	_, err := loadgen.Send(context.Background(), conn, d.tr, loadgen.SendOptions{})
	require.NoError(t, err)
	_, err = loadgen.SendMetrics(context.Background(), conn, d.tr.Metrics, loadgen.SendOptions{})
	require.NoError(t, err)
	d.passes++
	waitProcessed(t, d.m, 4+float64(d.passes)*d.entries)
}

// TestE2EDashboards runs the contract and data checks described at the top
// of this file.
func TestE2EDashboards(t *testing.T) {
	captures.Dir(t) // without the real captures, skip before starting anything
	boards := loadDashboards(t)
	tool := promqlNamesTool(t)
	require.NotEmpty(t, tool)

	// The default configuration, as a user's: span reconstruction is off,
	// and the span-export panels must still show their zeros.
	m := startMeshlens(t)
	var prom *prometheus
	if _, err := exec.LookPath("prometheus"); err == nil {
		prom = startPrometheus(t, m.HTTP)
	}
	traffic := newDashTraffic(t, m)
	traffic.pass(t)
	var t0, t1 time.Time
	if prom != nil {
		// Two passes with a scrape between them: rate() over the window
		// sees the second pass's increase.
		t0 = prom.waitScrapes(t, m.HTTP, time.Now())
		traffic.pass(t)
		t1 = prom.waitScrapes(t, m.HTTP, time.Now())
	}
	exported := exportedLabels(t, m)

	t.Run("contract: queries parse and read only exported names", func(t *testing.T) {
		testDashboardContract(t, boards, exported)
	})
	t.Run("data: every query returns data", func(t *testing.T) {
		need(t, "prometheus")
		require.NotNil(t, prom)
		testDashboardData(t, boards, prom, exported, t0, t1)
	})
}

func testDashboardContract(t *testing.T, boards []dashFile, exported map[string]map[string]bool) {
	var qs []dashQuery
	var exprs []string
	for i := range boards {
		b := &boards[i]
		// Any value does for names.
		vals := placeholderVars(b)
		for _, q := range b.queries(t) {
			x, err := expandVars(q.expr, vals)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			qs = append(qs, q)
			exprs = append(exprs, x)
		}
	}
	uses, errs := parsePromQL(t, exprs)
	seenPending := map[string]bool{}
	metrics := 0
	for i, q := range qs {
		if errs[i] != "" {
			t.Errorf("%s does not parse: %s", q, errs[i])
			continue
		}
		if q.label != "" {
			// label_values(selector, label): the label must be on the
			// selector's metrics.
			for j := range uses[i] {
				uses[i][j].Labels = append(uses[i][j].Labels, q.label)
			}
		}
		for _, u := range uses[i] {
			metrics++
			labels, ok := exported[u.Metric]
			if _, pending := pendingMetrics[u.Metric]; pending {
				seenPending[u.Metric] = true
				if ok {
					t.Errorf("%s is exported now: remove it from pendingMetrics in e2e/dashboards_test.go", u.Metric)
				}
				continue
			}
			if !ok {
				t.Errorf("%s reads %s, which meshlens does not export\n  query: %s", q, u.Metric, q.expr)
				continue
			}
			for _, l := range u.Labels {
				if !labels[l] {
					t.Errorf("%s reads label %s of %s, which meshlens does not export (it has %v)\n  query: %s",
						q, l, u.Metric, sortedKeys(labels), q.expr)
				}
			}
		}
	}
	for name := range pendingMetrics {
		if !seenPending[name] {
			t.Errorf("pendingMetrics lists %s, which no dashboard reads", name)
		}
	}
	t.Logf("%d queries, %d metric uses checked against %d exported names", len(qs), metrics, len(exported))
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// placeholderVars gives every variable of a dashboard a value that keeps
// its queries valid PromQL.
func placeholderVars(b *dashFile) map[string]string {
	vals := map[string]string{"__rate_interval": "5m", "__range": "3600s"}
	for _, v := range b.Templating.List {
		vals[v.Name] = "x"
	}
	return vals
}

// dashRange is the time range the dashboards open on (now-1h).
const dashRange = time.Hour

// grafanaDefaults resolves a dashboard's variables as Grafana does when it
// opens the dashboard with none in its URL, in their order (each may use
// the ones before it), with the dashboard's time range ending at now:
//   - custom and text box variables: their current value (set overrides
//     it: what a viewer selects);
//   - query variables: their query's values, label_values(selector, label)
//     over the time range, query_result(expr) at now with the variable's
//     regex applied to each "{labels} value timestamp" line (first
//     capture group), de-duplicated, sorted as the variable says (0: the
//     query's order, 1: alphabetical); then All (its allValue) when the
//     variable has All, else the first value.
//
// A variable without any value is an error: its panels would be empty.
func grafanaDefaults(b *dashFile, prom *prometheus, now time.Time, rateInterval string, set map[string]string) (map[string]string, error) {
	vals := map[string]string{"__rate_interval": rateInterval, "__range": fmt.Sprintf("%ds", int(dashRange.Seconds()))}
	for _, v := range b.Templating.List {
		switch v.Type {
		case "datasource":
			continue
		case "custom", "textbox", "constant":
			cur, _ := v.Current.Value.(string)
			if s, ok := set[v.Name]; ok {
				cur = s
			}
			vals[v.Name] = cur
			continue
		case "query":
		default:
			return nil, fmt.Errorf("variable %s: type %s not handled by this test", v.Name, v.Type)
		}
		q, _ := v.Query.(string)
		q, err := expandVars(q, vals)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		var values []string
		if m := queryResultRE.FindStringSubmatch(q); m != nil {
			res, err := promQuery(prom.URL, m[1], now)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w\n  query: %s", v.Name, err, m[1])
			}
			for _, s := range res {
				values = append(values, queryResultLine(s))
			}
		} else if m := labelValuesRE.FindStringSubmatch(q); m != nil {
			values, err = promLabelValues(prom.URL, m[2], m[1], now.Add(-dashRange), now)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w", v.Name, err)
			}
		} else {
			return nil, fmt.Errorf("variable %s: query %q not handled by this test", v.Name, q)
		}
		values, err = grafanaRegex(v.Regex, values)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		switch v.Sort {
		case 0:
		case 1:
			sort.Strings(values)
		default:
			return nil, fmt.Errorf("variable %s: sort %d not handled by this test", v.Name, v.Sort)
		}
		switch {
		case v.IncludeAll && v.AllValue != "":
			vals[v.Name] = v.AllValue
		case v.IncludeAll:
			vals[v.Name] = "(" + strings.Join(values, "|") + ")"
		case len(values) == 0:
			return nil, fmt.Errorf("variable %s has no value: its query lists nothing\n  query: %s", v.Name, q)
		default:
			vals[v.Name] = values[0]
		}
	}
	return vals, nil
}

// queryResultLine is the text Grafana's query_result gives a series:
// name{label="value",…} value timestamp(ms).
func queryResultLine(s sample) string {
	var b strings.Builder
	b.WriteString(s.Metric["__name__"])
	keys := make([]string, 0, len(s.Metric))
	for k := range s.Metric {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, s.Metric[k])
	}
	fmt.Fprintf(&b, "} %g 0", s.Value)
	return b.String()
}

// grafanaRegex applies a variable's regex (/re/ or /re/flags) as Grafana
// does: values it does not match are dropped, a match gives its first
// capture group (or the whole match); duplicates are dropped.
func grafanaRegex(rx string, values []string) ([]string, error) {
	seen := map[string]bool{}
	var re *regexp.Regexp
	if rx != "" {
		body, ok := strings.CutPrefix(rx, "/")
		i := strings.LastIndex(body, "/")
		if !ok || i < 0 {
			return nil, fmt.Errorf("regex %q is not /…/", rx)
		}
		var err error
		if re, err = regexp.Compile(body[:i]); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, v := range values {
		if re != nil {
			m := re.FindStringSubmatch(v)
			if m == nil {
				continue
			}
			v = m[0]
			if len(m) > 1 {
				v = m[1]
			}
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// promLabelValues is the request Grafana's label_values(selector, label)
// makes: the label's values on the selector's series in [start, end].
func promLabelValues(base, label, selector string, start, end time.Time) ([]string, error) {
	u := fmt.Sprintf("%s/api/v1/label/%s/values?match[]=%s&start=%d&end=%d", base, label, url.QueryEscape(selector), start.Unix(), end.Unix())
	code, body, err := httpGet(u, "")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status, Error string
		Data          []string
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", code, err)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("HTTP %d: %s", code, resp.Error)
	}
	return resp.Data, nil
}

func testDashboardData(t *testing.T, boards []dashFile, prom *prometheus, exported map[string]map[string]bool, t0, t1 time.Time) {
	// The window covers the second pass (and the scrape before t0).
	window := fmt.Sprintf("%dms", t1.Sub(t0).Milliseconds()+1000)
	usedExemption := map[string]bool{}
	checked := 0
	for i := range boards {
		b := &boards[i]
		// As opened, then with the other reporter selected.
		passes := []map[string]string{nil}
		if b.hasVariable("reporter") {
			passes = append(passes, map[string]string{"reporter": "source"})
		}
		for _, set := range passes {
			vals, err := grafanaDefaults(b, prom, t1, window, set)
			if err != nil {
				t.Errorf("%s (selected %v): %v", b.File, set, err)
				continue
			}
			t.Logf("%s (selected %v) opens on %v", b.File, set, shownVars(b, vals))
			rep := vals["reporter"]
			for _, q := range b.queries(t) {
				if q.variable != "" {
					continue // resolved above
				}
				x, err := expandVars(q.expr, vals)
				if err != nil {
					t.Errorf("%s: %v", q, err)
					continue
				}
				checked++
				key := fmt.Sprintf("%s/%s/%s@%s", b.UID, q.panel, q.refID, rep)
				if _, ok := noDataExpected[key]; ok {
					usedExemption[key] = true
					continue
				}
				if readsPending(x, exported) {
					continue
				}
				res, err := promQuery(prom.URL, x, t1)
				if err != nil {
					t.Errorf("%s (reporter %q): %v\n  query: %s", q, rep, err, x)
					continue
				}
				if !hasFinite(res) {
					t.Errorf("%s (reporter %q): no data\n  query: %s", q, rep, x)
					continue
				}
				if q.exemplar {
					n, err := promExemplars(prom.URL, x, t0.Add(-time.Minute), t1)
					if err != nil || n == 0 {
						t.Errorf("%s (reporter %q): no exemplar with a trace_id (%v)\n  query: %s", q, rep, err, x)
					}
				}
			}
			checkJaegerLinks(t, b, prom, vals, t1)
		}
	}
	for key := range noDataExpected {
		if !usedExemption[key] {
			t.Errorf("noDataExpected lists %s, which is no query of a dashboard any more", key)
		}
	}
	t.Logf("%d queries checked for data over a %s window", checked, window)
}

// shownVars are the values of a dashboard's own variables (not the
// built-ins, data source and links).
func shownVars(b *dashFile, vals map[string]string) map[string]string {
	out := map[string]string{}
	for _, v := range b.Templating.List {
		if val, ok := vals[v.Name]; ok && !strings.HasSuffix(v.Name, "_url") {
			out[v.Name] = val
		}
	}
	return out
}

// checkJaegerLinks checks that every link of the dashboard to Jaeger's
// search names a service, and one whose spans meshlens describes: the
// service_name of its span metrics, which is the service.name of the spans
// it rebuilds (what Jaeger lists).
func checkJaegerLinks(t *testing.T, b *dashFile, prom *prometheus, vals map[string]string, at time.Time) {
	t.Helper()
	for _, p := range b.panels() {
		for _, l := range p.FieldConfig.Defaults.Links {
			if !strings.HasPrefix(l.URL, "${jaeger_url}/") {
				continue
			}
			x, err := expandVars(l.URL, vals)
			if err != nil {
				t.Errorf("%s panel %q: link %s: %v", b.File, p.Title, l.URL, err)
				continue
			}
			u, err := url.Parse(x)
			require.NoError(t, err)
			svc := u.Query().Get("service")
			if u.Path != "/search" || svc == "" {
				t.Errorf("%s panel %q: the link to Jaeger %s names no service", b.File, p.Title, x)
				continue
			}
			res, err := promQuery(prom.URL, fmt.Sprintf("count(traces_span_metrics_calls_total{service_name=%q})", svc), at)
			if err != nil || !hasFinite(res) {
				t.Errorf("%s panel %q: the link to Jaeger names service %q, which has no spans (%v)", b.File, p.Title, svc, err)
			}
		}
	}
}

// readsPending says whether expr reads a pending metric meshlens does not
// export yet.
func readsPending(expr string, exported map[string]map[string]bool) bool {
	for name := range pendingMetrics {
		if _, ok := exported[name]; !ok && strings.Contains(expr, name) {
			return true
		}
	}
	return false
}

func hasFinite(res []sample) bool {
	for _, s := range res {
		if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
			return true
		}
	}
	return false
}

// promQuery runs an instant query; unlike prometheus.query it returns
// errors, so that one bad query does not hide the others.
func promQuery(base, q string, at time.Time) ([]sample, error) {
	u := base + "/api/v1/query?query=" + url.QueryEscape(q) + "&time=" + url.QueryEscape(at.UTC().Format(time.RFC3339Nano))
	code, body, err := httpGet(u, "")
	if err != nil {
		return nil, err
	}
	var resp struct {
		Status, Error string
		Data          struct {
			ResultType string
			Result     json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return nil, fmt.Errorf("HTTP %d: %w: %s", code, err, body)
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("HTTP %d: %s", code, resp.Error)
	}
	switch resp.Data.ResultType {
	case "vector":
		var rs []struct {
			Metric map[string]string
			Value  [2]any
		}
		if err := json.Unmarshal(resp.Data.Result, &rs); err != nil {
			return nil, err
		}
		var out []sample
		for _, r := range rs {
			s, _ := r.Value[1].(string)
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, fmt.Errorf("value %q: %w", s, err)
			}
			out = append(out, sample{Metric: r.Metric, Value: v})
		}
		return out, nil
	case "scalar":
		var r [2]any
		if err := json.Unmarshal(resp.Data.Result, &r); err != nil {
			return nil, err
		}
		s, _ := r[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		return []sample{{Value: v}}, err
	}
	return nil, fmt.Errorf("result type %s", resp.Data.ResultType)
}

// promExemplars returns the number of exemplars with a trace_id that the
// query's selectors have between start and end.
func promExemplars(base, q string, start, end time.Time) (int, error) {
	u := fmt.Sprintf("%s/api/v1/query_exemplars?query=%s&start=%d&end=%d", base, url.QueryEscape(q), start.Unix(), end.Unix()+1)
	code, body, err := httpGet(u, "")
	if err != nil {
		return 0, err
	}
	var resp struct {
		Status, Error string
		Data          []struct {
			Exemplars []struct {
				Labels map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return 0, fmt.Errorf("HTTP %d: %w", code, err)
	}
	if resp.Status != "success" {
		return 0, fmt.Errorf("HTTP %d: %s", code, resp.Error)
	}
	n := 0
	for _, s := range resp.Data {
		for _, e := range s.Exemplars {
			if e.Labels["trace_id"] != "" {
				n++
			}
		}
	}
	return n, nil
}
