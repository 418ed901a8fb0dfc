package istiometrics

import (
	"io"
	"math"
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
// existing series, in batches of 100, with native histograms off (the
// default) and on.
func BenchmarkConsumeRecords(b *testing.B) {
	recs := benchRecords(b, 20000)
	b.Run("classic", func(b *testing.B) { benchConsume(b, recs, DefaultConfig()) })
	cfg := DefaultConfig()
	cfg.NativeHistograms.Enabled = true
	b.Run("native", func(b *testing.B) { benchConsume(b, recs, cfg) })
}

func benchConsume(b *testing.B, recs []accesslog.Record, cfg Config) {
	a := New(cfg)
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
	if testing.Short() || raceEnabled {
		t.Skip("measures memory (not under the race detector, which changes it)")
	}
	const sets = 20000
	for _, native := range []bool{false, true} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		cfg := DefaultConfig()
		cfg.MaxSeries = sets + 1
		cfg.NativeHistograms.Enabled = native
		a := New(cfg)
		recs := benchrecs.LabelSets(sets)
		// Each label set sees 32 requests of 0.5 ms to 5 s and 100 B to
		// 1 MB: each native histogram spans ~107 buckets of schema 3.
		const spread = 32
		batch := make([]accesslog.Record, 0, 1000*spread)
		for len(recs) > 0 {
			n := min(len(recs), 1000)
			batch = batch[:0]
			for _, r := range recs[:n] {
				for j := range spread {
					f := math.Pow(10, float64(j)/(spread-1))
					r.DurationNanos = int64(0.5e6 * math.Pow(f, 4))
					r.RequestBytes, r.ResponseBytes = uint64(100*math.Pow(f, 4)), uint64(100*math.Pow(f, 4))
					batch = append(batch, r)
				}
			}
			a.ConsumeRecords(batch, nil, now)
			recs = recs[n:]
		}
		if err := a.WriteText(io.Discard, FormatText); err != nil {
			t.Fatal(err)
		}
		if native {
			if err := a.WriteProtobuf(io.Discard); err != nil {
				t.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSet := float64(after.HeapAlloc-before.HeapAlloc) / sets
		t.Logf("native histograms %v: heap per HTTP label set: %.0f bytes; per exposed series (%d per set): %.0f bytes", native, perSet, linesPerSet, perSet/linesPerSet)
		runtime.KeepAlive(a)
	}
}
