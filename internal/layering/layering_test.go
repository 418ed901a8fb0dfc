package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLayers lists every package of the module with `go list` and checks its
// non-test imports against the rules: a core never imports an adapter, and
// imports nothing that does I/O.
func TestLayers(t *testing.T) {
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json=ImportPath,Imports", Module+"/...")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	require.NoError(t, cmd.Run(), "go list: %s", stderr.String())
	dec := json.NewDecoder(&out)
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		err := dec.Decode(&p)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		n++
		for _, v := range check(p.ImportPath, p.Imports) {
			t.Error(v)
		}
	}
	assert.Greater(t, n, 20, "go list found the module's packages")
}

// TestRulesCatchViolations checks the rules against imports that break them,
// so that TestLayers cannot pass by accepting everything.
func TestRulesCatchViolations(t *testing.T) {
	m := func(rel string) string { return Module + "/" + rel }
	tests := []struct {
		pkg     string
		imports []string
		bad     int
	}{
		{m("accesslog"), []string{m("accesslog/entry"), m("accesslog/internal/wire"), "time", "context"}, 0},
		{m("accesslog"), []string{m("exporters/spans")}, 1},
		{m("accesslog"), []string{m("collector/alsreceiver")}, 1},
		{m("accesslog"), []string{m("loadgen")}, 1},
		{m("accesslog/internal/wire"), []string{"net/http", "os", "google.golang.org/grpc", "go.uber.org/zap"}, 4},
		{m("accesslog"), []string{"github.com/prometheus/client_golang/prometheus"}, 1},
		{m("topology"), []string{m("topology/api")}, 1},
		{m("topology"), []string{m("topology/internal/window"), "net/url"}, 0},
		{m("topology/internal/window"), []string{m("topology/promsource")}, 1},
		{m("topology/api"), []string{m("topology"), m("topology/promsource"), "net/http"}, 0},
		{m("topology/api"), []string{m("exporters/istiometrics")}, 1},
		{m("exporters/spans"), []string{m("accesslog"), "go.opentelemetry.io/collector/consumer"}, 0},
		{m("exporters/remotewrite"), []string{"google.golang.org/protobuf/encoding/protowire"}, 0},
		{m("exporters/remotewrite"), []string{"net/http"}, 1},
		{m("exporters/remotewrite"), []string{m("exporters/istiometrics")}, 1},
		{m("exporters/spans"), []string{m("topology")}, 1},
		{m("exporters/spans"), []string{m("collector/hubextension")}, 1},
		{m("loadgen"), []string{m("accesslog")}, 1},
		{m("collector/hubextension"), []string{m("exporters/spans"), m("topology/api"), m("accesslog")}, 0},
		{m("collector"), []string{m("e2e")}, 1},
		{m("cmd/meshlens"), []string{m("collector")}, 0},
		{m("newfolder"), nil, 1},
	}
	for _, tt := range tests {
		got := check(tt.pkg, tt.imports)
		assert.Len(t, got, tt.bad, "%s importing %v: %v", tt.pkg, tt.imports, got)
	}
}
