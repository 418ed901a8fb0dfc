package hubextension

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshlens/meshlens/internal/benchutil"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
)

// BenchmarkRemoteWritePush measures one whole push of the own remote-write
// sender (remote_write), as BenchmarkPushRemoteWrite in
// collector/metricsreceiver measures contrib's exporter: the Istio series
// of sets HTTP label sets (benchrecs.LabelSets: 25 labels, a counter and
// three 20-bucket histograms each) read and encoded, each request
// snappy-compressed and POSTed to a local sink that reads the body and
// answers 204. cpu-s/push is the process's CPU (getrusage: every
// goroutine, the sink's reading included), cpu-s/min@15s four of them.
// classic sends 67 series a label set; native (metrics::native_histograms
// on) a counter and three native histograms, each label set having seen
// 32 requests of 0.5 ms to 5 s and 100 B to 1 MB (~107 buckets a
// histogram, as BENCHMARKS.md's protobuf scrape). These cases hold the
// Istio series only (the default sources, envoy_* and the span metrics
// empty). The +envoy+spans cases also have proxies Envoys report 352
// envoy_* series each (envoyStats(10): counters, gauges, an Envoy
// histogram, a summary) and the span metrics fed with the same records:
// 100 proxies (35,200 envoy_* series) for 1,000 label sets, 284 (99,968:
// envoy_stats::max_series's default, 100,000) for 10,000.
func BenchmarkRemoteWritePush(b *testing.B) {
	for _, sets := range []int{1000, 10_000, 30_000} {
		for _, native := range []bool{false, true} {
			name := fmt.Sprintf("sets=%d/classic", sets)
			if native {
				name = fmt.Sprintf("sets=%d/native", sets)
			}
			b.Run(name, func(b *testing.B) { benchmarkRemoteWritePush(b, sets, native, 0) })
		}
	}
	for _, c := range []struct{ sets, proxies int }{{1000, 100}, {10_000, 284}} {
		for _, native := range []bool{false, true} {
			name := fmt.Sprintf("sets=%d/classic+envoy+spans", c.sets)
			if native {
				name = fmt.Sprintf("sets=%d/native+envoy+spans", c.sets)
			}
			b.Run(name, func(b *testing.B) { benchmarkRemoteWritePush(b, c.sets, native, c.proxies) })
		}
	}
}

// spread returns 32 copies of each record, with durations of 0.5 ms to
// 5 s and sizes of 100 B to 1 MB.
func spread(recs []accesslog.Record) []accesslog.Record {
	const n = 32
	out := make([]accesslog.Record, 0, n*len(recs))
	for _, r := range recs {
		for j := range n {
			f := math.Pow(10, float64(j)/(n-1))
			r.DurationNanos = int64(0.5e6 * math.Pow(f, 4))
			r.RequestBytes, r.ResponseBytes = uint64(100*math.Pow(f, 4)), uint64(100*math.Pow(f, 4))
			out = append(out, r)
		}
	}
	return out
}

func benchmarkRemoteWritePush(b *testing.B, sets int, native bool, proxies int) {
	var wire, requests atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		wire.Add(n)
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.MaxSeries = sets + 1
	cfg.Metrics.NativeHistograms.Enabled = native
	cfg.RemoteWrite.Client.Endpoint = sink.URL + "/api/v1/write"
	now := time.Now()
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), func() time.Time { return now })
	if err != nil {
		b.Fatal(err)
	}
	for batch := range slicesChunk(benchrecs.LabelSets(sets), 1000) {
		if native {
			batch = spread(batch)
		}
		if proxies == 0 {
			h.agg.ConsumeRecords(batch, nil, now)
		} else if err := h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), batch); err != nil {
			b.Fatal(err)
		}
	}
	feedEnvoyStats(h, proxies, 10, now)
	ctx := context.Background()
	if err := h.rw.start(ctx, componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()); err != nil {
		b.Fatal(err)
	}
	h.rw.push(ctx) // the first push encodes each series' labels
	wire.Store(0)
	requests.Store(0)
	samples0 := metricValueB(b, h, "meshlens_remote_write_samples_total") + metricValueB(b, h, "meshlens_remote_write_histograms_total")
	b.ReportAllocs()
	cpu0 := benchutil.ProcessCPUTime()
	pushes := 0
	for b.Loop() {
		now = now.Add(15 * time.Second)
		h.rw.push(ctx)
		pushes++
	}
	cpu := (benchutil.ProcessCPUTime() - cpu0).Seconds() / float64(pushes)
	if f := metricValueB(b, h, "meshlens_remote_write_pushes_failed_total"); f != 0 {
		b.Fatalf("%v pushes failed", f)
	}
	b.ReportMetric(cpu, "cpu-s/push")
	b.ReportMetric(cpu*4, "cpu-s/min@15s")
	b.ReportMetric(float64(wire.Load())/float64(pushes), "wire-B/push")
	b.ReportMetric(float64(requests.Load())/float64(pushes), "requests/push")
	samples := metricValueB(b, h, "meshlens_remote_write_samples_total") + metricValueB(b, h, "meshlens_remote_write_histograms_total")
	b.ReportMetric((samples-samples0)/float64(pushes), "series/push")
}

func metricValueB(b *testing.B, h *Hub, name string) float64 {
	b.Helper()
	fams, err := h.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	b.Fatalf("no %s", name)
	return 0
}
