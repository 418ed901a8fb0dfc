package envoystats

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// envoyBuckets are Envoy's default histogram bounds.
var envoyBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// benchFlush builds n families shaped like an Istio sidecar's flush: about
// 70% counters, 25% gauges, 5% histograms (with Envoy's default buckets),
// spread over clusters, listeners and connection managers.
func benchFlush(n int) []*dto.MetricFamily {
	counters := []string{
		"upstream_rq_total", "upstream_rq_200", "upstream_rq_2xx", "upstream_cx_total", "upstream_cx_tx_bytes_total",
		"upstream_cx_rx_bytes_total", "update_attempt", "update_success", "membership_change", "upstream_rq_503", "upstream_rq_5xx", "lb_healthy_panic",
	}
	gauges := []string{"upstream_cx_active", "upstream_rq_active", "membership_healthy", "membership_total", "circuit_breakers.default.cx_open"}
	cum := make([]uint64, len(envoyBuckets))
	for i := range cum {
		cum[i] = uint64(i)
	}
	out := make([]*dto.MetricFamily, 0, n)
	for i := 0; len(out) < n; i++ {
		svc := fmt.Sprintf("cluster.outbound|9080||svc%d.default.svc.cluster.local.", i)
		switch i % 4 {
		case 0, 1:
			for _, c := range counters {
				out = append(out, counterFam(svc+c, float64(i)))
			}
		case 2:
			for _, g := range gauges {
				out = append(out, gaugeFam(svc+g, float64(i)))
			}
			out = append(out, histFam(svc+"upstream_rq_time", 10, 123, envoyBuckets, cum))
		case 3:
			l := fmt.Sprintf("listener.10.0.%d.1_9080.", i)
			h := fmt.Sprintf("http.inbound_0.0.0.0_%d.", 9000+i)
			out = append(out, counterFam(l+"downstream_cx_total", 1), gaugeFam(l+"downstream_cx_active", 1),
				counterFam(h+"downstream_rq_2xx", 1), counterFam(h+"downstream_rq_total", 1),
				gaugeFam("server.g"+fmt.Sprint(i), 1), histFam(h+"downstream_rq_time", 10, 123, envoyBuckets, cum))
		}
	}
	return out[:n]
}

// BenchmarkObserve: one node's 200-family flush in steady state (every
// series exists already).
func BenchmarkObserve(b *testing.B) {
	s := New(DefaultConfig())
	flush := benchFlush(200)
	now := t0
	s.Observe(nodeA, flush, now)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
		if acc, _ := s.Observe(nodeA, flush, now); acc != 200 {
			b.Fatalf("accepted %d", acc)
		}
	}
}

// BenchmarkObserveLabeled: the same flush as BenchmarkObserve, sent with
// emit_tags_as_labels (tag-extracted names, tags as labels).
func BenchmarkObserveLabeled(b *testing.B) {
	flush := benchFlush(200)
	for _, mf := range flush {
		ex, _ := extractTags(mf.GetName())
		mf.Name = proto.String(ex.promName[len("envoy_"):]) // sanitized, close enough to the tag-extracted name
		for _, t := range ex.tags {
			withLabels(mf, "envoy."+t.label[len("envoy_"):], t.value)
		}
	}
	s := New(DefaultConfig())
	now := t0
	if acc, rej := s.Observe(nodeA, flush, now); acc != 200 {
		b.Fatalf("accepted %d, rejected %d %v", acc, rej, s.Stats().Rejected)
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
		if acc, _ := s.Observe(nodeA, flush, now); acc != 200 {
			b.Fatalf("accepted %d", acc)
		}
	}
}

// BenchmarkObserveNewNode: the same flush from a node not seen before (tag
// extraction cached, 200 series created), then Expire removes them.
func BenchmarkObserveNewNode(b *testing.B) {
	cfg := DefaultConfig()
	cfg.TTL = time.Minute
	s := New(cfg)
	flush := benchFlush(200)
	s.Observe(nodeA, flush, t0)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(2 * time.Minute)
		if acc, _ := s.Observe(nodeB, flush, now); acc != 200 {
			b.Fatalf("accepted %d", acc)
		}
		s.Expire(now.Add(2 * time.Minute))
	}
}

// BenchmarkExtractTags: the cost of one cache miss.
func BenchmarkExtractTags(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		extractTags(upstreamRqTotal)
	}
}

func storeWithSeries(b *testing.B, nodes, perNode int) *Store {
	s := New(Config{MaxSeries: nodes * perNode, TTL: time.Hour})
	flush := benchFlush(perNode)
	for n := range nodes {
		if acc, _ := s.Observe(NodeIdentity{ID: fmt.Sprint("node-", n), Namespace: "default"}, flush, t0); acc != perNode {
			b.Fatalf("accepted %d", acc)
		}
	}
	return s
}

// BenchmarkCollect: building the const metrics of 10k series (50 nodes x 200).
func BenchmarkCollect(b *testing.B) {
	s := storeWithSeries(b, 50, 200)
	ch := make(chan prometheus.Metric, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		s.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
}

// BenchmarkGather: a whole scrape of 10k series through a registry.
func BenchmarkGather(b *testing.B) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(storeWithSeries(b, 50, 200))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
