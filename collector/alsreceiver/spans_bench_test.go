package alsreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
	"github.com/meshlens/meshlens/loadgen"
)

// BenchmarkIngestSpans measures the ingest path of one ALS message of 100
// realistic Istio entries (decode + normalise) with and without span
// reconstruction: "decode" is the path without the span hook, "off" the
// path with the hook and traces disabled (the default: a nil check per
// message, no record is looked at), then 1% and 100% sampling with errors
// and slow requests kept, the spans handed to a pipeline that takes them.
func BenchmarkIngestSpans(b *testing.B) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 40_000, BatchSize: 100, UntracedShare: 0.05})
	best := -1
	for i := range tr.Streams {
		s := &tr.Streams[i]
		if s.Kind == loadgen.StreamHTTP && (best < 0 || len(s.Messages) > len(tr.Streams[best].Messages)) {
			best = i
		}
	}
	s := &tr.Streams[best]
	var msgs [][]byte
	for i := 1; i < len(s.Messages); i++ {
		if s.Entries[i] == 100 {
			msgs = append(msgs, s.Messages[i])
		}
	}
	for _, bc := range []struct {
		name string
		hook bool
		rate float64 // < 0: traces disabled
	}{
		{"decode", false, -1},
		{"off", true, -1},
		{"rate=0.01", true, 0.01},
		{"rate=1", true, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Now()
			st := accesslog.NewStream(accesslog.Config{}, nil)
			recs, _, err := st.Decode(s.Messages[0], nil, now)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs { // warm the intern table
				recs, _, _ = st.Decode(m, recs[:0], now)
			}
			var p *spans.Pipeline
			if bc.rate >= 0 {
				cfg := spans.DefaultPipelineConfig()
				cfg.Enabled, cfg.SamplingRate, cfg.QueueSize = true, bc.rate, 1<<20
				p, err = spans.NewPipeline(cfg, consumertest.NewNop(), zap.NewNop(), prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				p.Start()
				defer p.Shutdown(context.Background())
			}
			entries, i := 0, 0
			b.ReportAllocs()
			for b.Loop() {
				recs, _, err = st.Decode(msgs[i%len(msgs)], recs[:0], now)
				if err != nil {
					b.Fatal(err)
				}
				i++
				if bc.hook && p != nil {
					p.Offer(recs)
				}
				entries += len(recs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
		})
	}
}
