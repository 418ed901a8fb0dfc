package accesslogexporter

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"sigs.k8s.io/yaml"

	"github.com/meshlens/meshlens/accesslog/entry"
	"github.com/meshlens/meshlens/accesslog/format"
)

// agentConfig is deploy/collector/filelog-agent.yaml, decoded.
func agentConfig(t testing.TB) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "collector", "filelog-agent.yaml"))
	require.NoError(t, err)
	var cfg map[string]any
	require.NoError(t, yaml.Unmarshal(raw, &cfg))
	return cfg
}

func dig(t testing.TB, m map[string]any, keys ...string) any {
	t.Helper()
	var v any = m
	for _, k := range keys {
		mm, ok := v.(map[string]any)
		require.True(t, ok, "%v: not a map at %s", keys, k)
		v, ok = mm[k]
		require.True(t, ok, "%v: no %s", keys, k)
	}
	return v
}

// TestFileLogAgentReadsAccessLines runs the agent's filelog receiver, as
// deploy/collector/filelog-agent.yaml configures it (only the directory
// moved into the test's), on an istio-proxy container's log in the
// kubelet's layout: the access log lines arrive, with the pod and
// namespace from the path; pilot-agent's and Envoy's own messages and
// stderr do not. Each line arrives as a body format.IstioDefault parses.
func TestFileLogAgentReadsAccessLines(t *testing.T) {
	rcv := dig(t, agentConfig(t), "receivers", "filelog").(map[string]any)
	include := rcv["include"].([]any)
	require.Equal(t, []any{"/var/log/pods/*/istio-proxy/*.log"}, include)
	dir := t.TempDir()
	rcv["include"] = []any{filepath.Join(dir, "*", "istio-proxy", "*.log")}
	rcv["start_at"] = "beginning"
	rcv["poll_interval"] = "20ms"

	f := filelogreceiver.NewFactory()
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(rcv).Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))

	pod := filepath.Join(dir, "foo_sleep-5d9c8b7f6-abcde_7f0a3f52-0000-4000-8000-000000000001", "istio-proxy")
	require.NoError(t, os.MkdirAll(pod, 0o755))
	lines := strings.Join([]string{
		`2026-12-06T05:00:00.000000001Z stdout F 2026-12-06T05:00:00.000000Z	info	Envoy proxy is ready`,
		`2026-12-06T05:00:01.000000001Z stdout F ` + clientLine,
		`2026-12-06T05:00:01.100000001Z stderr F [2026-12-06 05:00:01.100][21][warning][config] gRPC config stream closed`,
		`2026-12-06T05:00:02.000000001Z stdout F ` + serverLine,
	}, "\n") + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(pod, "0.log"), []byte(lines), 0o644))

	sink := new(consumertest.LogsSink)
	r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return sink.LogRecordCount() >= 2 }, 10*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // nothing more comes
	require.Equal(t, 2, sink.LogRecordCount(), "only the access log lines")

	parse, err := format.Compile(format.IstioDefault)
	require.NoError(t, err)
	var bodies []string
	for _, ld := range sink.AllLogs() {
		for _, rl := range ld.ResourceLogs().All() {
			a := rl.Resource().Attributes()
			ns, _ := a.Get(attrNamespace)
			p, _ := a.Get(attrPod)
			assert.Equal(t, "foo", ns.Str())
			assert.Equal(t, "sleep-5d9c8b7f6-abcde", p.Str())
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					bodies = append(bodies, lr.Body().Str())
					var e entry.Entry
					require.NoError(t, parse.Parse([]byte(lr.Body().Str()), &e, nil))
				}
			}
		}
	}
	assert.Equal(t, []string{clientLine, serverLine}, bodies)
}

// TestFileLogAgentExtractsWhatMeshlensReads: the agent's k8sattributes
// processor adds every Kubernetes attribute the exporter reads for a pod
// (reporter), and sends to the otlp port docs/ingest.md opens.
func TestFileLogAgentExtractsWhatMeshlensReads(t *testing.T) {
	cfg := agentConfig(t)
	var got []string
	for _, m := range dig(t, cfg, "processors", "k8sattributes", "extract", "metadata").([]any) {
		got = append(got, m.(string))
	}
	for _, l := range dig(t, cfg, "processors", "k8sattributes", "extract", "labels").([]any) {
		got = append(got, l.(map[string]any)["tag_name"].(string))
	}
	for _, want := range []string{attrDeployment, attrStatefulSet, attrDaemonSet, attrApp, attrAppName, attrVersion} {
		assert.True(t, slices.Contains(got, want), "k8sattributes extracts %s", want)
	}
	assert.Equal(t, "meshlens.meshlens.svc.cluster.local:4317", dig(t, cfg, "exporters", "otlp", "endpoint"))
	assert.Equal(t, []any{"filelog"}, dig(t, cfg, "service", "pipelines", "logs", "receivers"))
	assert.Equal(t, []any{"k8sattributes", "batch"}, dig(t, cfg, "service", "pipelines", "logs", "processors"))
}
