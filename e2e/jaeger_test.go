package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/spans"
	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

var (
	jaegerOnce sync.Once
	jaegerPath string
	jaegerErr  error
)

// jaegerBinary returns the Jaeger v2 binary, built from the version pinned
// in internal/tools/jaeger by scripts/jaeger.sh into a cache directory the
// first time (several minutes) and reused afterwards. -short skips.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: building Jaeger takes minutes")
	}
	jaegerOnce.Do(func() {
		start := time.Now()
		cmd := exec.CommandContext(context.Background(), "bash", "../scripts/jaeger.sh")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			jaegerErr = fmt.Errorf("scripts/jaeger.sh: %w\n%s", err, stderr.String())
			return
		}
		jaegerPath = strings.TrimSpace(string(out))
		if s := stderr.String(); s != "" {
			t.Logf("%s(%s)", s, time.Since(start).Round(time.Second))
		}
	})
	require.NoError(t, jaegerErr)
	return jaegerPath
}

// jaeger is a running Jaeger v2 with in-memory trace storage.
type jaeger struct {
	*process
	OTLP  string // OTLP/gRPC receiver
	Query string // base URL of the query HTTP API and UI
}

// startJaeger runs Jaeger with an OTLP/gRPC receiver on otlp, in-memory
// storage, and, when promURL is set, Prometheus as the metrics backend of
// the Monitor tab (SPM), reading the spanmetrics connector's names.
func startJaeger(t *testing.T, bin, otlp, promURL string) *jaeger {
	t.Helper()
	j := &jaeger{OTLP: otlp}
	queryHTTP, queryGRPC := freePort(t), freePort(t)
	j.Query = "http://" + queryHTTP
	metrics, backend := "", ""
	if promURL != "" {
		metrics = "\n      metrics: prom"
		backend = fmt.Sprintf(`
    metric_backends:
      prom:
        prometheus:
          endpoint: %s
          normalize_calls: true
          normalize_duration: true`, promURL)
	}
	cfg := fmt.Sprintf(`service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: mem%s
    http:
      endpoint: %s
    grpc:
      endpoint: %s
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 100000%s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`, metrics, queryHTTP, queryGRPC, backend, otlp)
	path := filepath.Join(t.TempDir(), "jaeger.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	// Jaeger's own SDK would try to export its traces to localhost:4317.
	j.process = startProcess(t, "jaeger", []string{"OTEL_TRACES_EXPORTER=none"}, bin, "--config", path)
	waitHTTP(t, j.Query+"/api/services", 60*time.Second)
	return j
}

// get decodes a JSON answer of Jaeger's query API.
func (j *jaeger) get(t *testing.T, path string, v any) int {
	t.Helper()
	code, body, err := httpGet(j.Query+path, "")
	require.NoError(t, err)
	if code == http.StatusOK {
		require.NoError(t, json.Unmarshal([]byte(body), v), body)
	}
	return code
}

// jaegerTrace is a trace as Jaeger's query API returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// wantSpan is a span meshlens must have exported, computed independently of
// the binary from the same records with exporters/spans.
type wantSpan struct {
	trace, id, parent, name, service string
	kind                             string // client or server
	failed                           bool
}

// expectedSpans decodes messages (one stream each) as the receiver does and
// returns, with every trace kept, the spans they must become.
func expectedSpans(t *testing.T, streams [][][]byte) []wantSpan {
	t.Helper()
	sampler := spans.NewSampler(spans.Config{SamplingRate: 1, KeepErrors: true, SyntheticTraceIDs: true})
	var out []wantSpan
	for _, msgs := range streams {
		st := accesslog.NewStream(accesslog.Config{}, nil)
		var recs []accesslog.Record
		for _, m := range msgs {
			var err error
			recs, _, err = st.Decode(m, recs[:0], time.Now())
			require.NoError(t, err)
			for i := range recs {
				r := &recs[i]
				d, tr := sampler.Decide(r)
				if !d.Kept() {
					continue
				}
				id, parent := spans.SpanIDs(r, &tr.ID)
				w := wantSpan{
					trace: hex.EncodeToString(tr.ID[:]), id: hex.EncodeToString(id[:]), name: string(spans.AppendName(nil, r)),
					kind: "client", failed: r.IsError(),
				}
				if parent != [8]byte{} {
					w.parent = hex.EncodeToString(parent[:])
				}
				if r.Reporter == accesslog.ReporterSource {
					w.service = spans.ServiceName(&r.Source)
				} else {
					w.kind, w.service = "server", spans.ServiceName(&r.Destination)
				}
				out = append(out, w)
			}
		}
	}
	return out
}

func captureStreams(t *testing.T) [][][]byte {
	t.Helper()
	var out [][][]byte
	for _, f := range []string{"envoy-ingress.json", "envoy-ingress2sidecar.json", "envoy-mesh-client-sidecar.json", "envoy-mesh-server-sidecar.json"} {
		b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", f))
		require.NoError(t, err)
		var m alsv3.StreamAccessLogsMessage
		require.NoError(t, protojson.Unmarshal(b, &m))
		msg, err := proto.Marshal(&m)
		require.NoError(t, err)
		out = append(out, [][]byte{msg})
	}
	return out
}

func trafficStreams(tr *loadgen.Traffic) [][][]byte {
	var out [][][]byte
	for i := range tr.Streams {
		if tr.Streams[i].Kind == loadgen.StreamHTTP {
			out = append(out, tr.Streams[i].Messages)
		}
	}
	return out
}

// TestE2EJaeger runs meshlens with --traces-endpoint pointed at a real
// Jaeger v2, feeds it the real captures and generated Bookinfo traffic
// (W3C, B3 and untraced requests, errors), and checks through Jaeger's
// query API that every rebuilt span arrived with its trace, parent and
// service, that the two reports of each hop form one client→server pair,
// and that failed requests carry the error tag. Prometheus scrapes the span
// metrics meshlens computes from every record; the queries Jaeger's Monitor
// tab runs must answer, both in PromQL and through Jaeger's metrics API.
func TestE2EJaeger(t *testing.T) {
	captures.Dir(t) // without the real captures, skip before building anything
	bin := jaegerBinary(t)
	need(t, "prometheus")
	otlp := freePort(t)
	mesh := startMeshlens(t, "--traces-endpoint", otlp, "--set", "receivers::envoyals::traces::sampling_rate=1")
	prom := startPrometheus(t, mesh.HTTP)
	j := startJaeger(t, bin, otlp, prom.URL)
	inst := fmt.Sprintf(`instance=%q`, mesh.HTTP)

	// Phase 1: the real captures and generated traffic; phase 2 more
	// traffic (other requests), so that Jaeger's rate() queries see an
	// increase between two scrapes.
	trA := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 31, Requests: 300, Start: time.Now().Add(-time.Minute), UntracedShare: 0.1, UnsampledShare: 0.2})
	trB := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 32, Requests: 300, Start: time.Now(), UntracedShare: 0.1})
	sendCaptures(t, mesh.GRPC)
	conn := dial(t, mesh.GRPC)
	_, err := loadgen.Send(context.Background(), conn, trA, loadgen.SendOptions{})
	require.NoError(t, err)
	sent := float64(4 + trA.EntryCount())
	waitProcessed(t, mesh, sent)
	t0 := prom.waitScrapes(t, mesh.HTTP, time.Now())
	_, err = loadgen.Send(context.Background(), conn, trB, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, mesh, sent+float64(trB.EntryCount()))
	t1 := prom.waitScrapes(t, mesh.HTTP, time.Now())

	want := expectedSpans(t, append(append(captureStreams(t), trafficStreams(trA)...), trafficStreams(trB)...))
	byTrace := map[string][]wantSpan{}
	for _, w := range want {
		byTrace[w.trace] = append(byTrace[w.trace], w)
	}
	t.Logf("%d spans in %d traces expected", len(want), len(byTrace))

	t.Run("services", func(t *testing.T) {
		wantSvc := map[string]bool{}
		for _, w := range want {
			wantSvc[w.service] = true
		}
		var got struct{ Data []string }
		deadline := time.Now().Add(60 * time.Second)
		for {
			require.Equal(t, http.StatusOK, j.get(t, "/api/services", &got))
			have := map[string]bool{}
			for _, s := range got.Data {
				have[s] = true
			}
			if len(have) == len(wantSvc) || time.Now().After(deadline) {
				assert.Equal(t, wantSvc, have)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("every span, linked", func(t *testing.T) {
		require.Eventually(t, func() bool {
			v, err := mesh.tryMetrics(`meshlens_spans_total{stage="exported"}`)
			return err == nil && v[0] >= float64(len(want))
		}, 30*time.Second, 100*time.Millisecond)
		assert.InDelta(t, float64(len(want)), mesh.metric(t, `meshlens_spans_total{stage="built"}`), 0)
		assert.Zero(t, mesh.metric(t, `meshlens_spans_dropped_total{reason="pipeline_error"}`))

		pairs, errorsSeen, missing := 0, 0, 0
		for id, ws := range byTrace {
			var got struct{ Data []jaegerTrace }
			var tr *jaegerTrace
			for range 100 { // the exporter batches for up to 1s
				if j.get(t, "/api/traces/"+id, &got) == http.StatusOK && len(got.Data) == 1 && len(got.Data[0].Spans) >= len(ws) {
					tr = &got.Data[0]
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if tr == nil {
				missing++
				continue
			}
			require.Len(t, tr.Spans, len(ws), "trace %s", id)
			have := map[string]int{}
			for i, s := range tr.Spans {
				have[s.SpanID] = i
			}
			clients := map[string]bool{}
			for _, w := range ws {
				if w.kind == "client" {
					clients[w.id] = true
				}
			}
			for _, w := range ws {
				i, ok := have[w.id]
				if !assert.True(t, ok, "span %s of trace %s", w.id, id) {
					continue
				}
				s := tr.Spans[i]
				assert.Equal(t, w.name, s.OperationName)
				assert.Equal(t, w.service, tr.Processes[s.ProcessID].ServiceName)
				tags := map[string]any{}
				for _, tg := range s.Tags {
					tags[tg.Key] = tg.Value
				}
				assert.Equal(t, w.kind, tags["span.kind"])
				if w.failed {
					errorsSeen++
					assert.Equal(t, true, tags["error"], "failed request carries error=true: %s", w.id)
				} else {
					assert.Nil(t, tags["error"])
				}
				if w.parent == "" {
					assert.Empty(t, s.References)
					continue
				}
				require.NotEmpty(t, s.References)
				assert.Equal(t, "CHILD_OF", s.References[0].RefType)
				assert.Equal(t, w.parent, s.References[0].SpanID)
				if w.kind == "server" && clients[w.parent] {
					pairs++ // the server span's parent is the client span of the same hop
				}
			}
		}
		assert.Zero(t, missing, "traces not found in Jaeger")
		assert.Greater(t, pairs, 500, "client→server pairs")
		assert.Positive(t, errorsSeen)
		t.Logf("%d traces, %d client→server pairs, %d failed spans checked in Jaeger", len(byTrace), pairs, errorsSeen)
	})

	// The four captures are reports of one request (one x-request-id, no
	// trace header): one synthetic trace whose id is the request id, in
	// which the gateway's and productpage's reports of the first hop form a
	// client→server pair.
	t.Run("real captures: one synthetic trace, linked pair", func(t *testing.T) {
		var got struct{ Data []jaegerTrace }
		require.Equal(t, http.StatusOK, j.get(t, "/api/traces/0ac1feff84ae4d3a8b15890da2b194c5", &got))
		require.Len(t, got.Data, 1)
		tr := got.Data[0]
		require.Len(t, tr.Spans, 4)
		byService := map[string]int{}
		for i, s := range tr.Spans {
			byService[tr.Processes[s.ProcessID].ServiceName+" "+s.OperationName] = i
		}
		gw, ok := byService["istio-ingressgateway productpage.default.svc.cluster.local:9080/*"]
		require.True(t, ok, "%v", byService)
		pp, ok := byService["product productpage.default.svc.cluster.local:9080/*"]
		require.True(t, ok, "%v", byService)
		assert.Empty(t, tr.Spans[gw].References, "the gateway starts the trace")
		require.Len(t, tr.Spans[pp].References, 1)
		assert.Equal(t, tr.Spans[gw].SpanID, tr.Spans[pp].References[0].SpanID, "productpage's span is the child of the gateway's")
	})

	t.Run("search by service", func(t *testing.T) {
		var got struct{ Data []jaegerTrace }
		q := url.Values{
			"service": {"reviews"}, "limit": {"5"},
			"start": {fmt.Sprint(time.Now().Add(-time.Hour).UnixMicro())}, "end": {fmt.Sprint(time.Now().Add(time.Hour).UnixMicro())},
		}
		require.Equal(t, http.StatusOK, j.get(t, "/api/traces?"+q.Encode(), &got))
		assert.NotEmpty(t, got.Data)
	})

	// Span metrics: counted from every record, they must equal the spans.
	wantCalls := map[[3]string]float64{}
	for _, w := range want {
		kind, status := spans.KindServer, spans.StatusUnset
		if w.kind == "client" {
			kind = spans.KindClient
		}
		if w.failed {
			status = spans.StatusError
		}
		wantCalls[[3]string{w.service, kind, status}]++
	}
	t.Run("span metrics equal the spans", func(t *testing.T) {
		got := map[[3]string]float64{}
		for _, s := range prom.query(t, `sum(traces_span_metrics_calls_total{`+inst+`}) by (service_name, span_kind, status_code)`, t1) {
			got[[3]string{s.Metric["service_name"], s.Metric["span_kind"], s.Metric["status_code"]}] = s.Value
		}
		assert.Equal(t, wantCalls, got)
	})

	window := fmt.Sprintf("%dms", t1.Sub(t0).Milliseconds())
	t.Run("Monitor tab queries in PromQL", func(t *testing.T) {
		// As Jaeger's Prometheus metrics reader writes them.
		calls := prom.query(t, `sum(rate(traces_span_metrics_calls_total{service_name =~ "productpage", span_kind =~ "SPAN_KIND_SERVER"}[`+window+`])) by (service_name)`, t1)
		require.Len(t, calls, 1)
		assert.Positive(t, calls[0].Value)
		p95 := prom.query(t, `histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_milliseconds_bucket{service_name =~ "productpage", span_kind =~ "SPAN_KIND_SERVER"}[`+window+`])) by (service_name,le))`, t1)
		require.Len(t, p95, 1)
		assert.False(t, math.IsNaN(p95[0].Value))
		assert.Positive(t, p95[0].Value)
		errRate := prom.query(t, `sum(rate(traces_span_metrics_calls_total{service_name =~ "productpage|reviews|ratings|details", status_code = "STATUS_CODE_ERROR", span_kind =~ "SPAN_KIND_SERVER|SPAN_KIND_CLIENT"}[`+window+`])) by (service_name) / sum(rate(traces_span_metrics_calls_total{service_name =~ "productpage|reviews|ratings|details", span_kind =~ "SPAN_KIND_SERVER|SPAN_KIND_CLIENT"}[`+window+`])) by (service_name)`, t1)
		require.NotEmpty(t, errRate)
		someErrors := false
		for _, s := range errRate {
			assert.True(t, s.Value >= 0 && s.Value < 1, "%v", s)
			someErrors = someErrors || s.Value > 0
		}
		assert.True(t, someErrors, "%v", errRate)
		byOp := prom.query(t, `sum(rate(traces_span_metrics_calls_total{service_name =~ "reviews", span_kind =~ "SPAN_KIND_SERVER"}[`+window+`])) by (service_name,span_name)`, t1)
		assert.NotEmpty(t, byOp)
	})

	t.Run("Monitor tab through Jaeger", func(t *testing.T) {
		params := url.Values{
			"service": {"productpage"}, "spanKind": {"server"},
			"endTs":    {fmt.Sprint(t1.Add(time.Second).UnixMilli())},
			"lookback": {fmt.Sprint((t1.Sub(t0) + 30*time.Second).Milliseconds())},
			"step":     {"1000"},
			// Whole seconds: Jaeger writes ratePer into the PromQL range as a
			// Go duration ("1.995s"), which Prometheus refuses.
			"ratePer": {fmt.Sprint((t1.Sub(t0).Truncate(time.Second) + time.Second).Milliseconds())},
		}
		for _, path := range []string{"/api/metrics/calls", "/api/metrics/latencies?quantile=0.95&", "/api/metrics/errors"} {
			sep := "?"
			if strings.HasSuffix(path, "&") {
				sep = ""
			}
			var got struct {
				Name    string
				Metrics []struct {
					Labels       []struct{ Name, Value string }
					MetricPoints []struct {
						GaugeValue struct{ DoubleValue any } // a number, or "NaN"
					}
				}
			}
			code := j.get(t, path+sep+params.Encode(), &got)
			require.Equal(t, http.StatusOK, code, path)
			require.NotEmpty(t, got.Metrics, "%s: %+v", path, got)
			maxV := 0.0
			for _, m := range got.Metrics {
				for _, p := range m.MetricPoints {
					if v, ok := p.GaugeValue.DoubleValue.(float64); ok {
						maxV = math.Max(maxV, v)
					}
				}
			}
			if path != "/api/metrics/errors" {
				assert.Positive(t, maxV, "%s: %+v", path, got)
			}
			t.Logf("%s: %s, %d series, max %.3g", path, got.Name, len(got.Metrics), maxV)
		}
	})
}

// TestE2ESpansUnreachableBackend points --traces-endpoint at a closed port:
// the OTLP exporter (no queue of its own) retries each batch, then fails it,
// which meshlens counts as dropped, and no span counts as exported; spans
// that arrive meanwhile wait in meshlens's bounded queue or are dropped,
// counted. Ingest goes on at the speed of a meshlens without traces, every
// entry is processed, and shutdown does not hang.
func TestE2ESpansUnreachableBackend(t *testing.T) {
	closed := freePort(t) // nothing listens there
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 41, Requests: 20_000, Start: time.Now()})
	entries := float64(tr.EntryCount())

	ingest := func(m *meshlens) time.Duration {
		conn := dial(t, m.GRPC)
		start := time.Now()
		for pass := 1; pass <= 3; pass++ {
			_, err := loadgen.Send(context.Background(), conn, tr, loadgen.SendOptions{})
			require.NoError(t, err)
		}
		waitProcessed(t, m, 3*entries)
		return time.Since(start)
	}
	plain := startMeshlens(t)
	base := ingest(plain)
	require.NoError(t, plain.stop(t, 20*time.Second))

	m := startMeshlens(t, "--traces-endpoint", closed,
		"--set", "receivers::envoyals::traces::sampling_rate=0.2",
		"--set", "exporters::otlp_grpc/traces::retry_on_failure::max_interval=1s",
		"--set", "exporters::otlp_grpc/traces::retry_on_failure::max_elapsed_time=2s")
	took := ingest(m)
	t.Logf("3×%.0f entries ingested in %s without traces, %s with spans to an unreachable backend", entries, base.Round(time.Millisecond), took.Round(time.Millisecond))

	assert.InDelta(t, 3*entries, m.metric(t, "meshlens_receiver_entries_processed_total"), 0)
	assert.Zero(t, m.metric(t, `meshlens_receiver_entries_dropped_total{reason="sink_error"}`))
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_spans_dropped_total{reason="pipeline_error"}`, "meshlens_spans_queued")
		return err == nil && v[0] > 0 && v[1] == 0
	}, 60*time.Second, 100*time.Millisecond, "the exporter's failed exports are counted, and the queue drains")
	built := m.metric(t, `meshlens_spans_total{stage="built"}`)
	exported := m.metric(t, `meshlens_spans_total{stage="exported"}`)
	var dropped float64
	for _, r := range []string{"queue_full", "pipeline_error", "shutdown"} {
		dropped += m.metric(t, `meshlens_spans_dropped_total{reason="`+r+`"}`)
	}
	assert.InDelta(t, built, exported+dropped, 0, "built = exported (taken by the backend) + dropped")
	assert.Zero(t, exported, "nothing reached the backend, so nothing counts as exported")
	assert.Greater(t, built, 5000.0)
	assert.Less(t, took, 3*base+5*time.Second, "a dead backend does not slow ingest down")

	stopped := time.Now()
	require.NoError(t, m.stop(t, 20*time.Second), "shutdown does not wait for the dead backend")
	t.Logf("stopped in %s", time.Since(stopped).Round(time.Millisecond))
}

// TestE2EJaegerDemo runs what make demo-stack runs, meshlens --demo sending
// its rebuilt spans to a real Jaeger, and checks what a newcomer looks for
// in Jaeger: whole Bookinfo requests, one trace holding the spans of every
// hop (the ingress gateway, productpage, details, reviews), not a trace per
// hop.
func TestE2EJaegerDemo(t *testing.T) {
	bin := jaegerBinary(t)
	otlp := freePort(t)
	j := startJaeger(t, bin, otlp, "")
	startMeshlens(t, "--demo", "--demo-rate", "100", "--traces-endpoint", otlp,
		"--set", "receivers::envoyals::traces::sampling_rate=1")

	want := []string{"istio-ingressgateway", "productpage", "details", "reviews"}
	var best []string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var got struct{ Data []jaegerTrace }
		if j.get(t, "/api/traces?service=istio-ingressgateway&limit=50&lookback=1h", &got) == http.StatusOK {
			for _, tr := range got.Data {
				services := map[string]bool{}
				for _, s := range tr.Spans {
					services[tr.Processes[s.ProcessID].ServiceName] = true
				}
				var have []string
				for _, w := range want {
					if services[w] {
						have = append(have, w)
					}
				}
				if len(have) > len(best) {
					best = have
				}
			}
			if len(best) == len(want) {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("no trace of the ingress gateway holds the spans of every hop %v: at best %v", want, best)
}
