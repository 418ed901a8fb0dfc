package board

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/dashboards/internal/promqlcheck"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// committed is where make dashboards writes the static dashboards: they are
// the golden files of this package.
var committed = filepath.Join("..", "..", "..", "deploy", "grafana", "dashboards")

func render(t *testing.T, o Options) map[string][]byte {
	t.Helper()
	ds, err := All(o)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, d := range ds {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[d.File]; dup {
			t.Fatalf("two dashboards write %s", d.File)
		}
		out[d.File] = b
	}
	return out
}

func TestCommittedDashboardsAreGenerated(t *testing.T) {
	got := render(t, DefaultOptions())
	for file, b := range got {
		path := filepath.Join(committed, file)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run make dashboards)", err)
		}
		if !bytes.Equal(want, b) {
			t.Errorf("%s is stale: run make dashboards", path)
		}
	}
	files, err := filepath.Glob(filepath.Join(committed, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := got[filepath.Base(f)]; !ok {
			t.Errorf("%s is not generated any more: run make dashboards", f)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := render(t, DefaultOptions()), render(t, DefaultOptions())
	for file := range a {
		if !bytes.Equal(a[file], b[file]) {
			t.Errorf("%s differs between two renderings", file)
		}
	}
}

func TestOptionsReachTheLinks(t *testing.T) {
	got := render(t, Options{MeshlensURL: "http://meshlens.example:9102", JaegerURL: "http://jaeger.example"})
	for file, b := range got {
		for _, want := range []string{`"query": "http://meshlens.example:9102"`, `"query": "http://jaeger.example"`, `"url": "${meshlens_url}/"`} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s: no %s", file, want)
			}
		}
	}
}

// The dashboards as JSON, decoded only as far as the checks need.
type jsonDashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Editable   bool   `json:"editable"`
	Templating struct {
		List []jsonVariable `json:"list"`
	} `json:"templating"`
	Links  []struct{ URL string } `json:"links"`
	Panels []jsonPanel            `json:"panels"`
}

type jsonVariable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Multi      bool   `json:"multi"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
	Refresh    int    `json:"refresh"`
	Regex      string `json:"regex"`
	Sort       int    `json:"sort"`
	Hide       int    `json:"hide"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type jsonPanel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Datasource  struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID    string `json:"refId"`
		Expr     string `json:"expr"`
		Exemplar bool   `json:"exemplar"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit  string `json:"unit"`
			Links []struct {
				URL string `json:"url"`
			} `json:"links"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		YAxis struct {
			Unit string `json:"unit"`
		} `json:"yAxis"`
	} `json:"options"`
	Panels []jsonPanel `json:"panels"`
}

func decode(t *testing.T, b []byte) jsonDashboard {
	t.Helper()
	var d jsonDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func panelsOf(d jsonDashboard) []jsonPanel {
	var out []jsonPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// sample gives every variable a recognisable value, so the checks can see
// which matcher uses which variable after expansion.
func sample(d jsonDashboard) map[string]string {
	vals := map[string]string{"__rate_interval": "5m", "__range": "1h"}
	for _, v := range d.Templating.List {
		vals[v.Name] = "VAR_" + v.Name
	}
	return vals
}

// TestQueriesFollowTheRules checks every query of every dashboard: it
// parses with Prometheus's parser once its variables are expanded, uses
// only variables the dashboard defines, selects one meshlens by job and
// instance, reads exactly one reporter of the Istio metrics, rates its
// counters, and shows exemplars on latency.
func TestQueriesFollowTheRules(t *testing.T) {
	for file, b := range render(t, DefaultOptions()) {
		d := decode(t, b)
		vals := sample(d)
		for _, p := range panelsOf(d) {
			if p.Type == "row" {
				continue
			}
			t.Run(file+"/"+p.Title, func(t *testing.T) {
				if p.Title == "" || p.Description == "" {
					t.Error("panel needs a title and a description")
				}
				if p.Datasource.UID != "${datasource}" {
					t.Errorf("panel data source %q, want ${datasource}", p.Datasource.UID)
				}
				unit := p.FieldConfig.Defaults.Unit
				if p.Type == "heatmap" {
					unit = p.Options.YAxis.Unit
				}
				if unit == "" {
					t.Error("panel has no unit")
				}
				if len(p.Targets) == 0 {
					t.Fatal("panel has no query")
				}
				var refs []string
				for _, tg := range p.Targets {
					refs = append(refs, tg.RefID)
					checkQuery(t, p, tg.Expr, tg.Exemplar, vals)
				}
				if len(slices.Compact(slices.Sorted(slices.Values(refs)))) != len(refs) {
					t.Errorf("refIds not unique: %v", refs)
				}
			})
		}
	}
}

func checkQuery(t *testing.T, p jsonPanel, expr string, exemplar bool, vals map[string]string) {
	t.Helper()
	x, err := promqlcheck.Expand(expr, vals)
	if err != nil {
		t.Fatal(err)
	}
	a, err := promqlcheck.Analyze(x)
	if err != nil {
		t.Fatal(err)
	}
	latency := false
	for _, s := range a.Selectors {
		byName := map[string][]string{}
		for _, m := range s.Matchers {
			byName[m.Name] = append(byName[m.Name], m.Type.String()+m.Value)
		}
		for _, l := range []string{"job", "instance"} {
			if want := []string{"=~VAR_" + l}; !slices.Equal(byName[l], want) {
				t.Errorf("%s: %s matchers %v, want %v", s.Metric, l, byName[l], want)
			}
		}
		if strings.HasPrefix(s.Metric, "istio_") {
			r := byName["reporter"]
			if len(r) != 1 || !slices.Contains([]string{"=VAR_reporter", "=source", "=destination"}, r[0]) {
				t.Errorf("%s: reporter matchers %v, want exactly one equality matcher", s.Metric, r)
			}
		}
		if s.Metric == durationBucket {
			latency = true
		}
	}
	for _, m := range a.Unranged {
		if strings.HasSuffix(m, "_total") {
			t.Errorf("counter %s read without rate()", m)
		}
	}
	if latency && p.Type != "table" && p.Type != "stat" && !exemplar {
		t.Errorf("latency query without exemplars: %s", expr)
	}
	if latency && p.Type == "timeseries" && (len(p.FieldConfig.Defaults.Links) == 0 || !strings.HasPrefix(p.FieldConfig.Defaults.Links[0].URL, "${jaeger_url}/")) {
		t.Error("latency panel without a link to Jaeger")
	}
}

func TestVariables(t *testing.T) {
	for file, b := range render(t, DefaultOptions()) {
		d := decode(t, b)
		t.Run(file, func(t *testing.T) {
			if d.Editable {
				t.Error("dashboard is editable; provisioned dashboards are generated")
			}
			vals := sample(d)
			names := map[string]bool{}
			for _, v := range d.Templating.List {
				names[v.Name] = true
				switch v.Type {
				case "query":
					if v.Refresh != 2 {
						t.Errorf("%s: refresh %d, want 2 (on time range change)", v.Name, v.Refresh)
					}
					checkQueryVariable(t, v, vals)
				case "custom":
					if v.Name == "reporter" && (v.Multi || v.IncludeAll || v.Current.Value != "destination") {
						t.Error("reporter must be a single value (never the sum of both reporters), destination by default")
					}
				}
				if (v.Name == "job" || v.Name == "instance") && (!v.Multi || !v.IncludeAll || v.AllValue != ".+") {
					t.Errorf("%s: want multi-select with All = .+", v.Name)
				}
			}
			for _, want := range []string{"datasource", "job", "instance", "meshlens_url", "jaeger_url"} {
				if !names[want] {
					t.Errorf("no variable %s", want)
				}
			}
			if len(d.Links) == 0 || d.Links[0].URL != "${meshlens_url}/" {
				t.Error("first link must be the meshlens graph page")
			}
		})
	}
}

// checkQueryVariable checks a query variable: label_values(selector,
// label) for the ones that list every value (multi-select with All, job
// and instance), and for the ones Grafana opens on a single value (its
// first) query_result(sort_desc(…)) with a regex that extracts one label
// and the query's order kept: the busiest value first, so that a dashboard
// opens on traffic, not on whatever sorts first alphabetically.
func checkQueryVariable(t *testing.T, v jsonVariable, vals map[string]string) {
	t.Helper()
	q, _ := v.Query.(string)
	var expr string
	if v.Multi && v.IncludeAll {
		selector, label, err := promqlcheck.LabelValues(q)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			return
		}
		if label == "" {
			t.Errorf("%s: no label", v.Name)
		}
		expr = selector
	} else {
		x, err := promqlcheck.QueryResult(q)
		if err != nil {
			t.Errorf("%s opens on its first value, which must be the busiest: %v", v.Name, err)
			return
		}
		if !strings.HasPrefix(x, "sort_desc(") {
			t.Errorf("%s: %q is not ordered busiest first (sort_desc)", v.Name, x)
		}
		m := regexp.MustCompile(`^/([a-z_]+)="\(\[\^"\]\*\)"/$`).FindStringSubmatch(v.Regex)
		if m == nil {
			t.Errorf("%s: regex %q does not extract one label's value", v.Name, v.Regex)
		} else if !strings.Contains(x, "sum by ("+m[1]+")") {
			t.Errorf("%s: regex extracts %s, which %q does not group by", v.Name, m[1], x)
		}
		if v.Sort != 0 {
			t.Errorf("%s: sort %d re-sorts the values; want 0 (the query's order)", v.Name, v.Sort)
		}
		expr = x
	}
	x, err := promqlcheck.Expand(expr, vals)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := promqlcheck.Analyze(x); err != nil {
		t.Errorf("%s: %v", v.Name, err)
	}
}

// TestJaegerLinks checks that every link to Jaeger's search names the
// service (Jaeger's search shows nothing without one): the dashboard's
// hidden jaeger_service variable.
func TestJaegerLinks(t *testing.T) {
	for file, b := range render(t, DefaultOptions()) {
		d := decode(t, b)
		hasVar := slices.ContainsFunc(d.Templating.List, func(v jsonVariable) bool { return v.Name == "jaeger_service" && v.Hide == 2 })
		for _, p := range panelsOf(d) {
			for _, l := range p.FieldConfig.Defaults.Links {
				if !strings.HasPrefix(l.URL, "${jaeger_url}/") {
					continue
				}
				if !strings.HasPrefix(l.URL, "${jaeger_url}/search?service=${jaeger_service:percentencode}&") {
					t.Errorf("%s: %s: Jaeger link %q does not pass the service", file, p.Title, l.URL)
				}
				if !hasVar {
					t.Errorf("%s: %s links to Jaeger without a hidden jaeger_service variable", file, p.Title)
				}
			}
		}
	}
}

func TestUIDsAndPanelIDsAreUnique(t *testing.T) {
	uids := map[string]bool{}
	for file, b := range render(t, DefaultOptions()) {
		d := decode(t, b)
		if uids[d.UID] || d.UID == "" {
			t.Errorf("%s: uid %q empty or taken", file, d.UID)
		}
		uids[d.UID] = true
		ids := map[int]bool{}
		for _, p := range panelsOf(d) {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel id %d empty or taken (%s)", file, p.ID, p.Title)
			}
			ids[p.ID] = true
		}
	}
}
