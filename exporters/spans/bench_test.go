package spans

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/accesslog/loadgen"
)

// benchRecords returns realistic final HTTP records (both reporters, W3C,
// B3 and untraced requests, gRPC, errors) in batches of 100, as one
// ALS message of a busy sidecar carries them.
func benchRecords(b *testing.B) [][]accesslog.Record {
	b.Helper()
	recs := trafficRecords(b, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 20_000, UntracedShare: 0.1}))
	var out [][]accesslog.Record
	for len(recs) >= 100 {
		out = append(out, recs[:100:100])
		recs = recs[100:]
	}
	return out
}

// BenchmarkBuild measures building one span (ids, name, ~40 attributes,
// resource grouping) into pdata.
func BenchmarkBuild(b *testing.B) {
	batches := benchRecords(b)
	s := NewSampler(keepAll())
	bl := NewBuilder()
	spans, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		batch := batches[i%len(batches)]
		i++
		for j := range batch {
			if d, t := s.Decide(&batch[j]); d.Kept() {
				bl.Append(&batch[j], t, d)
			}
		}
		spans += bl.Len()
		bl.Take()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(spans), "ns/span")
}

// BenchmarkSampledOut measures the cost of a record that does not become a
// span: the whole decision, before any pdata.
func BenchmarkSampledOut(b *testing.B) {
	batches := benchRecords(b)
	s := NewSampler(Config{SamplingRate: 0, SyntheticTraceIDs: true})
	recs, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		batch := batches[i%len(batches)]
		i++
		for j := range batch {
			if d, _ := s.Decide(&batch[j]); d.Kept() {
				b.Fatal("kept")
			}
		}
		recs += len(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
}

// BenchmarkReconstruct measures span reconstruction and the export encoding
// per record at 1% and 100% sampling: decide every record of a message,
// build the kept ones into one ptrace.Traces and marshal it to OTLP
// protobuf as the OTLP exporter does (errors and slow requests kept too, as
// by default).
func BenchmarkReconstruct(b *testing.B) {
	batches := benchRecords(b)
	for _, rate := range []float64{0.01, 1} {
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.SamplingRate = rate
			s := NewSampler(cfg)
			bl := NewBuilder()
			var m ptrace.ProtoMarshaler
			recs, spans, bytes, i := 0, 0, 0, 0
			b.ReportAllocs()
			for b.Loop() {
				batch := batches[i%len(batches)]
				i++
				for j := range batch {
					if d, t := s.Decide(&batch[j]); d.Kept() {
						bl.Append(&batch[j], t, d)
					}
				}
				recs += len(batch)
				if bl.Len() == 0 {
					continue
				}
				spans += bl.Len()
				pb, err := m.MarshalTraces(bl.Take())
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(pb)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
			b.ReportMetric(float64(spans)/float64(recs), "spans/record")
			if spans > 0 {
				b.ReportMetric(float64(bytes)/float64(spans), "B/span")
			}
		})
	}
}

// BenchmarkMetricsObserve measures the span metrics per record in steady
// state (series exist): no allocation. It cycles over ten messages: the hub
// counts a message's records right after they were decoded, while the
// message's bytes (which the span name is read from) are still in cache.
func BenchmarkMetricsObserve(b *testing.B) {
	batches := benchRecords(b)[:10]
	m := NewMetrics(MetricsConfig{TTL: time.Hour})
	now := time.Unix(0, 0)
	for _, batch := range batches {
		m.Observe(batch, now)
	}
	recs, i := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		batch := batches[i%len(batches)]
		i++
		m.Observe(batch, now)
		recs += len(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
}
