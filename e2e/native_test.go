package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/loadgen"
)

// requestDurationsMs decodes the generated traffic with Envoy's own
// message types (not meshlens's decoder) and returns the duration in
// milliseconds of every final HTTP entry, as Istio's REQUEST_DURATION
// takes it (the request's duration, else the time to the last byte sent
// downstream).
func requestDurationsMs(t *testing.T, tr *loadgen.Traffic) []float64 {
	t.Helper()
	var out []float64
	for i := range tr.Streams {
		for _, raw := range tr.Streams[i].Messages {
			var msg alsv3.StreamAccessLogsMessage
			require.NoError(t, proto.Unmarshal(raw, &msg))
			for _, e := range msg.GetHttpLogs().GetLogEntry() {
				cp := e.GetCommonProperties()
				switch cp.GetAccessLogType() {
				case accesslogv3.AccessLogType_NotSet:
					if cp.GetIntermediateLogEntry() { //nolint:staticcheck // Envoys before access_log_type set only this
						continue
					}
				case accesslogv3.AccessLogType_DownstreamEnd:
				default:
					continue
				}
				d := cp.GetDuration()
				if d == nil {
					d = cp.GetTimeToLastDownstreamTxByte()
				}
				if d == nil {
					continue
				}
				out = append(out, float64(d.AsDuration().Nanoseconds())/1e6)
			}
		}
	}
	return out
}

// TestE2ENativeHistograms: the real Prometheus with native histograms on
// scrapes meshlens (native histograms on) in the protobuf exposition and
// stores the three Istio histograms as native histograms: their counts are
// exactly the requests the traffic made, per workload pair as in total,
// their sums the durations' sum, and histogram_quantile over them equals
// the quantile of the generated durations, computed here from the raw
// entries, within the schema's error (a factor of 2^(1/8): schema 3). The
// classic buckets are not stored (Prometheus keeps one or the other), the
// text scrape still has them.
func TestE2ENativeHistograms(t *testing.T) {
	need(t, "prometheus")
	mesh := startMeshlens(t, "--set", "extensions::meshlens::metrics::native_histograms::enabled=true")
	prom := startPrometheusWith(t, freePort(t), "meshlens", []string{"--enable-feature=native-histograms"}, mesh.HTTP)

	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 19, Requests: 4000})
	_, err := loadgen.Send(context.Background(), dial(t, mesh.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, float64(tr.EntryCount()))
	durations := requestDurationsMs(t, tr)
	require.NotEmpty(t, durations)

	var total float64
	pairs := map[string]float64{}
	for k, v := range tr.Ledger.Requests {
		total += float64(v.Count)
		pairs[fmt.Sprintf("%s %s %s", k.Reporter, k.Source, k.Destination)] += float64(v.Count)
	}
	require.Len(t, durations, int(total), "every request has a duration")
	var at time.Time
	require.Eventually(t, func() bool {
		r := prom.query(t, `histogram_count(sum(istio_request_duration_milliseconds))`, time.Time{})
		if len(r) == 1 && r[0].Value == total {
			at = r[0].Time
			return true
		}
		return false
	}, 60*time.Second, 250*time.Millisecond, "Prometheus holds native histograms counting %v requests", total)

	t.Run("counts per workload pair", func(t *testing.T) {
		got := map[string]float64{}
		for _, s := range prom.query(t, `sum by (reporter, source_workload, destination_workload) (histogram_count(istio_request_duration_milliseconds))`, at) {
			got[fmt.Sprintf("%s %s %s", s.Metric["reporter"], s.Metric["source_workload"], s.Metric["destination_workload"])] = s.Value
		}
		assert.Equal(t, pairs, got)
		for _, h := range []string{"istio_request_bytes", "istio_response_bytes"} {
			r := prom.query(t, fmt.Sprintf(`histogram_count(sum(%s))`, h), at)
			require.Len(t, r, 1, h)
			assert.InDelta(t, total, r[0].Value, 0, h) // exact
		}
	})

	t.Run("sum", func(t *testing.T) {
		var want float64
		for _, d := range durations {
			want += d
		}
		r := prom.query(t, `histogram_sum(sum(istio_request_duration_milliseconds))`, at)
		require.Len(t, r, 1)
		assert.InEpsilon(t, want, r[0].Value, 1e-9)
	})

	t.Run("quantiles within the schema's error", func(t *testing.T) {
		sorted := slices.Clone(durations)
		slices.Sort(sorted)
		factor := math.Exp2(1.0 / 8) // schema 3
		for _, q := range []float64{0.5, 0.9, 0.99} {
			// The rank Prometheus takes: q·count, the observation at that rank.
			want := sorted[int(math.Ceil(q*float64(len(sorted))))-1]
			r := prom.query(t, fmt.Sprintf(`histogram_quantile(%g, sum(istio_request_duration_milliseconds))`, q), at)
			require.Len(t, r, 1)
			got := r[0].Value
			t.Logf("p%g: %.3f ms from the native histogram, %.3f ms from the entries", q*100, got, want)
			assert.GreaterOrEqual(t, got, want/factor, "p%g", q*100)
			assert.LessOrEqual(t, got, want*factor, "p%g", q*100)
		}
	})

	t.Run("stored as native, not as classic buckets", func(t *testing.T) {
		r := prom.query(t, `count(istio_request_duration_milliseconds_bucket)`, at)
		assert.Empty(t, r, "with native histograms on, Prometheus stores the native ones only")
		_, body, err := httpGet("http://"+mesh.HTTP+"/metrics", "")
		require.NoError(t, err)
		assert.Contains(t, body, "\nistio_request_duration_milliseconds_bucket{", "a text scrape gets the classic buckets")
	})
}

// prometheusProtoAccept is the Accept header of a Prometheus 2 with native
// histograms on: protobuf first.
const prometheusProtoAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"

// TestE2EProtobufClassic: with native histograms off (the default),
// meshlens still answers a scraper that asks for protobuf first (the real
// Prometheus with native histograms on) in protobuf, whose histograms then
// carry classic buckets only (half a text scrape's CPU at 30,000 label sets,
// BENCHMARKS.md); Prometheus stores them as the classic _bucket, _sum and
// _count series, as from a text scrape: the dashboards' queries work, and
// the counts are exactly the requests the traffic made.
func TestE2EProtobufClassic(t *testing.T) {
	need(t, "prometheus")
	mesh := startMeshlens(t)
	prom := startPrometheusWith(t, freePort(t), "meshlens", []string{"--enable-feature=native-histograms"}, mesh.HTTP)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+mesh.HTTP+"/metrics", http.NoBody)
	require.NoError(t, err)
	req.Header.Set("Accept", prometheusProtoAccept)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Contains(t, resp.Header.Get("Content-Type"), "application/vnd.google.protobuf", "protobuf with native histograms off")

	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 23, Requests: 3000})
	_, err = loadgen.Send(context.Background(), dial(t, mesh.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, float64(tr.EntryCount()))
	var total float64
	for _, v := range tr.Ledger.Requests {
		total += float64(v.Count)
	}
	var at time.Time
	require.Eventually(t, func() bool {
		r := prom.query(t, `sum(istio_request_duration_milliseconds_bucket{le="+Inf"})`, time.Time{})
		if len(r) == 1 && r[0].Value == total {
			at = r[0].Time
			return true
		}
		return false
	}, 60*time.Second, 250*time.Millisecond, "Prometheus holds classic buckets counting %v requests", total)

	for _, q := range []string{
		`sum(istio_request_duration_milliseconds_count)`, `sum(istio_request_bytes_count)`, `sum(istio_response_bytes_bucket{le="+Inf"})`,
	} {
		r := prom.query(t, q, at)
		require.Len(t, r, 1, q)
		assert.InDelta(t, total, r[0].Value, 0, q) // exact
	}
	r := prom.query(t, `count(count by (le) (istio_request_duration_milliseconds_bucket))`, at)
	require.Len(t, r, 1)
	assert.InDelta(t, 20, r[0].Value, 0, "every classic bucket, +Inf included")
	assert.Empty(t, prom.query(t, `histogram_count(sum(istio_request_duration_milliseconds))`, at), "no native histogram")
}
