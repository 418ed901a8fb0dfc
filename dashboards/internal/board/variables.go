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

// istioVar is a query variable over the values of one label of an Istio
// metric, restricted by the given matchers.
func istioVar(name, label, desc, metric, valuesOf string, matchers ...string) variable {
	return variable{name: name, label: label, desc: desc, query: labelValues(sel(metric, matchers...), valuesOf)}
}
