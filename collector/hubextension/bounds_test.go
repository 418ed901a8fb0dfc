package hubextension

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/istiometrics"
)

// TestMetricsSizeBounded restates issue 17's cases against the hub's whole
// /metrics, each under a stated size (docs/operations.md): ten ALS entries
// whose upstream cluster is 1 MiB each (10 MiB of input; /metrics was 1.4
// GB) give a /metrics under 1 MiB, label values being cut to
// normalizer.max_label_length; 17,000 entries with distinct response codes
// at max_series=100 (was 962 MB, 16,900 overflow series) one under 8 MiB,
// the overflow series folding each status to its class; and 2,000 distinct
// 400-byte workloads at max_label_bytes=64 KiB keep the Istio series under
// 8 MiB (52 series and 1 overflow series), where max_series alone would
// let them take ~250 MB (2,000 series). In each case the Istio series stay
// under their ExpositionBound and every request is counted in
// istio_requests_total.
func TestMetricsSizeBounded(t *testing.T) {
	w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
	rec := func(dst string, code uint32, rep accesslog.Reporter) accesslog.Record {
		d := w
		d.Name = dst
		return accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: rep, Protocol: accesslog.ProtocolHTTP,
			Source: w, Destination: d, Service: accesslog.Service{Host: dst, Name: dst, Namespace: "ns"},
			ResponseCode: code, GRPCStatus: -1, Final: true, DurationNanos: int64(time.Millisecond),
		}
	}
	tests := []struct {
		name     string
		edit     func(*Config)
		records  func(t *testing.T) []accesslog.Record
		maxBytes int // the whole /metrics; 0: not stated
		maxIstio int // its Istio series
		contains string
	}{
		{
			name: "ten 1 MiB upstream clusters", maxBytes: 1 << 20, maxIstio: 1 << 20,
			records:  hugeClusterRecords,
			contains: `destination_service="` + strings.Repeat("a", accesslog.DefaultMaxLabelLength) + `"`,
		},
		{
			name: "17,000 response codes at max_series=100", maxBytes: 8 << 20, maxIstio: 8 << 20,
			edit: func(c *Config) { c.Metrics.MaxSeries = 100 },
			records: func(*testing.T) []accesslog.Record {
				var recs []accesslog.Record
				for i := range 17_000 {
					recs = append(recs, rec(fmt.Sprintf("w%d", i%300), uint32(i), accesslog.Reporter(i%4)))
				}
				return recs
			},
			contains: `source_workload="overflow"`,
		},
		{
			// The span metrics (traces_span_metrics_*, bounded by their
			// own budgets: TestEnvoyAndSpanMetricsLabelBytes) are not
			// stated here.
			name: "2,000 distinct 400-byte workloads at max_label_bytes=64 KiB", maxIstio: 8 << 20,
			edit: func(c *Config) { c.Metrics.MaxLabelBytes = 64 << 10 },
			records: func(*testing.T) []accesslog.Record {
				var recs []accesslog.Record
				for i := range 2000 {
					recs = append(recs, rec(fmt.Sprint(i)+strings.Repeat("w", 400), 200, accesslog.ReporterSource))
				}
				return recs
			},
			contains: `source_workload="overflow"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tt.edit != nil {
				tt.edit(cfg)
			}
			h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
			require.NoError(t, err)
			recs := tt.records(t)
			local := new(accesslog.StreamLocal)
			for i := 0; i < len(recs); i += 100 {
				require.NoError(t, h.ConsumeRecords(context.Background(), local, recs[i:min(i+100, len(recs))]))
			}
			w := httptest.NewRecorder()
			h.serveMetrics(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", http.NoBody))
			require.Equal(t, http.StatusOK, w.Code)
			body := w.Body.String()
			if !strings.Contains(body, tt.contains) { // not assert.Contains: it would print megabytes
				t.Errorf("/metrics lacks %s", tt.contains)
			}
			if tt.maxBytes > 0 {
				assert.Less(t, len(body), tt.maxBytes, "/metrics")
			}
			istio, overflowSeries := 0, 0
			for line := range strings.Lines(body) {
				if strings.HasPrefix(strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE "), "istio_") {
					istio += len(line)
				}
				if strings.HasPrefix(line, istiometrics.RequestsTotal+`{reporter="`) && strings.Contains(line, `source_workload="overflow"`) {
					overflowSeries++
				}
			}
			assert.Less(t, istio, tt.maxIstio, "the Istio series of /metrics")
			st := h.agg.Stats()
			assert.LessOrEqual(t, st.HTTPSeries, int64(cfg.Metrics.MaxSeries))
			assert.LessOrEqual(t, st.HTTPBytes, cfg.Metrics.MaxLabelBytes)
			assert.LessOrEqual(t, int64(istio), cfg.Metrics.ExpositionBound(false, int(st.HTTPSeries)+overflowSeries, st.HTTPBytes)+
				cfg.Metrics.ExpositionBound(true, 0, 0))
			total, err := gatherIstio(h)
			require.NoError(t, err)
			assert.InDelta(t, float64(len(recs)), total, 0, "every request counted")
			t.Logf("/metrics: %d bytes, Istio series %d bytes (%d series, %d overflow, %d label bytes)", len(body), istio, st.HTTPSeries, overflowSeries, st.HTTPBytes)
		})
	}
}

// hugeClusterRecords decodes one ALS message of ten entries whose upstream
// cluster is 1 MiB each: their labels are cut, counted as upstream_cluster.
func hugeClusterRecords(t *testing.T) []accesslog.Record {
	var logs []*accesslogv3.HTTPAccessLogEntry
	for i := range 10 {
		logs = append(logs, &accesslogv3.HTTPAccessLogEntry{
			CommonProperties: &accesslogv3.AccessLogCommon{
				UpstreamCluster: strings.Repeat(string(rune('a'+i)), 1<<20),
			},
			Request:  &accesslogv3.HTTPRequestProperties{RequestMethod: corev3.RequestMethod_GET, Path: "/"},
			Response: &accesslogv3.HTTPResponseProperties{ResponseCode: wrapperspb.UInt32(200)},
		})
	}
	msg, err := proto.Marshal(&alsv3.StreamAccessLogsMessage{
		Identifier: &alsv3.StreamAccessLogsMessage_Identifier{Node: &corev3.Node{Id: "ingress", Cluster: "envoy-proxy"}, LogName: "als"},
		LogEntries: &alsv3.StreamAccessLogsMessage_HttpLogs{HttpLogs: &alsv3.StreamAccessLogsMessage_HTTPAccessLogEntries{LogEntry: logs}},
	})
	require.NoError(t, err)
	st := accesslog.NewStream(accesslog.Config{}, nil)
	recs, out, err := st.Decode(msg, nil, time.Now())
	require.NoError(t, err)
	require.Equal(t, 10, out.Processed)
	assert.Equal(t, accesslog.Truncations{accesslog.FieldUpstreamCluster: 10}, st.LabelsTruncated)
	return recs
}
