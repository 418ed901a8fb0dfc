package board

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshlens/meshlens/dashboards/internal/discover"
)

func TestDiscovered(t *testing.T) {
	many := make([]discover.Service, collapseAbove+1)
	for i := range many {
		many[i] = discover.Service{Name: fmt.Sprintf("svc%d.default.svc.cluster.local", i), HTTP: true}
	}
	for _, tc := range []struct {
		name      string
		services  []discover.Service
		rows      int
		panels    int // panels in all rows
		collapsed bool
	}{
		{name: "http and tcp", services: []discover.Service{
			{Name: "mongodb.default.svc.cluster.local", TCP: true},
			{Name: "reviews.default.svc.cluster.local", HTTP: true},
			{Name: "both.default.svc.cluster.local", HTTP: true, TCP: true},
		}, rows: 3, panels: 2 + 3 + 5},
		{name: "collapsed above the limit", services: many, rows: len(many), panels: 3 * len(many), collapsed: true},
		{name: "a name to escape", services: []discover.Service{{Name: `we"ird\host`, HTTP: true}}, rows: 1, panels: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Discovered(DefaultOptions(), tc.services)
			if err != nil {
				t.Fatal(err)
			}
			b, err := d.JSON()
			if err != nil {
				t.Fatal(err)
			}
			jd := decode(t, b)
			rows, panels := 0, 0
			for _, p := range jd.Panels {
				if p.Type == "row" {
					rows++
					panels += len(p.Panels)
					continue
				}
				panels++
			}
			if rows != tc.rows || panels != tc.panels {
				t.Errorf("%d rows and %d panels, want %d and %d", rows, panels, tc.rows, tc.panels)
			}
			collapsed := strings.Contains(string(b), `"collapsed": true`)
			if collapsed != tc.collapsed {
				t.Errorf("collapsed rows: %v, want %v", collapsed, tc.collapsed)
			}
			vals := sample(jd)
			for _, p := range panelsOf(jd) {
				for _, tg := range p.Targets {
					checkQuery(t, p, tg.Expr, tg.Exemplar, vals)
				}
			}
		})
	}
}
