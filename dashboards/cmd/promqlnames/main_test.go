package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	in := `["sum by (le) (rate(istio_request_duration_milliseconds_bucket{reporter=\"source\"}[1m]))", "sum(", "{job=\"x\"}"]`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	var got []result
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d results, want 3", len(got))
	}
	if got[0].Error != "" || len(got[0].Uses) != 1 || got[0].Uses[0].Metric != "istio_request_duration_milliseconds_bucket" ||
		strings.Join(got[0].Uses[0].Labels, ",") != "le,reporter" {
		t.Errorf("first result %+v", got[0])
	}
	if got[1].Error == "" || got[2].Error == "" {
		t.Errorf("want errors for an unparsable expression and a nameless selector: %+v", got[1:])
	}
	if err := run(strings.NewReader("not json"), &out); err == nil {
		t.Error("no error for bad input")
	}
}
