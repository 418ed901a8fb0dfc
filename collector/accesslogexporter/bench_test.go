package accesslogexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/meshlens/meshlens/internal/benchutil"
)

// benchLogs is one resource of 100 log records of a sidecar, as bodies in
// Istio's default text format or as Envoy's OpenTelemetry logger's
// attributes (the recommended set).
func benchLogs(attrs bool) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("node_name", "sidecar~10.44.1.23~sleep-5d9c-abcde.foo~foo.svc.cluster.local")
	ra.PutStr("cluster_name", "sleep.foo")
	ra.PutStr("k8s.pod.name", "sleep-5d9c-abcde")
	ra.PutStr("k8s.namespace.name", "foo")
	ra.PutStr("k8s.deployment.name", "sleep")
	ra.PutStr("k8s.pod.labels.app", "sleep")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range 100 {
		lr := lrs.AppendEmpty()
		if !attrs {
			lr.Body().SetStr(clientLine)
			continue
		}
		a := lr.Attributes()
		a.PutStr("start_time", "2020-11-25T21:26:18.409Z")
		a.PutStr("method", "GET")
		a.PutStr("path", fmt.Sprintf("/status/%d", i))
		a.PutStr("protocol", "HTTP/1.1")
		a.PutInt("response_code", 200)
		a.PutStr("response_flags", "-")
		a.PutInt("bytes_received", 0)
		a.PutInt("bytes_sent", 135)
		a.PutInt("duration", 4)
		a.PutStr("user_agent", "curl/7.73.0-DEV")
		a.PutStr("request_id", "84961386-6d84-929d-98bd-c5aee93b5c88")
		a.PutStr("authority", "httpbin:8000")
		a.PutStr("upstream_host", "10.44.1.27:80")
		a.PutStr("upstream_cluster", "outbound|8000||httpbin.foo.svc.cluster.local")
		a.PutStr("downstream_local_address", "10.0.45.184:8000")
		a.PutStr("downstream_remote_address", "10.44.1.23:46520")
		a.PutStr("route_name", "default")
		a.PutStr("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	}
	return ld
}

// BenchmarkConsumeLogs: OpenTelemetry access logs through the exporter
// (decode, normalise, a hub that takes the records), per entry; compare
// with the ALS path's BenchmarkPipelineSynthetic (BENCHMARKS.md).
func BenchmarkConsumeLogs(b *testing.B) {
	for _, c := range []struct {
		name   string
		attrs  bool
		decode bool // include the OTLP decode the otlp receiver does
	}{{"istio-text-body", false, false}, {"otel-attributes", true, false}, {"otel-attributes+otlp-decode", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			e, err := newExporter(cfg, exportertestSettings(), timeNow)
			if err != nil {
				b.Fatal(err)
			}
			h := &hub{reg: prometheus.NewRegistry()}
			if err := e.Start(context.Background(), host{DefaultHub: h}); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = e.Shutdown(context.Background()) }()
			h.discard = true
			ld := benchLogs(c.attrs)
			raw, err := (&plog.ProtoMarshaler{}).MarshalLogs(ld)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			n := 0
			benchutil.CPUPerItem(b, "entry", func() int {
				for b.Loop() {
					if c.decode {
						if ld, err = (&plog.ProtoUnmarshaler{}).UnmarshalLogs(raw); err != nil {
							b.Fatal(err)
						}
					}
					if err := e.ConsumeLogs(context.Background(), ld); err != nil {
						b.Fatal(err)
					}
					n += ld.LogRecordCount()
				}
				return n
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
		})
	}
}

// BenchmarkFileLogIngest: Istio text lines in a kubelet-layout container
// log, read by the stock filelog receiver with the agent's operators
// (deploy/collector/filelog-agent.yaml: container parser, filter) into the
// exporter, per line; CPU is the process's, every goroutine (the
// receiver's reader and its pipeline), allocations the benchmark's.
func BenchmarkFileLogIngest(b *testing.B) {
	const lines = 20_000
	rcv := dig(b, agentConfig(b), "receivers", "filelog").(map[string]any)
	dir := b.TempDir()
	rcv["include"] = []any{filepath.Join(dir, "*", "istio-proxy", "*.log")}
	rcv["start_at"] = "beginning"
	rcv["poll_interval"] = "10ms"
	var body strings.Builder
	for i := range lines {
		fmt.Fprintf(&body, "2026-12-06T05:00:%02d.%09dZ stdout F %s\n", i%60, i, clientLine)
	}
	cfg := createDefaultConfig().(*Config)
	e, err := newExporter(cfg, exportertestSettings(), timeNow)
	if err != nil {
		b.Fatal(err)
	}
	h := &hub{reg: prometheus.NewRegistry(), discard: true}
	if err := e.Start(context.Background(), host{DefaultHub: h}); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.Shutdown(context.Background()) }()
	f := filelogreceiver.NewFactory()
	b.ReportAllocs()
	n, cpu, i := 0, time.Duration(0), 0
	for b.Loop() {
		b.StopTimer()
		pod := filepath.Join(dir, fmt.Sprintf("foo_sleep-5d9c8b7f6-x%04d_7f0a3f52-0000-4000-8000-%012d", i, i), "istio-proxy")
		i++
		if err := os.MkdirAll(pod, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pod, "0.log"), []byte(body.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		rcfg := f.CreateDefaultConfig()
		if err := confmap.NewFromStringMap(rcv).Unmarshal(rcfg); err != nil {
			b.Fatal(err)
		}
		// Only this iteration's file.
		rcfg.(*filelogreceiver.FileLogConfig).InputConfig.Include = []string{filepath.Join(pod, "*.log")}
		r, err := f.CreateLogs(context.Background(), receivertest.NewNopSettings(f.Type()), rcfg, e)
		if err != nil {
			b.Fatal(err)
		}
		before := e.metrics.processed
		start := benchutil.ProcessCPUTime()
		b.StartTimer()
		if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			b.Fatal(err)
		}
		want := testutil.ToFloat64(before) + lines
		for testutil.ToFloat64(e.metrics.processed) < want {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		cpu += benchutil.ProcessCPUTime() - start
		n += lines
		if err := r.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/entry")
}
