package metricsreceiver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlens/meshlens/internal/benchutil"

	prwexporter "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/prometheusremotewriteexporter"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/featuregate"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/internal/benchrecs"
)

// BenchmarkPushRemoteWrite measures a whole push of the Istio series of
// sets HTTP label sets (benchrecs.LabelSets: 25 labels, a counter and three
// 20-bucket histograms each) through the pipeline docs/push.md configures:
// this receiver's collection, contrib's prometheus_remote_write exporter
// (conversion, protobuf, snappy) and an HTTP request to a local sink that
// reads the body and answers 204. cpu-s/push is the process's CPU time
// (user + system, every goroutine: the sink's reading is in it, a few
// percent), cpu-s/min at the default 15 s interval is four of them.
//
// The variants are exporter settings, at 1,000 sets (the cost is
// proportional to the series): rw2 is Remote Write 2.0 (feature gate
// exporter.prometheusremotewritexporter.enableSendingRW2), nhcb sends each
// histogram as one native histogram with custom buckets instead of 22
// classic series (convert_explicit_histograms_to_nhcb; Prometheus 3 or
// Mimir), batch16m sends requests of 16 MB rather than 3 MB.
func BenchmarkPushRemoteWrite(b *testing.B) {
	for _, sets := range []int{1000, 30_000} {
		b.Run(fmt.Sprintf("sets=%d", sets), func(b *testing.B) {
			benchmarkPushRemoteWrite(b, sets, nil)
		})
	}
	rw2 := map[string]any{"protobuf_message": "io.prometheus.write.v2.Request"}
	nhcb := map[string]any{"convert_explicit_histograms_to_nhcb": true}
	for _, v := range []struct {
		name  string
		extra map[string]any
	}{
		{"batch16m", map[string]any{"max_batch_size_bytes": 16 << 20}},
		{"nhcb", nhcb},
		{"rw2", rw2},
		{"rw2+nhcb", map[string]any{"protobuf_message": "io.prometheus.write.v2.Request", "convert_explicit_histograms_to_nhcb": true}},
	} {
		b.Run("sets=1000/"+v.name, func(b *testing.B) {
			if _, ok := v.extra["protobuf_message"]; ok {
				setGate(b, "exporter.prometheusremotewritexporter.enableSendingRW2")
			}
			benchmarkPushRemoteWrite(b, 1000, v.extra)
		})
	}
}

// setGate enables a feature gate for the benchmark.
func setGate(b *testing.B, id string) {
	b.Helper()
	if err := featuregate.GlobalRegistry().Set(id, true); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = featuregate.GlobalRegistry().Set(id, false) })
}

func benchmarkPushRemoteWrite(b *testing.B, sets int, extra map[string]any) {
	cfg := istiometrics.DefaultConfig()
	cfg.MaxSeries = sets + 1
	agg := istiometrics.New(cfg)
	now := time.Now()
	recs := benchrecs.LabelSets(sets)
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		agg.ConsumeRecords(recs[:n], nil, now)
		recs = recs[n:]
	}
	var bodyBytes, requests atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		bodyBytes.Add(n)
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	exp := remoteWriteExporter(b, sink.URL, extra)

	rcfg := createDefaultConfig().(*Config)
	r := newReceiver(rcfg, receivertest.NewNopSettings(Type), exp, func() time.Time { return now })
	r.readers = []reader{agg.NewOTelReader(now)}
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := benchutil.ProcessCPUTime()
	pushes := 0
	for b.Loop() {
		now = now.Add(15 * time.Second)
		if err := r.collect(ctx); err != nil {
			b.Fatal(err)
		}
		pushes++
	}
	// The exporter's queue sends in the background: what it holds is
	// sent by Shutdown, and counted.
	if err := exp.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	cpu := (benchutil.ProcessCPUTime() - cpu0).Seconds() / float64(pushes)
	b.ReportMetric(cpu, "cpu-s/push")
	b.ReportMetric(cpu*4, "cpu-s/min@15s")
	b.ReportMetric(float64(bodyBytes.Load())/float64(pushes), "wire-B/push")
	b.ReportMetric(float64(requests.Load())/float64(pushes), "requests/push")
}

// remoteWriteExporter returns a started prometheus_remote_write exporter
// sending to url, configured as docs/push.md's example, plus extra keys.
func remoteWriteExporter(b *testing.B, url string, extra map[string]any) exporter.Metrics {
	b.Helper()
	f := prwexporter.NewFactory()
	cfg := f.CreateDefaultConfig()
	m := map[string]any{
		"http":                 map[string]any{"endpoint": url + "/api/v1/write", "tls": map[string]any{"insecure": true}},
		"translation_strategy": "UnderscoreEscapingWithoutSuffixes",
		"disable_scope_info":   true,
		"target_info":          map[string]any{"enabled": false},
	}
	for k, v := range extra {
		m[k] = v
	}
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	exp, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(f.Type()), cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := exp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	return exp
}
