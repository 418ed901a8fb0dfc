package istiometrics

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshlens/meshlens/internal/benchutil"
)

// BenchmarkPush measures one read of the meshlens_metrics receiver (issue
// 18): every Istio series read under the shard locks and built as pdata,
// at 1k, 10k and 30k HTTP label sets (6 points each: a counter and three
// histograms of 20 buckets, 25 labels). batch=8192 is the receiver's
// default max_batch_points (each batch dropped once built, as a queueing
// exporter would take it); batch=all builds one pmetric holding every
// series, whose B/op is the memory a push would need without batching.
func BenchmarkPush(b *testing.B) {
	for _, sets := range []int{1000, 10_000, 30_000} {
		a := syntheticAggregator(sets)
		for _, batch := range []int{8192, 1 << 30} {
			name := fmt.Sprint(batch)
			if batch == 1<<30 {
				name = "all"
			}
			b.Run(fmt.Sprintf("sets=%d/batch=%s", sets, name), func(b *testing.B) {
				r := a.NewOTelReader(now)
				points := 0
				emit := func(ms pmetric.MetricSlice) error {
					for i := range ms.Len() {
						m := ms.At(i)
						if m.Type() == pmetric.MetricTypeSum {
							points += m.Sum().DataPoints().Len()
						} else {
							points += m.Histogram().DataPoints().Len()
						}
					}
					return nil
				}
				b.ReportAllocs()
				pushes := 0
				at := now
				benchutil.CPUPerItem(b, "push", func() int {
					for b.Loop() {
						at = at.Add(15 * time.Second)
						if err := r.Read(at, batch, emit); err != nil {
							b.Fatal(err)
						}
						pushes++
					}
					return pushes
				})
				b.ReportMetric(float64(points)/float64(pushes), "points/push")
			})
		}
	}
}
