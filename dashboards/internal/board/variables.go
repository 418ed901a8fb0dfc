package board

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// varKind is a Grafana template variable type.
type varKind int

const (
	varQuery varKind = iota
	varCustom
	varDatasource
	varTextbox
)

// variable is a dashboard template variable.
type variable struct {
	kind  varKind
	name  string
	label string
	desc  string
	// query is label_values(…) for query variables, the comma-separated
	// values of a custom variable, the default of a text box.
	query string
	// multi and all allow several values and an "All" entry (allValue).
	multi    bool
	all      bool
	allValue string
	// current is the selected value of a custom variable or text box.
	current string
	hidden  bool
	// regex extracts each value from the lines of a query_result(…) query
	// (Grafana keeps the first capture group); such a variable keeps the
	// query's order instead of sorting alphabetically.
	regex string
}

func (v variable) build() cog.Builder[dashboard.VariableModel] {
	query := dashboard.StringOrMap{String: cog.ToPtr(v.query)}
	hide := dashboard.VariableHideDontHide
	if v.hidden {
		hide = dashboard.VariableHideHideVariable
	}
	switch v.kind {
	case varDatasource:
		return dashboard.NewDatasourceVariableBuilder(v.name).Label(v.label).Description(v.desc).Type(v.query)
	case varCustom:
		var opts []dashboard.VariableOption
		for _, val := range strings.Split(v.query, ",") {
			opts = append(opts, option(val, val == v.current))
		}
		return dashboard.NewCustomVariableBuilder(v.name).Label(v.label).Description(v.desc).Hide(hide).
			Values(query).Current(option(v.current, true)).Options(opts).
			Multi(false).IncludeAll(false)
	case varTextbox:
		return dashboard.NewTextBoxVariableBuilder(v.name).Label(v.label).Description(v.desc).Hide(hide).
			DefaultValue(query).Current(option(v.current, true))
	default:
		b := dashboard.NewQueryVariableBuilder(v.name).Label(v.label).Description(v.desc).Hide(hide).
			Datasource(datasource()).Query(query).Definition(v.query).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(v.multi).IncludeAll(v.all)
		if v.regex != "" {
			b = b.Regex(v.regex).Sort(dashboard.VariableSortDisabled)
		}
		if v.all {
			b = b.AllValue(v.allValue)
		}
		return b
	}
}

func option(value string, selected bool) dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(selected),
		Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(value)},
		Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(value)},
	}
}

// labelValues renders label_values(selector, label).
func labelValues(selector, label string) string {
	return "label_values(" + selector + ", " + label + ")"
}

// The variables every dashboard starts with: the Prometheus data source and
// which meshlens (job, instance) to look at. dashboard-linter requires the
// job and instance variables to be multi-select with ".+" for All.
func baseVars() []variable {
	return []variable{
		{
			kind: varDatasource, name: "datasource", label: "Data source", query: "prometheus",
			desc: "The Prometheus that scrapes meshlens.",
		},
		{
			name: "job", label: "Job", multi: true, all: true, allValue: ".+",
			query: labelValues(selfMetric, "job"),
			desc:  "The Prometheus jobs that scrape meshlens.",
		},
		{
			name: "instance", label: "Instance", multi: true, all: true, allValue: ".+",
			query: labelValues(selfMetric+`{job=~"$job"}`, "instance"),
			desc:  "The meshlens instances (host:port of /metrics).",
		},
	}
}

// reporterVar selects which proxy's report the Istio queries read. Every
// request between two sidecars is reported twice, once by each side; a query
// must read one of them, never the sum (single select, no "All").
func reporterVar() variable {
	return variable{
		kind: varCustom, name: "reporter", label: "Reporter",
		query: "destination,source,waypoint", current: "destination",
		desc: "Whose report to read: destination = the server-side proxy, source = the client-side proxy " +
			"(and gateways), waypoint = an ambient waypoint. Never both: each request is reported by each side.",
	}
}

// urlVars are the links' targets; hidden, they can be overridden in the
// dashboard URL (?var-meshlens_url=http://meshlens.example:9102).
func urlVars(o Options) []variable {
	return []variable{
		{
			kind: varTextbox, name: "meshlens_url", label: "meshlens URL", query: o.MeshlensURL, current: o.MeshlensURL,
			hidden: true, desc: "Base URL of meshlens's HTTP server (graph page, /metrics).",
		},
		{
			kind: varTextbox, name: "jaeger_url", label: "Jaeger URL", query: o.JaegerURL, current: o.JaegerURL,
			hidden: true, desc: "Base URL of the Jaeger UI.",
		},
	}
}

// counted is one source of a traffic-ordered variable's values: the label
// src of the counter series selector.
type counted struct{ selector, src string }

// byTraffic is a query variable whose values are the values of a label on
// counter series, the busiest over the dashboard's time range first:
// Grafana selects the first value of a variable that has none yet, so a
// dashboard opens on traffic (alphabetical order would open on whatever
// sorts first, e.g. a workload that calls nothing). With one source whose
// label is the variable's label the values are that label's; with several,
// each source's label is copied to the variable's label (out) and their
// increases are summed, e.g. a workload's inbound and outbound requests.
func byTraffic(name, label, desc, out string, from ...counted) variable {
	return byValue(name, label, desc, out, traffic(out, from...))
}

// traffic sums the increase over the dashboard's time range of counter
// series by one label, out: the sources' labels copied to out when they
// are named otherwise.
func traffic(out string, from ...counted) string {
	inc := func(c counted) string { return "increase(" + c.selector + "[$__range])" }
	if len(from) == 1 && from[0].src == out {
		return sumBy(out, inc(from[0]))
	}
	parts := make([]string, len(from))
	for i, c := range from {
		parts[i] = `label_replace(` + inc(c) + `, "` + out + `", "$1", "` + c.src + `", "(.*)")`
	}
	return sumBy(out, strings.Join(parts, " or "))
}

// byValue is a query variable whose values are the values of label on the
// series of expr, in expr's order (sort_desc: the largest first).
func byValue(name, label, desc, out, expr string) variable {
	return variable{
		name: name, label: label, desc: desc,
		query: "query_result(sort_desc(" + expr + "))",
		regex: `/` + out + `="([^"]*)"/`,
	}
}

// jaegerServiceVar is the hidden variable the links to Jaeger's search
// pass as its service: the service.name meshlens gives the spans it
// rebuilds, which is the workload's canonical service
// (exporters/spans.ServiceName). expr returns series with a
// canonical-service label named out.
func jaegerServiceVar(out, expr string) variable {
	v := byValue("jaeger_service", "Jaeger service", "The service Jaeger's search is opened on: the canonical service "+
		"(service.name of the spans meshlens rebuilds) of what the dashboard shows.", out, expr)
	v.hidden = true
	return v
}
