package istiometrics

import (
	"fmt"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/meshlens/meshlens/exporters/remotewrite"
	"github.com/meshlens/meshlens/internal/benchrecs"
	"github.com/meshlens/meshlens/internal/benchutil"
)

// BenchmarkRemoteWrite measures one push of the own remote-write sender's
// core at 1k, 10k and 30k HTTP label sets (benchrecs.LabelSets: 25 labels,
// a counter and three 20-bucket histograms each): every series encoded
// under the shard locks into requests of 4 MiB (the default
// max_request_bytes), and, with snappy, each request compressed as the
// sender does. classic sends 67 series a label set; native (native
// histograms on) 4. cpu-s/push is this goroutine's CPU.
func BenchmarkRemoteWrite(b *testing.B) {
	for _, sets := range []int{1000, 10_000, 30_000} {
		for _, native := range []bool{false, true} {
			cfg := DefaultConfig()
			cfg.MaxSeries = sets + 1
			cfg.NativeHistograms.Enabled = native
			a := New(cfg)
			recs := benchrecs.LabelSets(sets)
			for len(recs) > 0 {
				n := min(len(recs), 1000)
				a.ConsumeRecords(recs[:n], nil, now)
				recs = recs[n:]
			}
			r, err := a.NewRemoteWriteReader([]remotewrite.Label{{Name: "job", Value: "meshlens"}, {Name: "instance", Value: "meshlens-0"}})
			if err != nil {
				b.Fatal(err)
			}
			kind := "classic"
			if native {
				kind = "native"
			}
			for _, compress := range []bool{false, true} {
				name := fmt.Sprintf("sets=%d/%s", sets, kind)
				if compress {
					name += "/snappy"
				}
				b.Run(name, func(b *testing.B) {
					var raw, wire, series int
					var buf []byte
					batch := &remotewrite.Batch{MaxBytes: 4 << 20, Emit: func(body []byte, s, h int) error {
						raw += len(body)
						series += s + h
						if compress {
							buf = s2.EncodeSnappy(buf[:cap(buf)], body)
							wire += len(buf)
						}
						return nil
					}}
					ts := now.UnixMilli()
					_ = r.Read(ts, batch) // encode the labels once
					_ = batch.Flush()
					raw, wire, series = 0, 0, 0
					b.ReportAllocs()
					pushes := 0
					benchutil.CPUPerItem(b, "push", func() int {
						for b.Loop() {
							ts += 15_000
							if err := r.Read(ts, batch); err != nil {
								b.Fatal(err)
							}
							if err := batch.Flush(); err != nil {
								b.Fatal(err)
							}
							pushes++
						}
						return pushes
					})
					b.ReportMetric(float64(series)/float64(pushes), "series/push")
					b.ReportMetric(float64(raw)/float64(pushes)/1e6, "MB/push")
					if compress {
						b.ReportMetric(float64(wire)/float64(pushes)/1e6, "wireMB/push")
					}
				})
			}
		}
	}
}
