package spans

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/benchutil"
	"github.com/meshlens/meshlens/loadgen"
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
	benchObserve(b, batches, batches, m.Observe)
}

// BenchmarkMetricsObserveSynthetic measures the span metrics per record in
// steady state on the mesh of the end-to-end load test (syntheticBatches),
// whose series are more varied than Bookinfo's: ~370 series, a span name per
// destination service and port for each caller and callee, by status (paths
// are not in span names). The series of all the traffic exist; the timed loop
// cycles over ten messages of ten proxies, whose records are in cache as
// right after decoding (messages=10), or over every message, whose records
// come from memory, which the hub's never do (messages=all).
func BenchmarkMetricsObserveSynthetic(b *testing.B) {
	batches := syntheticBatches(b)
	for _, bc := range []struct {
		name string
		n    int
	}{{"messages=10", 10}, {"messages=all", len(batches)}} {
		b.Run(bc.name, func(b *testing.B) {
			m := NewMetrics(MetricsConfig{TTL: time.Hour})
			benchObserve(b, batches, batches[:bc.n], m.Observe)
			b.ReportMetric(float64(m.Len()), "series")
		})
	}
}

// benchObserve feeds all to observe, then times it over batches, cycling,
// and reports the wall and CPU time per record.
func benchObserve(b *testing.B, all, batches [][]accesslog.Record, observe func([]accesslog.Record, time.Time)) {
	now := time.Unix(0, 0)
	for _, batch := range all {
		observe(batch, now)
	}
	recs, i := 0, 0
	b.ReportAllocs()
	benchutil.CPUPerItem(b, "record", func() int {
		for b.Loop() {
			observe(batches[i], now)
			recs += len(batches[i])
			i = (i + 1) % len(batches)
		}
		return recs
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
}

// syntheticBatches decodes the HTTP streams of the mesh the end-to-end load
// test replays (loadgen.Synthetic: 50 services, 2 workloads each, 200 call
// edges) into one batch of records per message, the streams' messages
// interleaved as concurrent sidecars' messages reach the hub.
func syntheticBatches(b *testing.B) [][]accesslog.Record {
	b.Helper()
	tr := loadgen.Synthetic(50, 2, 200, 1).Generate(loadgen.GenConfig{Seed: 1, Requests: 20_000})
	var streams [][][]accesslog.Record
	for i := range tr.Streams {
		s := &tr.Streams[i]
		if s.Kind != loadgen.StreamHTTP {
			continue
		}
		st := accesslog.NewStream(accesslog.Config{}, nil)
		var msgs [][]accesslog.Record
		for _, m := range s.Messages {
			recs, _, err := st.Decode(m, nil, time.Unix(0, 0))
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, recs)
		}
		streams = append(streams, msgs)
	}
	var out [][]accesslog.Record
	for j := 0; ; j++ {
		n := len(out)
		for _, msgs := range streams {
			if j < len(msgs) {
				out = append(out, msgs[j])
			}
		}
		if len(out) == n {
			return out
		}
	}
}
