package hubextension

import (
	"os"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/captures"
)

// captureRecords decodes real captures, one stream each.
func captureRecords(t testing.TB, names ...string) []accesslog.Record {
	t.Helper()
	var out []accesslog.Record
	for _, name := range names {
		b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", name))
		require.NoError(t, err)
		var m alsv3.StreamAccessLogsMessage
		require.NoError(t, protojson.Unmarshal(b, &m))
		msg, err := proto.Marshal(&m)
		require.NoError(t, err)
		out, _, err = accesslog.NewStream(accesslog.Config{}, nil).Decode(msg, out, time.Unix(0, 0))
		require.NoError(t, err)
	}
	return out
}

func TestHubFeedsSpanMetrics(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	recs := captureRecords(t, "envoy-ingress.json")
	require.NoError(t, h.ConsumeRecords(t.Context(), new(accesslog.StreamLocal), recs))
	fams, err := prometheus.Gatherers(h.gatherers).Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	assert.True(t, names["traces_span_metrics_calls_total"])
	assert.True(t, names["traces_span_metrics_duration_milliseconds"])
	assert.True(t, names["meshlens_span_metrics_series"])
}
