package istiometrics

import (
	"io"
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
)

// benchRecords normalises a generated Bookinfo mesh into records (with
// their borrowed details cleared), as the hub receives them.
func benchRecords(b *testing.B, requests int) []accesslog.Record {
	b.Helper()
	var all []accesslog.Record
	for _, stream := range benchrecs.Generate(b, loadgen.Bookinfo(), loadgen.GenConfig{Seed: 1, Requests: requests}, now) {
		for _, recs := range stream {
			all = append(all, recs...)
		}
	}
	return all
}

// BenchmarkConsumeRecords measures aggregation of realistic records into
// existing series, in batches of 100.
func BenchmarkConsumeRecords(b *testing.B) {
	recs := benchRecords(b, 20000)
	a := New(DefaultConfig())
	a.ConsumeRecords(recs, nil, now)
	b.ReportAllocs()
	n, i := 0, 0
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			end := min(i+100, len(recs))
			a.ConsumeRecords(recs[i:end], nil, now)
			n += end - i
			i = end
			if i == len(recs) {
				i = 0
			}
		}
		return n
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/record")
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// syntheticAggregator holds sets HTTP label sets, each with traffic.
func syntheticAggregator(sets int) *Aggregator {
	cfg := DefaultConfig()
	cfg.MaxSeries = sets + 1
	a := New(cfg)
	recs := benchrecs.LabelSets(sets)
	for len(recs) > 0 {
		n := min(len(recs), 1000)
		a.ConsumeRecords(recs[:n], nil, now)
		recs = recs[n:]
	}
	return a
}

// linesPerSet is the number of exposed series (lines) per HTTP label set:
// 1 counter + 3 histograms of 20 buckets, _sum and _count.
const linesPerSet = 1 + 3*(20+2)

// BenchmarkScrape compares the direct writer with client_golang's
// ConstMetric path for 100,000 exposed series.
func BenchmarkScrape(b *testing.B) {
	sets := 100_000 / linesPerSet
	a := syntheticAggregator(sets)
	b.Run("WriteText", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := a.WriteText(io.Discard, FormatText); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(sets*linesPerSet), "series")
	})
	b.Run("WriteOpenMetrics", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := a.WriteText(io.Discard, FormatOpenMetrics); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ClientGolang", func(b *testing.B) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(a.Collector())
		b.ReportAllocs()
		for b.Loop() {
			fams, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, f := range fams {
				if err := enc.Encode(f); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// TestMemoryPerSeries reports the heap held per HTTP label set and per
// exposed series after a scrape (labels rendered).
func TestMemoryPerSeries(t *testing.T) {
	if testing.Short() {
		t.Skip("measures memory")
	}
	const sets = 20000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := syntheticAggregator(sets)
	if err := a.WriteText(io.Discard, FormatText); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSet := float64(after.HeapAlloc-before.HeapAlloc) / sets
	t.Logf("heap per HTTP label set: %.0f bytes; per exposed series (%d per set): %.0f bytes", perSet, linesPerSet, perSet/linesPerSet)
	runtime.KeepAlive(a)
}
