package main

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readTree returns the files under dir by relative path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteAllIsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	// A dashboard the generator does not produce (any more) is removed.
	if err := os.MkdirAll(filepath.Join(b, "dashboards"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "dashboards", "renamed.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{a, b} {
		if err := run(context.Background(), []string{"--out", dir}, os.Stdout, os.Stderr); err != nil {
			t.Fatal(err)
		}
	}
	ta, tb := readTree(t, a), readTree(t, b)
	if len(ta) != 9 {
		t.Errorf("%d files written, want 7 dashboards and 2 provisioning files: %v", len(ta), keys(ta))
	}
	if len(ta) != len(tb) {
		t.Errorf("different file sets: %v and %v", keys(ta), keys(tb))
	}
	for f := range ta {
		if !bytes.Equal(ta[f], tb[f]) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	// And the committed output is what the generator writes.
	committed := readTree(t, filepath.Join("..", "deploy", "grafana"))
	for f, want := range ta {
		if got, ok := committed[f]; !ok || !bytes.Equal(got, want) {
			t.Errorf("deploy/grafana/%s is stale: run make dashboards", f)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// fakePrometheus answers the discovery queries like Prometheus's HTTP API,
// for the Bookinfo mesh of the end-to-end tests.
func fakePrometheus(t *testing.T) *httptest.Server {
	t.Helper()
	vector := func(services ...string) string {
		var rs []string
		for _, s := range services {
			rs = append(rs, `{"metric":{"destination_service":"`+s+`"},"value":[1,"1"]}`)
		}
		return `{"status":"success","data":{"resultType":"vector","result":[` + strings.Join(rs, ",") + `]}}`
	}
	answers := map[string]string{
		"group by (destination_service) (istio_requests_total)": vector(
			"productpage.default.svc.cluster.local", "details.default.svc.cluster.local",
			"reviews.default.svc.cluster.local", "ratings.default.svc.cluster.local",
			"recommendations.default.svc.cluster.local", "api.external.com", "unknown"),
		"group by (destination_service) (istio_tcp_connections_opened_total)": vector(
			"mongodb.default.svc.cluster.local", "www.googleapis.com"),
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/status/buildinfo":
			_, _ = w.Write([]byte(`{"status":"success","data":{"version":"2.42.0"}}`))
		case "/api/v1/query":
			if a, ok := answers[r.URL.Query().Get("query")]; ok {
				_, _ = w.Write([]byte(a))
				return
			}
			http.Error(w, "unexpected query", http.StatusBadRequest)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestDiscoverGolden(t *testing.T) {
	prom := fakePrometheus(t)
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--discover", prom.URL}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	golden := filepath.Join("testdata", "discovered.golden.json")
	if *update {
		if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), want) {
		t.Errorf("discovered dashboard differs from %s (go test -update to accept)", golden)
	}

	// The same dashboard to a file, and capped.
	out := filepath.Join(t.TempDir(), "d.json")
	stderr.Reset()
	if err := run(context.Background(), []string{"--discover", prom.URL, "--discover-from", "prometheus", "-o", out, "--max-services", "2"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "8 services found, keeping the first 2") {
		t.Errorf("stderr: %s", stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("details.default.svc.cluster.local")) || bytes.Contains(b, []byte("reviews.default")) {
		t.Error("--max-services 2 should keep api.external.com and details only")
	}
}

func TestRunErrors(t *testing.T) {
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			_, _ = w.Write([]byte("meshlens_receiver_entries_received_total 0\n"))
			return
		}
		http.NotFound(w, r)
	}))
	defer empty.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown flag", args: []string{"--nope"}, want: "flag provided but not defined"},
		{name: "argument", args: []string{"extra"}, want: "unexpected arguments"},
		{name: "bad source", args: []string{"--discover", empty.URL, "--discover-from", "grafana"}, want: "unknown discovery source"},
		{name: "no traffic yet", args: []string{"--discover", empty.URL}, want: "no services found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
