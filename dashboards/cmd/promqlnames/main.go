// Command promqlnames parses PromQL expressions with Prometheus's parser and
// prints the metric and label names each one reads. It reads a JSON array of
// expressions on stdin and writes a JSON array of results, in order:
//
//	[{"expr": "...", "uses": [{"metric": "...", "labels": ["..."]}]},
//	 {"expr": "...", "error": "..."}]
//
// The root module's end-to-end contract test (e2e/dashboards_test.go) runs
// it on every query of the generated dashboards, so that the root module
// needs no dependency on the Prometheus server module.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/meshlens/meshlens/dashboards/internal/promqlcheck"
)

type result struct {
	Expr  string            `json:"expr"`
	Error string            `json:"error,omitempty"`
	Uses  []promqlcheck.Use `json:"uses,omitempty"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "promqlnames:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var exprs []string
	if err := json.NewDecoder(in).Decode(&exprs); err != nil {
		return fmt.Errorf("read expressions: %w", err)
	}
	results := make([]result, 0, len(exprs))
	for _, e := range exprs {
		r := result{Expr: e}
		a, err := promqlcheck.Analyze(e)
		if err != nil {
			r.Error = err.Error()
		} else {
			r.Uses = a.Uses
		}
		results = append(results, r)
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(results); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}
