package envoystats

import (
	"bytes"
	"math"
	"testing"
	"time"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/internal/captures"
)

// FuzzObserve feeds arbitrary StreamMetricsMessage bytes to a store, twice
// (an update after the creation), then scrapes it: no panic, the
// exposition must always gather without error, and the label-set bytes
// stay within the budget and cover what the exposition repeats (more only
// by a help text's double quotes, which OpenMetrics escapes and the text
// format does not), so that it stays under ExpositionBound.
func FuzzObserve(f *testing.F) {
	for _, name := range []string{
		"identify.v3.json", "metrics.json", "envoy-metric.canonical.txtpb",
		"captured-envoy-1.19-v3-StreamMetricsMessage.partial.txtpb", "captured-envoy-1.11.1-v2-StreamMetricsMessage.txtpb",
	} {
		msg, err := parseSample(captures.Dir(f, "metrics", "skywalking", name))
		if err != nil {
			f.Fatal(err)
		}
		seed(f, msg)
	}
	seed(f, &metricsv3.StreamMetricsMessage{EnvoyMetrics: families(
		histFam("cluster.a.upstream_rq_time", 3, 4, []float64{1, 5, math.Inf(1)}, []uint64{1, 2, 3}),
		summaryFam("cluster.a.upstream_rq_time", 3, 4, 0.5, 1, 1, math.NaN()),
		withLabels(counterFam("cluster.upstream_rq", 1), "envoy.cluster_name", "a", "pod", "p"),
		counterFam("cluster.a.upstream_rq_200", 2),
		counterFam("istiocustom.istio_requests_total.reporter.source", 1),
		gaugeFam("http.inbound_0.0.0.0_9080;.downstream_cx_active", 1),
	)})

	f.Fuzz(func(t *testing.T, data []byte) {
		msg := &metricsv3.StreamMetricsMessage{}
		if err := proto.Unmarshal(data, msg); err != nil {
			return
		}
		node := identityOf(msg.GetIdentifier().GetNode())
		if node.ID == "" {
			node.ID = "fuzz"
		}
		s := New(Config{MaxSeries: 500, TTL: time.Minute, NameCacheSize: 16, MaxLabelBytes: 16 << 10})
		s.Observe(node, msg.GetEnvoyMetrics(), t0)
		s.Observe(node, msg.GetEnvoyMetrics(), t0.Add(5*time.Second))
		s.Observe(NodeIdentity{ID: "other"}, msg.GetEnvoyMetrics(), t0.Add(5*time.Second))

		reg := prometheus.NewRegistry()
		reg.MustRegister(s)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		n := 0
		for _, mf := range mfs {
			n += len(mf.Metric)
		}
		st := s.Stats()
		if n != st.Series {
			t.Fatalf("collected %d metrics for %d series", n, st.Series)
		}
		var text bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
				t.Fatalf("text: %v", err)
			}
		}
		if exposed := exposedLabelBytes(t, text.String()); st.LabelBytes > 16<<10 || exposed > st.LabelBytes {
			t.Fatalf("label-set bytes %d (budget %d), %d exposed", st.LabelBytes, 16<<10, exposed)
		}
		if bound := ExpositionBound(st.Series, st.LabelBytes); int64(text.Len()) > bound {
			t.Fatalf("exposition of %d bytes over its bound %d", text.Len(), bound)
		}
		s.Expire(t0.Add(time.Hour))
		if st := s.Stats(); st.Series != 0 || st.Families != 0 || st.Nodes != 0 || st.LabelBytes != 0 {
			t.Fatalf("after expiry: %+v", st)
		}
	})
}

func seed(f *testing.F, msg *metricsv3.StreamMetricsMessage) {
	b, err := proto.Marshal(msg)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}
