package promqlcheck

import (
	"errors"
	"reflect"
	"testing"
)

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name     string
		expr     string
		uses     []Use
		unranged []string
		err      bool
	}{
		{
			name:     "matchers",
			expr:     `istio_requests_total{reporter="destination",response_code!~"5.."}`,
			uses:     []Use{{Metric: "istio_requests_total", Labels: []string{"reporter", "response_code"}}},
			unranged: []string{"istio_requests_total"},
		},
		{
			name: "grouping labels of enclosing aggregations",
			expr: `histogram_quantile(0.99, sum by (le, destination_workload) (rate(istio_request_duration_milliseconds_bucket{job=~"x"}[5m])))`,
			uses: []Use{{Metric: "istio_request_duration_milliseconds_bucket", Labels: []string{"destination_workload", "job", "le"}}},
		},
		{
			name: "both sides of a ratio",
			expr: `sum by (side) (rate(a_total{source="none"}[1m])) / sum by (side) (rate(a_total[1m]))`,
			uses: []Use{{Metric: "a_total", Labels: []string{"side", "source"}}},
		},
		{
			name:     "on and group_left",
			expr:     `a * on (pod) group_left (node) b`,
			uses:     []Use{{Metric: "a", Labels: []string{"pod"}}, {Metric: "b", Labels: []string{"node", "pod"}}},
			unranged: []string{"a", "b"},
		},
		{
			name: "label_replace creates its destination label",
			expr: `sum by (svc) (label_replace(rate(x_total{job="j"}[1m]), "svc", "$1", "destination_service", "(.*)"))`,
			uses: []Use{{Metric: "x_total", Labels: []string{"destination_service", "job"}}},
		},
		{
			name:     "__name__ matcher",
			expr:     `{__name__="up", job="j"}`,
			uses:     []Use{{Metric: "up", Labels: []string{"job"}}},
			unranged: []string{"up"},
		},
		{name: "no metric name", expr: `{job="j"}`, err: true},
		{name: "does not parse", expr: `sum(rate(x[5m])`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Analyze(tc.expr)
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Uses, tc.uses) {
				t.Errorf("uses %+v, want %+v", a.Uses, tc.uses)
			}
			if !reflect.DeepEqual(a.Unranged, tc.unranged) {
				t.Errorf("unranged %v, want %v", a.Unranged, tc.unranged)
			}
		})
	}
	if _, err := Analyze(`{job="j"}`); !errors.Is(err, ErrNoMetricName) {
		t.Errorf("want ErrNoMetricName, got %v", err)
	}
}

func TestExpand(t *testing.T) {
	vals := map[string]string{"service": "reviews", "__rate_interval": "1m", "job": "meshlens"}
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: `x{s="$service"}[$__rate_interval]`, want: `x{s="reviews"}[1m]`},
		{in: `x{s="${service}",j=~"${job:regex}"}`, want: `x{s="reviews",j=~"meshlens"}`},
		{in: `x{s="[[service]]"}`, want: `x{s="reviews"}`},
		{in: `x{s="$namespace"}`, err: true},
		{in: `label_replace(x{s="$service"}, "a", "$1", "b", "(.*)")`, want: `label_replace(x{s="reviews"}, "a", "$1", "b", "(.*)")`},
	} {
		got, err := Expand(tc.in, vals)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestLabelValues(t *testing.T) {
	for _, tc := range []struct {
		in, selector, label string
		err                 bool
	}{
		{in: `label_values(up{job=~"$job"}, instance)`, selector: `up{job=~"$job"}`, label: "instance"},
		{in: `label_values(x{a="b,c"}, d)`, selector: `x{a="b,c"}`, label: "d"},
		{in: `query_result(up)`, err: true},
		{in: `label_values(up)`, err: true},
	} {
		s, l, err := LabelValues(tc.in)
		if (err != nil) != tc.err || s != tc.selector || l != tc.label {
			t.Errorf("LabelValues(%q) = %q, %q, %v", tc.in, s, l, err)
		}
	}
}

func TestQueryResult(t *testing.T) {
	for _, tc := range []struct {
		in, expr string
		err      bool
	}{
		{in: `query_result(sort_desc(sum by (a) (up)))`, expr: `sort_desc(sum by (a) (up))`},
		{in: `label_values(up, a)`, err: true},
		{in: `query_result(up`, err: true},
	} {
		x, err := QueryResult(tc.in)
		if (err != nil) != tc.err || x != tc.expr {
			t.Errorf("QueryResult(%q) = %q, %v", tc.in, x, err)
		}
	}
}
