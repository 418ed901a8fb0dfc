package hubextension

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/envoystats"
	"github.com/meshlens/meshlens/exporters/spans"
)

// TestEnvoyAndSpanMetricsLabelBytes: envoy_stats::max_label_bytes and
// span_metrics::max_label_bytes reach their stores. 200 proxies of 200
// stats each, and 2,000 hosts of 200 bytes, stay within budgets of 1 MiB
// and 64 KiB: the samples over it are counted as label_bytes_limit, the
// records over it in the overflow series; and the envoy_* and
// traces_span_metrics_* parts of /metrics stay under the bounds
// docs/operations.md states (envoystats.ExpositionBound,
// spans.MetricsConfig.ExpositionBound).
func TestEnvoyAndSpanMetricsLabelBytes(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.EnvoyStats.MaxLabelBytes = 1 << 20
	cfg.SpanMetrics.MaxLabelBytes = 64 << 10
	now := time.Now()
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), func() time.Time { return now })
	require.NoError(t, err)

	for p := range 200 {
		var fams []*dto.MetricFamily
		for i := range 200 {
			fams = append(fams, &dto.MetricFamily{
				Name: proto.String(fmt.Sprintf("cluster.outbound|9080||svc%d.default.svc.cluster.local.upstream_rq_total", i)),
				Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(1)}}},
			})
		}
		id := fmt.Sprintf("sidecar~10.0.%d.%d~productpage-v1-abc.default~default.svc.cluster.local", p/256, p%256)
		h.ConsumeEnvoyStats(accesslog.NewProxy(id, "productpage.default", nil), fams, now)
	}
	w := accesslog.Workload{Name: "web-v1", Namespace: "shop", CanonicalService: "web", CanonicalRevision: "v1", Principal: "unknown"}
	var recs []accesslog.Record
	for i := range 2000 {
		host := fmt.Sprint(i) + strings.Repeat("h", 200)
		recs = append(recs, accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP, Final: true,
			Source: w, Destination: w, Service: accesslog.Service{Host: host, Name: "svc", Namespace: "shop"},
			ResponseCode: 200, GRPCStatus: -1, DurationNanos: int64(time.Millisecond),
		})
	}
	require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), recs))

	rec := httptest.NewRecorder()
	h.serveMetrics(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", http.NoBody))
	require.Equal(t, http.StatusOK, rec.Code)
	var envoy, spm, spmSeries, spmLabelBytes int64
	var overflowCalls, limitRejected bool
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(line, "meshlens_span_metrics_series "); ok {
			_, err := fmt.Sscan(v, &spmSeries)
			require.NoError(t, err)
		}
		if v, ok := strings.CutPrefix(line, "meshlens_span_metrics_label_bytes "); ok {
			_, err := fmt.Sscan(v, &spmLabelBytes)
			require.NoError(t, err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		switch {
		case strings.HasPrefix(name, "envoy_"):
			envoy += int64(len(line))
		case strings.HasPrefix(name, "traces_span_metrics_"):
			spm += int64(len(line))
			overflowCalls = overflowCalls || strings.HasPrefix(line, `traces_span_metrics_calls_total{service_name="`+spans.OverflowLabel+`"`)
		case strings.HasPrefix(line, `meshlens_envoy_stats_samples_rejected_total{reason="label_bytes_limit"} `):
			limitRejected = !strings.HasSuffix(line, " 0\n")
		}
	}
	assert.True(t, limitRejected, "samples over envoy_stats::max_label_bytes counted")
	assert.True(t, overflowCalls, "records over span_metrics::max_label_bytes in the overflow series")

	st := h.envoy.Stats()
	assert.LessOrEqual(t, st.LabelBytes, cfg.EnvoyStats.MaxLabelBytes)
	assert.LessOrEqual(t, envoy, envoystats.ExpositionBound(st.Series, st.LabelBytes), "envoy_* of /metrics")
	require.Positive(t, spmSeries)
	assert.LessOrEqual(t, spmLabelBytes, cfg.SpanMetrics.MaxLabelBytes)
	assert.LessOrEqual(t, spm, cfg.spanMetricsConfig().ExpositionBound(int(spmSeries), spmLabelBytes), "traces_span_metrics_* of /metrics")
	t.Logf("envoy_*: %d bytes (%d series, %d label-set bytes); traces_span_metrics_*: %d bytes (%d series, %d label-set bytes)",
		envoy, st.Series, st.LabelBytes, spm, spmSeries, spmLabelBytes)
}
