package api

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/kiali"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

var update = flag.Bool("update", false, "rewrite the golden files under ../testdata/")

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

func newLive(t testing.TB, opts Options) *Live {
	t.Helper()
	if opts.Start.IsZero() {
		opts.Start = testNow.Add(-time.Hour) // counting for an hour: windows fully covered
	}
	l, err := NewLive(topology.Config{}, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

func meshLive(t testing.TB) *Live {
	t.Helper()
	l := newLive(t, Options{})
	batches, times := meshtest.Records(testNow)
	for i := range batches {
		l.ConsumeRecords(batches[i], nil, times[i])
	}
	return l
}

// get serves one request and returns the status and body.
func get(t testing.TB, h http.Handler, target string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, target, http.NoBody))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, body
}

func checkGolden(t *testing.T, name string, b []byte) {
	t.Helper()
	path := filepath.Join("..", "testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, b, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test ./topology/api -run %s -update", t.Name())
	require.Equal(t, string(want), string(b))
}

// indent re-indents a JSON document for readable golden files.
func indent(t testing.TB, b []byte) []byte {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v))
	out, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return append(out, '\n')
}

func serve(t testing.TB, h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, target, http.NoBody))
	return rec
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func kialiAppenders() []string { return kiali.Appenders }
