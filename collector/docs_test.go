package collector

import (
	"encoding"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"

	"github.com/meshlens/meshlens/collector/alsreceiver"
	"github.com/meshlens/meshlens/collector/hubextension"
	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/istiometrics"
)

// configKey is one YAML key of a meshlens component, as written with --set
// (receivers::envoyals::traces::sampling_rate).
type configKey struct {
	path string
	// def is the default rendered as docs/configuration.md writes it; empty
	// when the value is not a scalar (a collector struct such as tls),
	// whose default the docs describe in words.
	def string
}

const ownPkg = "github.com/meshlens/meshlens/"

// configKeys walks the mapstructure tags of a default config: meshlens's
// own structs are walked to their leaves; the collector's structs (tls,
// keepalive, cors…) are keys of their own, documented by the collector.
func configKeys(t *testing.T, prefix string, cfg component.Config) []configKey {
	t.Helper()
	var out []configKey
	walkConfig(t, prefix, reflect.ValueOf(cfg).Elem(), true, &out)
	return out
}

func walkConfig(t *testing.T, prefix string, v reflect.Value, own bool, out *[]configKey) {
	t.Helper()
	typ := v.Type()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, ok := f.Tag.Lookup("mapstructure")
		if !ok {
			if own {
				t.Errorf("%s.%s has no mapstructure tag", typ, f.Name)
			}
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			if fv.IsNil() {
				fv = reflect.Zero(ft)
			} else {
				fv = fv.Elem()
			}
		}
		fieldOwn := strings.HasPrefix(ft.PkgPath(), ownPkg)
		if strings.Contains(opts, "squash") {
			walkConfig(t, prefix, fv, fieldOwn, out)
			continue
		}
		key := prefix + "::" + name
		if ft.Kind() == reflect.Struct && fieldOwn {
			walkConfig(t, key, fv, true, out)
			continue
		}
		*out = append(*out, configKey{path: key, def: renderDefault(fv)})
	}
}

// renderDefault renders a scalar or a list of scalars ("" for anything
// else): durations the short way (10m, 1m30s), empty strings as "".
func renderDefault(v reflect.Value) string {
	if v.Type() == reflect.TypeFor[time.Duration]() {
		return shortDuration(time.Duration(v.Int()))
	}
	switch v.Kind() {
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Slice:
		var parts []string
		for i := range v.Len() {
			p := renderDefault(v.Index(i))
			if p == "" {
				return ""
			}
			parts = append(parts, p)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
	}
	if m, ok := v.Interface().(encoding.TextMarshaler); ok && v.Kind() == reflect.Struct {
		if b, err := m.MarshalText(); err == nil {
			return string(b)
		}
	}
	return ""
}

func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func allConfigKeys(t *testing.T) []configKey {
	t.Helper()
	keys := configKeys(t, "receivers::envoyals", alsreceiver.NewFactory().CreateDefaultConfig())
	return append(keys, configKeys(t, "extensions::meshlens", hubextension.NewFactory().CreateDefaultConfig())...)
}

// docTable returns the rows of the Markdown tables in a doc whose first
// cell is a backquoted key with the given prefix: key → second cell.
func docTable(t *testing.T, path string, prefixes ...string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	rows := map[string]string{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(key, p) }) {
			continue
		}
		if _, dup := rows[key]; dup {
			t.Errorf("%s: %s is listed twice", path, key)
		}
		rows[key] = strings.TrimSpace(strings.ReplaceAll(cells[2], "`", ""))
	}
	return rows
}

// TestConfigurationDocs checks docs/configuration.md against the config
// structs: every key of the receiver and the hub is in a table, with its
// real default, and the tables list no key that does not exist.
func TestConfigurationDocs(t *testing.T) {
	keys := allConfigKeys(t)
	if os.Getenv("MESHLENS_PRINT_CONFIG_KEYS") != "" {
		for _, k := range keys {
			fmt.Printf("| `%s` | %s |\n", k.path, k.def)
		}
	}
	const path = "../docs/configuration.md"
	rows := docTable(t, path, "receivers::envoyals::", "extensions::meshlens::")
	known := map[string]bool{}
	for _, k := range keys {
		known[k.path] = true
		doc, ok := rows[k.path]
		if !ok {
			t.Errorf("%s: key %s is not documented", path, k.path)
			continue
		}
		// A zero that means "the default" is written `0` (16384).
		if k.def != "" && doc != k.def && !strings.HasPrefix(doc, k.def+" (") {
			t.Errorf("%s: %s: documented default %q, the code's is %q", path, k.path, doc, k.def)
		}
	}
	for key := range rows {
		if !known[key] {
			t.Errorf("%s: documents %s, which is not a config key", path, key)
		}
	}
}

// metricDef is a metric meshlens registers, found in the source.
type metricDef struct {
	name   string
	labels []string
	file   string
}

// sourceMetrics parses the root module's non-test Go files and returns
// every metric meshlens registers with client_golang under a literal name:
// the Name of a prometheus.*Opts literal (with the label names of the
// enclosing New*Vec call and the ConstLabels) and the name of a
// prometheus.NewDesc call (with its variable and constant labels). Label
// lists may be []string literals or package-level variables holding one.
func sourceMetrics(t *testing.T) map[string]*metricDef {
	t.Helper()
	type parsed struct {
		path string
		f    *ast.File
	}
	var files []parsed
	fset := token.NewFileSet()
	root := ".."
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root {
				if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
					return filepath.SkipDir // another module (deploy, dashboards, tools)
				}
			}
			switch d.Name() {
			case "testdata", "e2e", ".git", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, parsed{path, f})
		return nil
	})
	require.NoError(t, err)

	// Package-level []string variables, by directory and name.
	lists := map[string][]string{}
	for _, p := range files {
		for _, decl := range p.f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if l := stringList(vs.Values[i]); l != nil {
							lists[filepath.Dir(p.path)+"."+id.Name] = l
						}
					}
				}
			}
		}
	}
	metrics := map[string]*metricDef{}
	add := func(name, file string, labels []string) {
		m := metrics[name]
		if m == nil {
			m = &metricDef{name: name, file: file}
			metrics[name] = m
		}
		for _, l := range labels {
			if !slices.Contains(m.labels, l) {
				m.labels = append(m.labels, l)
			}
		}
	}
	for _, p := range files {
		labelsOf := func(e ast.Expr) []string {
			if id, ok := e.(*ast.Ident); ok {
				return lists[filepath.Dir(p.path)+"."+id.Name]
			}
			return stringList(e)
		}
		ast.Inspect(p.f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !isIdent(sel.X, "prometheus") {
				return true
			}
			switch {
			case sel.Sel.Name == "NewDesc" && len(call.Args) >= 3:
				if name, ok := stringLit(call.Args[0]); ok {
					add(name, p.path, append(labelsOf(call.Args[2]), constLabelKeys(call.Args[3:])...))
				}
			case strings.HasPrefix(sel.Sel.Name, "New") && len(call.Args) >= 1:
				opts, ok := call.Args[0].(*ast.CompositeLit)
				if !ok {
					return true
				}
				var name string
				var labels []string
				for _, e := range opts.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch {
					case isIdent(kv.Key, "Name"):
						name, _ = stringLit(kv.Value)
					case isIdent(kv.Key, "ConstLabels"):
						labels = append(labels, constLabelKeys([]ast.Expr{kv.Value})...)
					}
				}
				if name != "" {
					if len(call.Args) >= 2 {
						labels = append(labels, labelsOf(call.Args[1])...)
					}
					add(name, p.path, labels)
				}
			}
			return true
		})
	}
	return metrics
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(bl.Value)
	return s, err == nil
}

// stringList returns the string literals of a []string{...} literal.
func stringList(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if s, ok := stringLit(el); ok {
			out = append(out, s)
		}
	}
	return out
}

// constLabelKeys returns the keys of a prometheus.Labels{...} literal.
func constLabelKeys(args []ast.Expr) []string {
	var out []string
	for _, a := range args {
		cl, ok := a.(*ast.CompositeLit)
		if !ok {
			continue
		}
		for _, el := range cl.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				if s, ok := stringLit(kv.Key); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// metricsDocRows maps each metric name in the first cell of a table row of
// docs/metrics.md to the whole row.
func metricsDocRows(t *testing.T, doc string) map[string]string {
	t.Helper()
	rows := map[string]string{}
	nameRe := regexp.MustCompile("`([a-z][a-z0-9]*_[a-z0-9_]+)`")
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range nameRe.FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] = line
		}
	}
	return rows
}

// TestMetricsDocs checks docs/metrics.md against the code: every metric
// registered in the source is in a table row that names each of its
// labels, the ten Istio metrics and their labels are there, the Envoy stats
// node labels are explained, and the doc (and the alert rules in
// deploy/prometheus/) name no meshlens_* metric that does not exist.
func TestMetricsDocs(t *testing.T) {
	metrics := sourceMetrics(t)
	nodeLabels := []string{envoystats.LabelNodeID, envoystats.LabelNodeCluster, envoystats.LabelNamespace, envoystats.LabelWorkload, envoystats.LabelPod}
	require.NotEmpty(t, metrics)
	if os.Getenv("MESHLENS_PRINT_METRICS") != "" {
		for _, m := range metrics {
			fmt.Printf("METRIC %s %v %s\n", m.name, m.labels, m.file)
		}
		fmt.Printf("NODE LABELS %v\n", nodeLabels)
	}
	const path = "../docs/metrics.md"
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	doc := string(raw)
	rows := metricsDocRows(t, doc)

	for _, m := range metrics {
		row, ok := rows[m.name]
		if !ok {
			t.Errorf("%s: %s (%s) is not in a table row", path, m.name, m.file)
			continue
		}
		for _, l := range m.labels {
			if !strings.Contains(row, "`"+l+"`") {
				t.Errorf("%s: the row of %s does not name its label `%s`", path, m.name, l)
			}
		}
	}

	istio := []string{
		istiometrics.RequestsTotal, istiometrics.RequestDuration, istiometrics.RequestBytes, istiometrics.ResponseBytes,
		istiometrics.RequestMessages, istiometrics.ResponseMessages, istiometrics.TCPConnectionsOpened,
		istiometrics.TCPConnectionsClosed, istiometrics.TCPSentBytes, istiometrics.TCPReceivedBytes,
	}
	for _, name := range istio {
		if _, ok := rows[name]; !ok {
			t.Errorf("%s: Istio metric %s is not in a table row", path, name)
		}
	}
	for _, l := range append(slices.Clone(istiometrics.HTTPLabels), istiometrics.TCPLabels...) {
		if !strings.Contains(doc, "`"+l+"`") {
			t.Errorf("%s: Istio label `%s` is not documented", path, l)
		}
	}
	for _, l := range nodeLabels {
		if !strings.Contains(doc, "`"+l+"`") {
			t.Errorf("%s: Envoy stats node label `%s` is not documented", path, l)
		}
	}

	// No stale names: in the doc, and in the alert rules.
	known := func(name string) bool {
		if metrics[name] != nil || slices.Contains(istio, name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && (metrics[base] != nil || slices.Contains(istio, base)) {
				return true
			}
		}
		return false
	}
	tokenRe := regexp.MustCompile(`\b(?:meshlens|istio)_[a-z0-9_]*[a-z0-9]\b`)
	alerts, err := os.ReadFile("../deploy/prometheus/meshlens-alerts.yml")
	require.NoError(t, err)
	for file, text := range map[string]string{path: doc, "deploy/prometheus/meshlens-alerts.yml": string(alerts)} {
		for _, name := range tokenRe.FindAllString(text, -1) {
			if !known(name) && !strings.HasPrefix(name, "istio_") && name != "meshlens_overflow" {
				t.Errorf("%s names %s, which meshlens does not export", file, name)
			}
			if strings.HasPrefix(name, "istio_") && strings.HasSuffix(name, "_total") && !known(name) {
				t.Errorf("%s names %s, which meshlens does not export", file, name)
			}
		}
	}
}

// flagRe finds the flag names in cobra's usage text ("  -v, --version …").
var flagRe = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`)

// TestCommandLineDocs checks the flag tables of docs/configuration.md
// against the command: every flag of meshlens and of meshlens loadgen is
// documented, and every documented flag exists.
func TestCommandLineDocs(t *testing.T) {
	raw, err := os.ReadFile("../docs/configuration.md")
	require.NoError(t, err)
	documented := map[string][]string{} // table ("" or "loadgen") → flags
	table := ""
	for line := range strings.SplitSeq(string(raw), "\n") {
		switch {
		case strings.HasPrefix(line, "| flag |"):
			table = "meshlens"
		case strings.HasPrefix(line, "| loadgen flag |"):
			table = "loadgen"
		case !strings.HasPrefix(line, "|"):
			table = ""
		case table != "" && strings.HasPrefix(line, "| `--"):
			name := strings.TrimPrefix(strings.Trim(strings.TrimSpace(strings.Split(line, "|")[1]), "`"), "--")
			documented[table] = append(documented[table], name)
		}
	}
	root := NewCommand()
	var loadgen *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "loadgen" {
			loadgen = c
		}
	}
	require.NotNil(t, loadgen)
	for table, cmd := range map[string]*cobra.Command{"meshlens": root, "loadgen": loadgen} {
		cmd.InitDefaultHelpFlag()
		cmd.InitDefaultVersionFlag()
		var actual []string
		for _, m := range flagRe.FindAllStringSubmatch(cmd.Flags().FlagUsages(), -1) {
			if m[1] != "help" {
				actual = append(actual, m[1])
			}
		}
		require.NotEmpty(t, documented[table], "no %s flag table", table)
		for _, f := range actual {
			if !slices.Contains(documented[table], f) {
				t.Errorf("docs/configuration.md: %s flag --%s is not documented", table, f)
			}
		}
		for _, f := range documented[table] {
			if !slices.Contains(actual, f) {
				t.Errorf("docs/configuration.md documents %s flag --%s, which does not exist", table, f)
			}
		}
	}
}
