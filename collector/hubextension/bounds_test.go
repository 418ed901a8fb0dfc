package hubextension

import (
	"context"
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
)

// TestHugeLabelValuesKeepMetricsSmall: ten entries whose upstream cluster is
// 1 MiB each (10 MiB of input) used to grow /metrics to 1.4 GB; with label
// values cut to normalizer.max_label_length, the whole exposition stays
// under 1 MiB.
func TestHugeLabelValuesKeepMetricsSmall(t *testing.T) {
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
	assert.Equal(t, 10, st.LabelsTruncated)

	h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), recs))
	w := httptest.NewRecorder()
	h.serveMetrics(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", http.NoBody))
	require.Equal(t, http.StatusOK, w.Code)
	body := w.Body.String()
	assert.Contains(t, body, `destination_service="`+strings.Repeat("a", accesslog.DefaultMaxLabelLength)+`"`)
	assert.Less(t, len(body), 1<<20, "/metrics for ten 1 MiB cluster names")
	t.Logf("/metrics: %d bytes", len(body))
}
