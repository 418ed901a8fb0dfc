package promsource

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/topology"
	"github.com/meshlens/meshlens/topology/internal/meshtest"
)

// BenchmarkSourceSnapshotLarge measures the global graph of 1,000 services
// and 10,000 edges from query answers already received: summing the
// samples per edge (the 11 queries of one window, ~150,000 samples) and
// building the snapshot. Prometheus's own query time and the HTTP transfer
// are excluded.
func BenchmarkSourceSnapshotLarge(b *testing.B) {
	agg := istiometrics.New(istiometrics.DefaultConfig())
	agg.ConsumeRecords(meshtest.LargeRecords(1000, 10), nil, testNow)
	f := &fakeProm{}
	f.scrape(b, "meshlens", "a:9102", agg)
	answers := map[string][]Sample{}
	samples := 0
	for _, q := range Queries(nil, 10*time.Minute) {
		res, err := f.query(b.Context(), q, testNow)
		require.NoError(b, err)
		answers[q] = res
		samples += len(res)
	}
	cached := func(_ context.Context, q string, _ time.Time) ([]Sample, error) { return answers[q], nil }
	src, err := NewWithQuery(cached, "", time.Minute)
	require.NoError(b, err)
	for _, gran := range []topology.Granularity{topology.Workload, topology.Service} {
		b.Run(gran.String(), func(b *testing.B) {
			b.ReportAllocs()
			var snap *topology.Snapshot
			for b.Loop() {
				var err error
				snap, err = src.Snapshot(b.Context(), testNow, topology.SnapshotOptions{Granularity: gran, Windows: []time.Duration{10 * time.Minute}})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(snap.Edges)), "edges")
			b.ReportMetric(float64(samples), "samples")
		})
	}
}
