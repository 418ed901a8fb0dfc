package board

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Tag is on every meshlens dashboard; the dashboards link to each other
// through it.
const Tag = "meshlens"

// Options are the values that differ between deployments. The committed
// JSON uses DefaultOptions; both URLs are also dashboard variables
// (meshlens_url, jaeger_url) that a viewer can override in the URL
// (?var-meshlens_url=…).
type Options struct {
	// MeshlensURL is the base URL of meshlens's HTTP server as a browser
	// reaches it: the dashboards link to its graph page (MeshlensURL + "/").
	MeshlensURL string
	// JaegerURL is the base URL of the Jaeger UI as a browser reaches it.
	JaegerURL string
}

// DefaultOptions are the options of the committed dashboards: meshlens on
// its default HTTP port (make run) and Jaeger's default UI port.
func DefaultOptions() Options {
	return Options{MeshlensURL: "http://localhost:9102", JaegerURL: "http://localhost:16686"}
}

// Dashboard is one generated dashboard and the file it is written to.
type Dashboard struct {
	File  string
	Board dashboard.Dashboard
}

// JSON renders the dashboard deterministically: two-space indentation, no
// HTML escaping (PromQL's < and > stay readable), a final newline.
// encoding/json writes struct fields in declaration order and map keys
// sorted, so the same dashboard always gives the same bytes.
func (d Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d.Board); err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", d.File, err)
	}
	return buf.Bytes(), nil
}

// All returns the static dashboards, in a fixed order.
func All(o Options) ([]Dashboard, error) {
	specs := []spec{overview(), service(), workload(), tcp(), edge(), envoy(), self()}
	out := make([]Dashboard, 0, len(specs))
	for _, s := range specs {
		d, err := s.build(o)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// spec describes a dashboard in the meshlens house style.
type spec struct {
	file  string
	uid   string
	title string
	desc  string
	vars  []variable
	rows  []row
}

// row is a dashboard row and the panels under it.
type row struct {
	title string
	// collapsed rows hold their panels inside the row (Grafana loads them
	// when opened); open rows are followed by their panels.
	collapsed bool
	panels    []panel
}

func (s spec) build(o Options) (Dashboard, error) {
	b := dashboard.NewDashboardBuilder(s.title).
		Uid(s.uid).
		Description(s.desc).
		Tags([]string{Tag}).
		Readonly().
		Timezone("browser").
		Time("now-1h", "now").
		Refresh("30s").
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Link(dashboard.NewDashboardLinkBuilder("meshlens graph").
			Type(dashboard.DashboardLinkTypeLink).
			Url("${meshlens_url}/").
			Icon("external link").
			Tooltip("The live service graph meshlens serves on its HTTP port").
			TargetBlank(true)).
		Link(dashboard.NewDashboardLinkBuilder("meshlens dashboards").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			AsDropdown(true).
			IncludeVars(true).
			KeepTime(true))
	for _, v := range append(s.vars, urlVars(o)...) {
		b = b.WithVariable(v.build())
	}
	for _, r := range s.rows {
		rb := dashboard.NewRowBuilder(r.title).Collapsed(r.collapsed)
		if r.collapsed {
			for _, p := range r.panels {
				rb = rb.WithPanel(p.build())
			}
			b = b.WithRow(rb)
			continue
		}
		b = b.WithRow(rb)
		for _, p := range r.panels {
			b = b.WithPanel(p.build())
		}
	}
	d, err := b.Build()
	if err != nil {
		return Dashboard{}, fmt.Errorf("build dashboard %s: %w", s.uid, err)
	}
	number(&d)
	unplace(&d)
	return Dashboard{File: s.file, Board: d}, nil
}

// number gives every panel and row a stable id (1, 2, … in layout order),
// which Grafana uses for links to a single panel (viewPanel=<id>).
func number(d *dashboard.Dashboard) {
	id := uint32(0)
	next := func() *uint32 { id++; return cog.ToPtr(id) }
	for _, p := range d.Panels {
		if p.RowPanel != nil {
			p.RowPanel.Id = *next()
			for i := range p.RowPanel.Panels {
				p.RowPanel.Panels[i].Id = next()
			}
		}
		if p.Panel != nil {
			p.Panel.Id = next()
		}
	}
}

// unplace removes the placement the SDK gives every link ("inControlsMenu",
// Grafana 12's controls menu): dashboard links then show above the panels,
// where they are found, and data links carry no field they do not use.
func unplace(d *dashboard.Dashboard) {
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	fix := func(p *dashboard.Panel) {
		if p.FieldConfig != nil {
			for i := range p.FieldConfig.Defaults.Links {
				p.FieldConfig.Defaults.Links[i].Placement = nil
			}
		}
	}
	for _, p := range d.Panels {
		if p.Panel != nil {
			fix(p.Panel)
		}
		if p.RowPanel != nil {
			for i := range p.RowPanel.Panels {
				fix(&p.RowPanel.Panels[i])
			}
		}
	}
}
