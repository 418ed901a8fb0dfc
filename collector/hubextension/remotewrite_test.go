package hubextension

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/meshlens/meshlens/exporters/remotewrite/rwtest"
	"github.com/meshlens/meshlens/internal/benchrecs"
)

func TestRemoteWriteConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "remote_write.yaml"))
	require.NoError(t, err)
	for _, tt := range []struct {
		name, wantErr, unmarshalErr string
		check                       func(t *testing.T, c *RemoteWriteConfig)
	}{
		{name: "rw", check: func(t *testing.T, c *RemoteWriteConfig) {
			assert.True(t, c.Enabled())
			assert.Equal(t, "https://mimir.example:9009/api/v1/push", c.Client.Endpoint)
			assert.Equal(t, 30*time.Second, c.Interval)
			assert.Equal(t, 5*time.Second, c.Client.Timeout)
			v, ok := c.Client.Headers.Get("X-Scope-OrgID")
			assert.True(t, ok)
			assert.Equal(t, configopaque.String("mesh"), v)
			assert.True(t, c.Client.TLS.InsecureSkipVerify)
			assert.Equal(t, 1<<20, c.MaxRequestBytes)
			assert.Equal(t, map[string]string{"cluster": "eu-1", "instance": ""}, c.ExternalLabels)
			assert.Equal(t, RemoteWriteRetryConfig{MaxRetries: 5, InitialInterval: time.Second, MaxInterval: 10 * time.Second}, c.Retry)
			assert.Equal(t, []string{"istio", "span_metrics"}, c.Sources)
		}},
		{name: "rw_default_sources", check: func(t *testing.T, c *RemoteWriteConfig) {
			assert.Equal(t, []string{"istio", "envoy", "span_metrics"}, c.Sources, "the meshlens_metrics receiver's source names, all of them")
		}},
		{name: "rw_label_of_a_source_not_pushed", check: func(t *testing.T, c *RemoteWriteConfig) {
			assert.Equal(t, map[string]string{"service_name": "mesh"}, c.ExternalLabels, "a span-metrics label, and the span metrics are not pushed")
		}},
		{name: "rw_off", check: func(t *testing.T, c *RemoteWriteConfig) {
			assert.False(t, c.Enabled(), "no endpoint: off, and nothing else checked")
		}},
		{name: "bad_rw_endpoint", wantErr: `remote_write: endpoint "prometheus:9090/api/v1/write" must be an http:// or https:// URL with a host`},
		{name: "bad_rw_interval", wantErr: "remote_write: interval must be at least 1s, got 100ms"},
		{name: "bad_rw_compression", wantErr: `remote_write: compression must not be set (got "gzip"): requests are snappy-compressed, as remote write requires`},
		{name: "bad_rw_request_bytes", wantErr: "remote_write: max_request_bytes must be between 65536 and 268435456, got 1000"},
		{name: "bad_rw_label", wantErr: `remote_write: external_labels: "__tenant" is not a label name (letters, digits and _, not starting with a digit or __)`},
		{name: "bad_rw_istio_label", wantErr: `remote_write: external_labels: "reporter" is a label of the istio series (sources)`},
		{name: "bad_rw_timeout", wantErr: "remote_write: timeout must be positive, got 0s"},
		{name: "bad_rw_retry", wantErr: "remote_write: retry: initial_interval must be positive and at most max_interval, got 10s and 1s"},
		{name: "bad_rw_key", unmarshalErr: "intervall"},
		{name: "bad_rw_source", wantErr: `remote_write: sources: unknown source "traces", want one of [istio envoy span_metrics]`},
		{name: "bad_rw_source_twice", wantErr: `remote_write: sources: "envoy" listed twice`},
		{name: "bad_rw_no_source", wantErr: "remote_write: sources must name at least one of [istio envoy span_metrics]"},
		{name: "bad_rw_span_label", wantErr: `remote_write: external_labels: "span_kind" is a label of the span_metrics series (sources)`},
		{name: "bad_rw_envoy_label", wantErr: `remote_write: external_labels: "node_id" is a label of the envoy series (sources)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub("meshlens/" + tt.name)
			require.NoError(t, err)
			err = sub.Unmarshal(cfg)
			if tt.unmarshalErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.unmarshalErr)
				return
			}
			require.NoError(t, err)
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, &cfg.(*Config).RemoteWrite)
		})
	}
}

// rwSink is a remote-write receiver for tests: it decodes every request,
// answers with the codes of answer in turn (then 204), and records the
// headers and the greatest number of requests in flight at once.
type rwSink struct {
	mu       sync.Mutex
	answer   []int
	bodies   [][]byte
	headers  []http.Header
	delay    time.Duration
	inFlight atomic.Int32
	maxIn    atomic.Int32
	block    chan struct{} // when set, requests wait for it or their context
}

func (s *rwSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxIn.Load()
		if n <= m || s.maxIn.CompareAndSwap(m, n) {
			break
		}
	}
	if s.block != nil {
		select {
		case <-s.block:
		case <-r.Context().Done():
			return
		}
	}
	time.Sleep(s.delay)
	wire, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	body, err := snappy.Decode(nil, wire)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	code := http.StatusNoContent
	if len(s.answer) > 0 {
		code, s.answer = s.answer[0], s.answer[1:]
	}
	if code/100 == 2 {
		s.bodies = append(s.bodies, body)
	}
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	w.WriteHeader(code)
}

// rwHub returns a hub holding sets HTTP label sets that pushes to sink
// every interval (not started), and the sink's server.
func rwHub(t *testing.T, sets int, sink *rwSink, edit func(*RemoteWriteConfig)) *Hub {
	t.Helper()
	return rwHubLogged(t, sets, sink, edit, nil)
}

// rwConfig is a hub's configuration for sets HTTP label sets whose remote
// write goes to sink, with external labels instance and cluster.
func rwConfig(t *testing.T, sets int, sink *rwSink) *Config {
	t.Helper()
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = freeAddr(t)
	cfg.Metrics.MaxSeries = sets + 1
	cfg.RemoteWrite.Client.Endpoint = srv.URL + "/api/v1/write"
	cfg.RemoteWrite.ExternalLabels = map[string]string{"instance": "pod-0", "cluster": "eu-1"}
	return cfg
}

// rwHubLogged is rwHub logging to logger (nil: nowhere).
func rwHubLogged(t *testing.T, sets int, sink *rwSink, edit func(*RemoteWriteConfig), logger *zap.Logger) *Hub {
	t.Helper()
	cfg := rwConfig(t, sets, sink)
	cfg.RemoteWrite.Client.Headers.Set("X-Scope-OrgID", "mesh")
	if edit != nil {
		edit(&cfg.RemoteWrite)
	}
	set := extensiontest.NewNopSettings(Type)
	set.BuildInfo.Version = "1.2.3"
	if logger != nil {
		set.Logger = logger
	}
	h, err := newHub(cfg, set, time.Now)
	require.NoError(t, err)
	for b := range slicesChunk(benchrecs.LabelSets(sets), 1000) {
		h.agg.ConsumeRecords(b, nil, time.Now())
	}
	return h
}

// metricValue reads a counter (with the labels given as name=value) of
// the hub's registry.
func metricValue(t *testing.T, h *Hub, name string, labels ...string) float64 {
	t.Helper()
	fams, err := h.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, l := range labels {
				n, v, _ := strings.Cut(l, "=")
				for _, lp := range m.GetLabel() {
					if lp.GetName() == n && lp.GetValue() != v {
						continue next
					}
				}
			}
			if m.GetHistogram() != nil {
				return float64(m.GetHistogram().GetSampleCount())
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

// TestRemoteWriteSends: the started hub pushes every interval with the
// remote-write headers and the configured ones; what arrives is the
// scrape's Istio series with the external labels (job defaulted), and the
// self-metrics count it; shutdown stops the sender (goleak: TestMain).
func TestRemoteWriteSends(t *testing.T) {
	sink := &rwSink{}
	h := rwHub(t, 40, sink, func(c *RemoteWriteConfig) { c.Interval = 50 * time.Millisecond })
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return metricValue(t, h, "meshlens_remote_write_requests_total") >= 2 },
		10*time.Second, 10*time.Millisecond, "two pushes")
	require.NoError(t, h.Shutdown(context.Background()))

	sink.mu.Lock()
	hd := sink.headers[0]
	first := sink.bodies[0]
	sink.mu.Unlock()
	assert.Equal(t, "snappy", hd.Get("Content-Encoding"))
	assert.Equal(t, "application/x-protobuf", hd.Get("Content-Type"))
	assert.Equal(t, "0.1.0", hd.Get("X-Prometheus-Remote-Write-Version"))
	assert.Equal(t, "meshlens/1.2.3", hd.Get("User-Agent"))
	assert.Equal(t, "mesh", hd.Get("X-Scope-OrgID"), "the client's headers")

	d, err := rwtest.Decode(first)
	require.NoError(t, err)
	assert.Empty(t, d.Problems)
	assert.Len(t, d.Samples, 40*67, "a counter and three histograms of 20 buckets, _sum and _count per label set")
	for k := range d.Samples {
		assert.Contains(t, k, `cluster="eu-1",`)
		assert.Contains(t, k, `instance="pod-0",`)
		assert.Contains(t, k, `job="meshlens",`)
	}
	assert.GreaterOrEqual(t, metricValue(t, h, "meshlens_remote_write_samples_total"), float64(2*40*67))
	assert.GreaterOrEqual(t, metricValue(t, h, "meshlens_remote_write_pushes_total"), 2.0)
	assert.Positive(t, metricValue(t, h, "meshlens_remote_write_sent_bytes_total"))
	assert.Positive(t, metricValue(t, h, "meshlens_remote_write_push_duration_seconds"))
	assert.Zero(t, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"))
}

// TestRemoteWriteRetries: 5xx, 429 and transport errors are retried with
// backoff, up to max_retries; other 4xx are not, their request is
// dropped and the push goes on; every attempt is counted by reason.
func TestRemoteWriteRetries(t *testing.T) {
	for _, tt := range []struct {
		name     string
		answer   []int
		accepted int // requests of the push accepted (of 20)
		retries  float64
		reason   string
		failed   float64
		dropped  bool
		pushFail float64
	}{
		{name: "5xx then ok", answer: []int{503, 500}, accepted: 20, retries: 2, reason: "http_5xx", failed: 2},
		// Spent within the interval: that request is dropped, the push
		// goes on (and is counted failed).
		{name: "429 until spent", answer: []int{429, 429, 429}, accepted: 19, retries: 2, reason: "http_429", failed: 3, dropped: true, pushFail: 1},
		{name: "4xx not retried", answer: []int{400}, accepted: 19, reason: "http_4xx", failed: 1, dropped: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sink := &rwSink{answer: tt.answer}
			h := rwHub(t, 40, sink, func(c *RemoteWriteConfig) {
				c.MaxRequestBytes = 64 << 10 // 40 sets: 20 requests
				c.Retry = RemoteWriteRetryConfig{MaxRetries: 2, InitialInterval: time.Millisecond, MaxInterval: 2 * time.Millisecond}
			})
			require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
			h.rw.push(context.Background())
			sink.mu.Lock()
			accepted := len(sink.bodies)
			sink.mu.Unlock()
			assert.Equal(t, tt.accepted, accepted)
			assert.InDelta(t, tt.retries, metricValue(t, h, "meshlens_remote_write_retries_total"), 0)
			assert.InDelta(t, tt.failed, metricValue(t, h, "meshlens_remote_write_requests_failed_total", "reason="+tt.reason), 0)
			assert.InDelta(t, tt.pushFail, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"), 0)
			dropped := metricValue(t, h, "meshlens_remote_write_dropped_total")
			if tt.dropped {
				assert.Positive(t, dropped)
			} else {
				assert.Zero(t, dropped)
			}
			sent := metricValue(t, h, "meshlens_remote_write_samples_total") + dropped
			assert.InDelta(t, float64(40*67), sent, 0, "every sample of the push accepted or dropped")
		})
	}
}

// TestRemoteWriteRetryEndsWithTheInterval: a retry that hangs is cut off
// when the push's interval ends, and a request not sent by then ends the
// push (the next one carries newer values): the push takes about its
// interval, not the remote's 5 s.
func TestRemoteWriteRetryEndsWithTheInterval(t *testing.T) {
	var calls atomic.Int32
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		select { // every retry hangs
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(remote.Close)
	h := rwHub(t, 40, &rwSink{}, func(c *RemoteWriteConfig) {
		c.Client.Endpoint = remote.URL + "/api/v1/write"
		c.Interval = 300 * time.Millisecond
		c.MaxRequestBytes = 64 << 10
		c.Retry = RemoteWriteRetryConfig{MaxRetries: 3, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}
	})
	require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
	start := time.Now()
	h.rw.push(context.Background())
	assert.Less(t, time.Since(start), 2*time.Second, "the retry is cut off at the interval's end")
	assert.InDelta(t, 1, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"), 0)
	assert.Zero(t, metricValue(t, h, "meshlens_remote_write_requests_total"), "nothing accepted")
	assert.EqualValues(t, 2, calls.Load(), "the push ended with the request that outlasted its interval")
}

// TestRemoteWriteRetriesTransport: a remote that does not answer is a
// transport error, retried, then the push fails.
func TestRemoteWriteRetriesTransport(t *testing.T) {
	h := rwHub(t, 5, &rwSink{}, func(c *RemoteWriteConfig) {
		c.Client.Endpoint = "http://" + freeAddr(t) + "/api/v1/write" // nothing listens
		c.Retry = RemoteWriteRetryConfig{MaxRetries: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}
	})
	require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
	h.rw.push(context.Background())
	assert.InDelta(t, 2, metricValue(t, h, "meshlens_remote_write_requests_failed_total", "reason=transport"), 0)
	assert.InDelta(t, 1, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"), 0)
}

// TestRemoteWriteSlowRemoteDelaysNextPush: a remote slower than the
// interval delays the next push: one request at a time, pushes do not
// pile up.
func TestRemoteWriteSlowRemoteDelaysNextPush(t *testing.T) {
	sink := &rwSink{delay: 150 * time.Millisecond}
	h := rwHub(t, 5, sink, func(c *RemoteWriteConfig) { c.Interval = 20 * time.Millisecond })
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	time.Sleep(time.Second)
	require.NoError(t, h.Shutdown(context.Background()))
	assert.Equal(t, int32(1), sink.maxIn.Load(), "one request in flight at a time")
	pushes := metricValue(t, h, "meshlens_remote_write_pushes_total")
	assert.LessOrEqual(t, pushes, 8.0, "a push every 150 ms at most, not every 20 ms")
	assert.GreaterOrEqual(t, pushes, 2.0)
}

// TestRemoteWriteShutdownEndsAPush: shutdown during a push that waits for
// the remote ends the request at once.
func TestRemoteWriteShutdownEndsAPush(t *testing.T) {
	sink := &rwSink{block: make(chan struct{})}
	defer close(sink.block)
	h := rwHub(t, 5, sink, func(c *RemoteWriteConfig) { c.Interval = 10 * time.Millisecond })
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	require.Eventually(t, func() bool { return sink.inFlight.Load() == 1 }, 10*time.Second, time.Millisecond)
	start := time.Now()
	require.NoError(t, h.Shutdown(context.Background()))
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Zero(t, metricValue(t, h, "meshlens_remote_write_pushes_failed_total"), "shutting down is not a failure")
}

// TestRemoteWriteOffByDefault: without an endpoint there is no sender and
// none of its metrics.
func TestRemoteWriteOffByDefault(t *testing.T) {
	h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	assert.Nil(t, h.rw)
	fams, err := h.reg.Gather()
	require.NoError(t, err)
	for _, f := range fams {
		assert.NotContains(t, f.GetName(), "remote_write")
	}
}

// TestRemoteWriteRefusalsLoggedOnce: requests refused with a 4xx are
// logged once, with the status and the remote's answer, until one is
// accepted again.
func TestRemoteWriteRefusalsLoggedOnce(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	sink := &rwSink{answer: []int{400, 400, 400}}
	h := rwHubLogged(t, 40, sink, func(c *RemoteWriteConfig) { c.MaxRequestBytes = 64 << 10 }, zap.New(core))
	require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
	h.rw.push(context.Background())
	refused := logs.FilterMessageSnippet("refuses").All()
	require.Len(t, refused, 1, "logged once for three refusals")
	assert.Equal(t, int64(400), refused[0].ContextMap()["status"])
	assert.Len(t, logs.FilterMessageSnippet("accepts remote-write requests again").All(), 1, "the fourth request was accepted")
	assert.InDelta(t, 3, metricValue(t, h, "meshlens_remote_write_requests_failed_total", "reason=http_4xx"), 0)
}

// rtFunc is an http.RoundTripper.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRemoteWriteAbandonedBody: a request whose body the Transport has not
// closed (it may still read it) keeps its buffer: its retry sends the same
// bytes, and the next request is encoded into a new buffer.
func TestRemoteWriteAbandonedBody(t *testing.T) {
	h := rwHub(t, 5, &rwSink{}, func(c *RemoteWriteConfig) {
		c.Retry = RemoteWriteRetryConfig{MaxRetries: 1, InitialInterval: time.Millisecond, MaxInterval: time.Millisecond}
		c.Client.Timeout = 100 * time.Millisecond // how long post waits for the body to be closed: 1 s at least
	})
	require.NoError(t, h.rw.start(context.Background(), componenttest.NewNopHost(), componenttest.NewNopTelemetrySettings()))
	var bodies [][]byte
	h.rw.client = &http.Client{Transport: rtFunc(func(r *http.Request) (*http.Response, error) {
		answer := http.StatusNoContent
		if len(bodies) == 0 {
			// The first attempt: answered 503 before its body was read
			// or closed (the body is left to the Transport).
			bodies = append(bodies, nil)
			answer = http.StatusServiceUnavailable
		} else {
			b, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			_ = r.Body.Close()
			bodies = append(bodies, b)
		}
		return &http.Response{StatusCode: answer, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})}
	h.rw.push(context.Background())
	require.Len(t, bodies, 2, "one request, retried once")
	raw, err := snappy.Decode(nil, bodies[1])
	require.NoError(t, err, "the retry sends the request's bytes")
	d, err := rwtest.Decode(raw)
	require.NoError(t, err)
	assert.Len(t, d.Samples, 5*67)
	assert.InDelta(t, 1, metricValue(t, h, "meshlens_remote_write_requests_total"), 0)
	assert.True(t, h.rw.wireLent, "the first attempt's reader may still hold the buffer")
}
