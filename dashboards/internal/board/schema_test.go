package board

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/meshlens/meshlens/dashboards/internal/discover"
)

// TestJSONMatchesTheSchema reads every generated dashboard back with the
// SDK's strict decoder (Grafana's dashboard schema, as the SDK is generated
// from it: unknown fields and missing required fields are errors),
// validates it, and checks that nothing was lost on the way.
func TestJSONMatchesTheSchema(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	all := render(t, DefaultOptions())
	d, err := Discovered(DefaultOptions(), []discover.Service{{Name: "a", HTTP: true, TCP: true}})
	if err != nil {
		t.Fatal(err)
	}
	if all[d.File], err = d.JSON(); err != nil {
		t.Fatal(err)
	}
	for file, b := range all {
		t.Run(file, func(t *testing.T) {
			var d dashboard.Dashboard
			if err := d.UnmarshalJSONStrict(b); err != nil {
				t.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			again, err := Dashboard{File: file, Board: d}.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalized(t, b), normalized(t, again)) {
				t.Error("the dashboard changes on a round trip through the SDK's types")
			}
		})
	}
}

// normalized decodes JSON and drops nulls and empty arrays, which the SDK
// does not tell apart when it decodes.
func normalized(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	var norm func(any) any
	norm = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if a, ok := e.([]any); e == nil || ok && len(a) == 0 {
					delete(x, k)
					continue
				}
				x[k] = norm(e)
			}
		case []any:
			for i := range x {
				x[i] = norm(x[i])
			}
		}
		return v
	}
	return norm(v)
}
