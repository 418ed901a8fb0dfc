package envoystats

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/internal/captures"
)

var update = flag.Bool("update", false, "rewrite golden files")

// parseSample decodes a captured StreamMetricsMessage: protojson for .json
// (unknown fields discarded: the v2 files carry the reserved build_version),
// prototext for .txtpb and .msg.
func parseSample(path string) (*metricsv3.StreamMetricsMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	msg := &metricsv3.StreamMetricsMessage{}
	switch filepath.Ext(path) {
	case ".json":
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, msg)
	case ".txtpb", ".msg":
		err = prototext.Unmarshal(b, msg)
	default:
		return nil, fmt.Errorf("parse %s: unknown extension", path)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return msg, nil
}

func mustSample(t testing.TB, name string) *metricsv3.StreamMetricsMessage {
	t.Helper()
	// The real Metrics Service captures (see their README).
	msg, err := parseSample(captures.Dir(t, "metrics", "skywalking", name))
	require.NoError(t, err)
	return msg
}

// gather registers c in a fresh (non-pedantic: c is unchecked) registry and
// gathers it; Gather must succeed, as a real scrape would.
func gather(t testing.TB, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	return mfs
}

// render returns c's exposition in the text format, sorted as a registry sorts.
func render(t testing.TB, c prometheus.Collector) string {
	t.Helper()
	var b bytes.Buffer
	for _, mf := range gather(t, c) {
		_, err := expfmt.MetricFamilyToText(&b, mf)
		require.NoError(t, err)
	}
	return b.String()
}

// golden compares got with testdata/<name>, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), got)
}

// find returns the only metric of family name whose labels include want.
func find(t testing.TB, mfs []*dto.MetricFamily, name string, want L) *dto.Metric {
	t.Helper()
	var found []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			got := L{}
			for _, lp := range m.Label {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if gv, ok := got[k]; !ok || gv != v {
					continue next
				}
			}
			found = append(found, m)
		}
	}
	require.Len(t, found, 1, "%s%v", name, want)
	return found[0]
}

func familyNames(mfs []*dto.MetricFamily) []string {
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return names
}

func labelNames(m *dto.Metric) string {
	var names []string
	for _, lp := range m.Label {
		names = append(names, lp.GetName())
	}
	return strings.Join(names, ",")
}

// Builders of Envoy-shaped families: one metric each, like Envoy's sink.

func fam(name string, typ dto.MetricType, m *dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: proto.String(name), Type: typ.Enum(), Metric: []*dto.Metric{m}}
}

func counterFam(name string, v float64) *dto.MetricFamily {
	return fam(name, dto.MetricType_COUNTER, &dto.Metric{Counter: &dto.Counter{Value: proto.Float64(v)}})
}

func gaugeFam(name string, v float64) *dto.MetricFamily {
	return fam(name, dto.MetricType_GAUGE, &dto.Metric{Gauge: &dto.Gauge{Value: proto.Float64(v)}})
}

func histFam(name string, count uint64, sum float64, bounds []float64, cum []uint64) *dto.MetricFamily {
	h := &dto.Histogram{SampleCount: proto.Uint64(count), SampleSum: proto.Float64(sum)}
	for i, ub := range bounds {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(ub), CumulativeCount: proto.Uint64(cum[i])})
	}
	return fam(name, dto.MetricType_HISTOGRAM, &dto.Metric{Histogram: h})
}

func summaryFam(name string, count uint64, sum float64, qv ...float64) *dto.MetricFamily {
	s := &dto.Summary{SampleCount: proto.Uint64(count), SampleSum: proto.Float64(sum)}
	for i := 0; i+1 < len(qv); i += 2 {
		s.Quantile = append(s.Quantile, &dto.Quantile{Quantile: proto.Float64(qv[i]), Value: proto.Float64(qv[i+1])})
	}
	return fam(name, dto.MetricType_SUMMARY, &dto.Metric{Summary: s})
}

// withLabels adds labels (name, value, …) to the family's metric, as
// emit_tags_as_labels does.
func withLabels(mf *dto.MetricFamily, nv ...string) *dto.MetricFamily {
	for i := 0; i+1 < len(nv); i += 2 {
		mf.Metric[0].Label = append(mf.Metric[0].Label, &dto.LabelPair{Name: proto.String(nv[i]), Value: proto.String(nv[i+1])})
	}
	return mf
}

func families(mfs ...*dto.MetricFamily) []*dto.MetricFamily { return mfs }

// identityOf is the identity of the Envoy that sent node: id and cluster as
// sent. The store keys a node's state by whatever identity its caller gives;
// which labels a real node gets is the hub's mapping from accesslog.Proxy
// (collector/hubextension TestEnvoyStatsNodeLabels).
func identityOf(n *corev3.Node) NodeIdentity {
	return NodeIdentity{ID: n.GetId(), Cluster: n.GetCluster()}
}
