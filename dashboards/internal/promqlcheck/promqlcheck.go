// Package promqlcheck parses PromQL with Prometheus's own parser and says
// which metric names and label names an expression reads, so a test can
// check them against what meshlens really exports.
package promqlcheck

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Use is what an expression needs from one metric: the metric must exist
// and carry every one of Labels.
type Use struct {
	Metric string   `json:"metric"`
	Labels []string `json:"labels"`
}

// Selector is one vector selector of an expression and its label matchers.
type Selector struct {
	Metric   string
	Matchers []*labels.Matcher
}

// Analysis is what Analyze found in an expression.
type Analysis struct {
	// Uses, one per metric (sorted by metric; labels sorted): the labels
	// of the metric's selectors' matchers, plus the labels the enclosing
	// operations group or match on (by, without, on, ignoring,
	// group_left/right, label_replace and label_join sources), except the
	// labels an inner label_replace, label_join or count_values creates.
	Uses []Use
	// Selectors in the order they appear.
	Selectors []Selector
	// Unranged are the metrics read without a range, directly (not
	// through rate(), increase(), …).
	Unranged []string
}

// ErrNoMetricName is returned for a selector without a metric name
// ({job="x"}): the test could not tell which metric it reads.
var ErrNoMetricName = errors.New("selector without a metric name")

// Analyze parses expr and returns the metrics and labels it reads.
func Analyze(expr string) (Analysis, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return Analysis{}, fmt.Errorf("parse %q: %w", expr, err)
	}
	var a Analysis
	uses := map[string]map[string]bool{}
	var walkErr error
	parser.Inspect(e, func(node parser.Node, path []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok || walkErr != nil {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			walkErr = fmt.Errorf("%w: %s", ErrNoMetricName, vs)
			return nil
		}
		a.Selectors = append(a.Selectors, Selector{Metric: name, Matchers: vs.LabelMatchers})
		if len(path) == 0 || !isMatrix(path[len(path)-1]) {
			a.Unranged = append(a.Unranged, name)
		}
		set := uses[name]
		if set == nil {
			set = map[string]bool{}
			uses[name] = set
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName {
				set[m.Name] = true
			}
		}
		for _, l := range enclosingLabels(vs, path) {
			set[l] = true
		}
		return nil
	})
	if walkErr != nil {
		return Analysis{}, walkErr
	}
	for metric, set := range uses {
		u := Use{Metric: metric, Labels: []string{}}
		for l := range set {
			u.Labels = append(u.Labels, l)
		}
		sort.Strings(u.Labels)
		a.Uses = append(a.Uses, u)
	}
	sort.Slice(a.Uses, func(i, j int) bool { return a.Uses[i].Metric < a.Uses[j].Metric })
	return a, nil
}

func isMatrix(n parser.Node) bool {
	_, ok := n.(*parser.MatrixSelector)
	return ok
}

// enclosingLabels returns the labels the ancestors of a selector (path,
// outermost first) read on its series: walking from the selector outwards,
// a label an operation creates (label_replace, label_join, count_values)
// is not required of the metric by the operations above it.
func enclosingLabels(vs *parser.VectorSelector, path []parser.Node) []string {
	created := map[string]bool{}
	var out []string
	need := func(ls ...string) {
		for _, l := range ls {
			if l != "" && !created[l] {
				out = append(out, l)
			}
		}
	}
	child := parser.Node(vs)
	for i := len(path) - 1; i >= 0; i-- {
		switch n := path[i].(type) {
		case *parser.AggregateExpr:
			if n.Op == parser.COUNT_VALUES {
				if s, ok := unwrapString(n.Param); ok {
					created[s] = true
				}
			}
			need(n.Grouping...)
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil {
				need(vm.MatchingLabels...)
				// group_left copies labels from the right-hand ("one")
				// side, group_right from the left-hand side.
				one := n.RHS
				if vm.Card == parser.CardOneToMany {
					one = n.LHS
				}
				if len(vm.Include) > 0 && child == one {
					need(vm.Include...)
				}
			}
		case *parser.Call:
			switch n.Func.Name {
			case "label_replace":
				// label_replace(v, dst, replacement, src, regex)
				if len(n.Args) == 5 {
					if src, ok := unwrapString(n.Args[3]); ok {
						need(src)
					}
					if dst, ok := unwrapString(n.Args[1]); ok {
						created[dst] = true
					}
				}
			case "label_join":
				// label_join(v, dst, separator, src...)
				for _, arg := range n.Args[min(3, len(n.Args)):] {
					if src, ok := unwrapString(arg); ok {
						need(src)
					}
				}
				if len(n.Args) > 1 {
					if dst, ok := unwrapString(n.Args[1]); ok {
						created[dst] = true
					}
				}
			}
		}
		child = path[i]
	}
	return out
}

func unwrapString(e parser.Expr) (string, bool) {
	for {
		switch v := e.(type) {
		case *parser.StringLiteral:
			return v.Val, true
		case *parser.ParenExpr:
			e = v.Expr
		default:
			return "", false
		}
	}
}

// variableRE matches Grafana's variable syntaxes: $name, ${name},
// ${name:format} and [[name]].
var variableRE = regexp.MustCompile(`\$([A-Za-z0-9_]+)|\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)\]\]`)

// Expand replaces Grafana template variables with values. A variable
// without a value is an error, so a test notices a new variable.
func Expand(expr string, values map[string]string) (string, error) {
	var missing []string
	out := variableRE.ReplaceAllStringFunc(expr, func(m string) string {
		sub := variableRE.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if isDigits(name) {
			// $1 is a regular expression's group (label_replace), which
			// Grafana leaves as it is: no variable is named by digits.
			return m
		}
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("no value for variable(s) %s in %q", strings.Join(slices.Compact(missing), ", "), expr)
	}
	return out, nil
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// QueryResult returns the expression of a Grafana query_result(expr)
// variable query.
func QueryResult(query string) (expr string, err error) {
	inner, ok := strings.CutPrefix(query, "query_result(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return "", fmt.Errorf("not query_result(expr): %q", query)
	}
	return strings.TrimSuffix(inner, ")"), nil
}

// LabelValues splits a Grafana label_values(selector, label) variable
// query.
func LabelValues(query string) (selector, label string, err error) {
	inner, ok := strings.CutPrefix(query, "label_values(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return "", "", fmt.Errorf("not label_values(selector, label): %q", query)
	}
	inner = strings.TrimSuffix(inner, ")")
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", "", fmt.Errorf("not label_values(selector, label): %q", query)
	}
	return strings.TrimSpace(inner[:i]), strings.TrimSpace(inner[i+1:]), nil
}
