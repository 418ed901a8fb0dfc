package board

import (
	"net/url"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Units (Grafana value formats) used by the panels.
const (
	unitReqps   = "reqps"
	unitPercent = "percentunit"
	unitMs      = "ms"
	unitBytes   = "bytes"
	unitBps     = "Bps"
	unitCps     = "cps" // counts per second
	unitShort   = "short"
	unitSeconds = "s"
)

// kind is a Grafana panel type.
type kind int

const (
	kindTimeseries kind = iota
	kindStat
	kindTable
	kindHeatmap
)

// target is one PromQL query of a panel.
type target struct {
	expr   string
	legend string
	// exemplar asks Grafana to fetch the exemplars (trace_id) of the
	// histogram buckets the query reads, shown as points linking to the
	// trace.
	exemplar bool
	// instant makes a table query one instant value per series.
	instant bool
	// heatmap returns buckets for a heatmap panel.
	heatmap bool
}

// q is a plain range query.
func q(expr, legend string) target { return target{expr: expr, legend: legend} }

// qx is a latency query with exemplars.
func qx(expr, legend string) target { return target{expr: expr, legend: legend, exemplar: true} }

// qi is an instant query for a table.
func qi(expr string) target { return target{expr: expr, instant: true, legend: "__auto"} }

// panel is a panel in the meshlens dashboards' house style.
type panel struct {
	kind    kind
	title   string
	desc    string
	unit    string
	w, h    uint32
	targets []target
	// stack stacks the series of a time series panel.
	stack bool
	// maxOne caps the axis of a ratio at 1 (100%).
	maxOne bool
	// traceService, when set, adds a data link to Jaeger's search for
	// this service (a variable such as ${jaeger_service}, or a name) to
	// every series.
	traceService string
	// success colours a success-rate stat by Istio's thresholds.
	success bool
}

func timeseriesPanel(title, desc, unit string, targets ...target) panel {
	return panel{kind: kindTimeseries, title: title, desc: desc, unit: unit, w: 12, h: 8, targets: targets}
}

func statPanel(title, desc, unit string, targets ...target) panel {
	return panel{kind: kindStat, title: title, desc: desc, unit: unit, w: 6, h: 4, targets: targets}
}

// successStat is a success-rate stat (a ratio, 0 to 1) coloured as Istio's
// dashboards colour theirs: red below 95 %, yellow below 99 %, else green.
func successStat(title, desc string, t target) panel {
	p := statPanel(title, desc, unitPercent, t)
	p.success = true
	return p
}

// Success-rate thresholds (Istio's dashboards).
const (
	successWarn = 0.95 // below: red
	successOK   = 0.99 // below: yellow; at or above: green
)

func tablePanel(title, desc, unit string, targets ...target) panel {
	return panel{kind: kindTable, title: title, desc: desc, unit: unit, w: 12, h: 8, targets: targets}
}

func heatmapPanel(title, desc, unit string, t target) panel {
	t.heatmap = true
	t.exemplar = true
	return panel{kind: kindHeatmap, title: title, desc: desc, unit: unit, w: 24, h: 8, targets: []target{t}}
}

// latency is a time series of latency quantiles with exemplars and a link
// to the traces of the dashboard's Jaeger service (the jaeger_service
// variable, which every dashboard with latency panels defines).
func latency(title, desc string, targets ...target) panel {
	p := timeseriesPanel(title, desc, unitMs, targets...)
	p.traceService = "${jaeger_service}"
	return p
}

// tracesOf links the panel's series to the traces of another service.
func (p panel) tracesOf(service string) panel { p.traceService = service; return p }

func (p panel) stacked() panel { p.stack = true; return p }
func (p panel) ratio() panel   { p.maxOne = true; return p }

// compact makes a smaller panel, w wide, for the rows of the discovered
// dashboard.
func (p panel) compact(w uint32) panel {
	p.w, p.h = w, 7
	return p
}

// datasource is the panels' and queries' data source: the dashboard's
// datasource variable (dashboard-linter's panel-datasource-rule).
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

func queries(ts []target) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(ts))
	for i, t := range ts {
		b := prometheus.NewDataqueryBuilder().
			RefId(string(rune('A' + i))).
			Datasource(datasource()).
			Expr(t.expr).
			LegendFormat(t.legend).
			EditorMode(prometheus.QueryEditorModeCode)
		if t.exemplar {
			b = b.Exemplar(true)
		}
		switch {
		case t.instant:
			b = b.Instant().Format(prometheus.PromQueryFormatTable)
		case t.heatmap:
			b = b.Format(prometheus.PromQueryFormatHeatmap)
		default:
			b = b.Range()
		}
		out = append(out, b)
	}
	return out
}

// traceLink opens Jaeger's trace search on a service (Jaeger's search
// shows nothing until a service is chosen); the exemplar points themselves
// link to their trace through the data source's exemplar configuration
// (deploy/grafana/provisioning/datasources).
func traceLink(service string) cog.Builder[dashboard.DashboardLink] {
	if strings.HasPrefix(service, "${") {
		// Grafana's percentencode format escapes the variable's value.
		service = strings.TrimSuffix(service, "}") + ":percentencode}"
	} else {
		service = url.QueryEscape(service)
	}
	return dashboard.NewDashboardLinkBuilder("Search traces in Jaeger").
		Url("${jaeger_url}/search?service=" + service + "&limit=20&lookback=1h").
		TargetBlank(true)
}

func legend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		ShowLegend(true).
		DisplayMode(common.LegendDisplayModeTable).
		Placement(common.LegendPlacementBottom).
		Calcs([]string{"mean", "max", "lastNotNull"})
}

func tooltip() *common.VizTooltipOptionsBuilder {
	return common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)
}

// build turns a panel into its SDK builder.
func (p panel) build() cog.Builder[dashboard.Panel] {
	switch p.kind {
	case kindStat:
		b := stat.NewPanelBuilder().
			Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.w).Height(p.h).Unit(p.unit).
			Targets(queries(p.targets)).
			GraphMode(common.BigValueGraphModeArea).
			ColorMode(common.BigValueColorModeNone).
			TextMode(common.BigValueTextModeValueAndName).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}))
		if p.success {
			b = b.ColorMode(common.BigValueColorModeValue).Min(0).Max(1).
				Thresholds(dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps([]dashboard.Threshold{
					{Color: "red"},
					{Value: cog.ToPtr(successWarn), Color: "#EAB839"},
					{Value: cog.ToPtr(successOK), Color: "green"},
				}))
		}
		return b
	case kindTable:
		return table.NewPanelBuilder().
			Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.w).Height(p.h).Unit(p.unit).
			Targets(queries(p.targets)).
			WithTransformation(dashboard.DataTransformerConfig{
				Id:      "organize",
				Options: map[string]any{"excludeByName": map[string]any{"Time": true}},
			}).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("Value").Desc(true),
			}).
			Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}))
	case kindHeatmap:
		return heatmap.NewPanelBuilder().
			Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.w).Height(p.h).
			Targets(queries(p.targets)).
			Calculate(false).
			YAxis(heatmap.NewYAxisConfigBuilder().Unit(p.unit)).
			RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutLe)).
			Color(heatmap.NewHeatmapColorOptionsBuilder().
				Mode(heatmap.HeatmapColorModeScheme).Scheme("Oranges").
				Scale(heatmap.HeatmapColorScaleExponential).Exponent(0.5).Steps(64)).
			CellValues(heatmap.NewCellValuesBuilder().Unit(unitReqps)).
			Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true)).
			ExemplarsColor("rgba(255,0,255,0.7)").
			ShowLegend()
	default:
		b := timeseries.NewPanelBuilder().
			Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.w).Height(p.h).Unit(p.unit).
			Targets(queries(p.targets)).
			Min(0).
			FillOpacity(10).
			ShowPoints(common.VisibilityModeNever).
			Legend(legend()).
			Tooltip(tooltip())
		if p.maxOne {
			b = b.Max(1)
		}
		if p.stack {
			b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(40)
		}
		if p.traceService != "" {
			b = b.DataLinks([]cog.Builder[dashboard.DashboardLink]{traceLink(p.traceService)})
		}
		return b
	}
}
