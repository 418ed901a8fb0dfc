package hubextension

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/exporters/istiometrics"
	"github.com/meshlens/meshlens/exporters/remotewrite"
)

// rwSender is meshlens's own Prometheus remote-write sender (remote_write,
// ADR 0013): one goroutine that, every interval, reads the series of its
// sources into requests of at most max_request_bytes and sends each,
// snappy-compressed, before reading on: the Istio series with an
// istiometrics.RemoteWriteReader, envoy_* and the span metrics from the
// client_golang registries /metrics gathers them from (remotewrite.Families).
// A push that outlasts the interval delays the next one (the ticker drops
// the ticks missed): nothing queues, since a newer push carries the newer
// cumulative values. Memory: one request's body and its compressed copy
// (2 × max_request_bytes at most, reused), the labels each Istio series
// keeps (remotewrite.Labels, ~ its text label block), and, while a
// registry's families are read, those families, gathered whole as a scrape
// gathers them (bounded by span_metrics::max_series and
// envoy_stats::max_series and their label-byte budgets).
type rwSender struct {
	cfg      *RemoteWriteConfig
	reader   *istiometrics.RemoteWriteReader // nil unless istio is a source
	families []rwFamilies                    // the other sources, in the order of cfg.Sources
	fams     remotewrite.Families
	native   bool
	m        *rwMetrics
	logger   *zap.Logger
	now      func() time.Time
	agent    string

	client  *http.Client
	batch   remotewrite.Batch
	wire    []byte
	ctx     context.Context // the push under way's, for Emit
	due     time.Time       // when the next push is due: no retry runs past it
	pushErr error           // the push's first request not accepted
	// wireLent: a request abandoned by the client may still read wire.
	wireLent bool
	failing  bool
	// refusing: the last request was refused with a 4xx (logged once,
	// until one is accepted again).
	refusing bool
}

// rwFamilies is a source read from a client_golang registry: the families
// of gatherer whose names start with prefix (the registry's other
// families are self-metrics, not pushed).
type rwFamilies struct {
	gatherer prometheus.Gatherer
	prefix   string
}

// rwSources are what the sender may read: the Istio series, and the
// registries /metrics gathers envoy_* and the span metrics from.
type rwSources struct {
	istio             *istiometrics.Aggregator
	envoy, spanMetric prometheus.Gatherer
}

// newRWSender prepares the sender of the sources the configuration lists,
// with its external labels (job and instance defaulted), and registers its
// metrics on reg.
func newRWSender(cfg *RemoteWriteConfig, src rwSources, native bool, reg prometheus.Registerer, logger *zap.Logger, now func() time.Time, version string) (*rwSender, error) {
	ext := map[string]string{"job": "meshlens"}
	if host, err := os.Hostname(); err == nil {
		ext["instance"] = host
	}
	maps.Copy(ext, cfg.ExternalLabels)
	var labels []remotewrite.Label
	for _, n := range slices.Sorted(maps.Keys(ext)) {
		labels = append(labels, remotewrite.Label{Name: n, Value: ext[n]})
	}
	s := &rwSender{cfg: cfg, native: native, logger: logger, now: now, agent: "meshlens/" + version}
	s.fams.External = labels
	for _, name := range cfg.Sources {
		switch name {
		case RemoteWriteSourceIstio:
			reader, err := src.istio.NewRemoteWriteReader(labels)
			if err != nil {
				return nil, fmt.Errorf("create remote-write reader: %w", err)
			}
			s.reader = reader
		case RemoteWriteSourceEnvoy:
			s.families = append(s.families, rwFamilies{gatherer: src.envoy, prefix: "envoy_"})
		case RemoteWriteSourceSpanMetrics:
			s.families = append(s.families, rwFamilies{gatherer: src.spanMetric, prefix: "traces_span_metrics_"})
		}
	}
	m, err := newRWMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.m = m
	s.batch = remotewrite.Batch{MaxBytes: cfg.MaxRequestBytes, Emit: s.send}
	return s, nil
}

// start makes the HTTP client (TLS, headers and auth as the Collector's
// exporters); run then pushes.
func (s *rwSender) start(ctx context.Context, host component.Host, set component.TelemetrySettings) error {
	client, err := s.cfg.Client.ToClient(ctx, host.GetExtensions(), set)
	if err != nil {
		return fmt.Errorf("create remote-write client: %w", err)
	}
	s.client = client
	s.logger.Info("meshlens remote write started", zap.String("endpoint", s.cfg.Client.Endpoint),
		zap.Duration("interval", s.cfg.Interval), zap.Strings("sources", s.cfg.Sources), zap.Bool("native_histograms", s.native))
	return nil
}

// run pushes every interval until ctx ends.
func (s *rwSender) run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.client.CloseIdleConnections() // their goroutines end with them
			s.logger.Info("meshlens remote write stopped", zap.String("endpoint", s.cfg.Client.Endpoint))
			return
		case <-t.C:
			s.push(ctx)
		}
	}
}

// push reads and sends every series once.
func (s *rwSender) push(ctx context.Context) {
	start := s.now()
	s.ctx, s.due, s.pushErr = ctx, start.Add(s.cfg.Interval), nil
	s.m.pushes.Inc()
	err := s.read(start.UnixMilli())
	if err == nil {
		err = s.batch.Flush()
	}
	if err == nil {
		err = s.pushErr
	}
	s.m.duration.Observe(s.now().Sub(start).Seconds())
	s.ctx = nil
	if ctx.Err() != nil {
		return // shutting down
	}
	switch {
	case err != nil:
		s.m.pushesFailed.Inc()
		if !s.failing {
			s.logger.Warn("remote write fails; counted in meshlens_remote_write_pushes_failed_total until it works again", zap.Error(err))
		}
		s.failing = true
	case s.failing:
		s.failing = false
		s.logger.Info("remote write works again")
	}
}

// read appends every series of the sources as of ts to the batch, which
// sends the requests it fills; it returns the first error of a send that
// ends the push. The registries' families are gathered one registry at a
// time, as a scrape gathers them: their collectors hold their locks only
// to copy the series, so no lock is held while a request is sent.
func (s *rwSender) read(ts int64) error {
	if s.reader != nil {
		if err := s.reader.Read(ts, &s.batch); err != nil {
			return err
		}
	}
	for _, src := range s.families {
		// A registry that fails entirely is left out, as the scrape
		// leaves it out.
		fams, _ := src.gatherer.Gather()
		for _, f := range fams {
			if !strings.HasPrefix(f.GetName(), src.prefix) {
				continue
			}
			if err := s.fams.Append(f, ts, &s.batch); err != nil {
				return err
			}
		}
	}
	return nil
}

// errRetriesSpent is the error of a request still not accepted when its
// retries are spent.
var errRetriesSpent = errors.New("remote-write request not accepted")

// send is the Batch's Emit: it compresses a request and posts it,
// retrying on 5xx, 429 and transport errors with backoff while the
// push's interval lasts (a retry is cut off when the interval ends). A
// request refused with another 4xx is dropped (its series are counted)
// and the push goes on; so does one whose retries are spent within the
// interval (the push is counted failed). One still not sent when the
// interval is over ends the push: the next push carries newer values.
func (s *rwSender) send(body []byte, samples, histograms int) error {
	ctx := s.ctx
	if s.wireLent {
		// An abandoned request may still read the last buffer: take a new one.
		s.wire, s.wireLent = nil, false
	}
	s.wire = s2.EncodeSnappy(s.wire[:cap(s.wire)], body)
	wait := s.cfg.Retry.InitialInterval
	for attempt := 0; ; attempt++ {
		code, answer, err := s.postAttempt(ctx, attempt)
		if err == nil && code/100 == 2 {
			if s.refusing {
				s.refusing = false
				s.logger.Info("the remote accepts remote-write requests again")
			}
			s.m.requests.Inc()
			s.m.samples.Add(float64(samples))
			s.m.histograms.Add(float64(histograms))
			s.m.bytes.Add(float64(len(s.wire)))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("send remote-write request: %w", ctx.Err())
		}
		reason := "transport"
		switch {
		case err != nil:
		case code == http.StatusTooManyRequests:
			reason = "http_429"
		case code/100 == 5:
			reason = "http_5xx"
		case code/100 == 4:
			reason = "http_4xx"
		default:
			reason = "http_other"
		}
		s.m.failed.WithLabelValues(reason).Inc()
		if reason == "http_4xx" || reason == "http_other" {
			// Refused: sending it again would not help. The rest of the
			// push may be accepted.
			s.m.dropped.Add(float64(samples + histograms))
			if !s.refusing {
				s.refusing = true
				s.logger.Warn("the remote refuses remote-write requests; their series are dropped, counted in meshlens_remote_write_requests_failed_total{reason=\"http_4xx\"}",
					zap.Int("status", code), zap.String("answer", answer))
			}
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%w: HTTP %d", errRetriesSpent, code)
		}
		if attempt >= s.cfg.Retry.MaxRetries || s.now().Add(wait).After(s.due) {
			s.m.dropped.Add(float64(samples + histograms))
			err = fmt.Errorf("send remote-write request (%d attempts): %w", attempt+1, err)
			if s.pushErr == nil {
				s.pushErr = err
			}
			if s.now().After(s.due) {
				return err
			}
			return nil
		}
		s.m.retries.Inc()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("send remote-write request: %w", ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, s.cfg.Retry.MaxInterval)
	}
}

// postAttempt posts s.wire; a retry (attempt > 0) may not run past the
// interval.
func (s *rwSender) postAttempt(ctx context.Context, attempt int) (int, string, error) {
	if attempt == 0 {
		return s.post(ctx, s.wire)
	}
	rctx, cancel := context.WithDeadline(ctx, s.due)
	defer cancel()
	return s.post(rctx, s.wire)
}

// sentBody is a request's body that says when the Transport closed it: it
// may read it until then, even after Do returned.
type sentBody struct {
	*bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// post sends one compressed request and returns the answer's status and,
// when it is not 2xx, the start of its body. wire is overwritten by the
// next request only once the Transport has closed the body; if it has not
// within the client's timeout, the next request takes a new buffer (a
// retry of this one sends the same bytes from it).
func (s *rwSender) post(ctx context.Context, wire []byte) (code int, answer string, _ error) {
	body := &sentBody{Reader: bytes.NewReader(wire), closed: make(chan struct{})}
	defer func() {
		t := time.NewTimer(max(s.cfg.Client.Timeout, time.Second))
		defer t.Stop()
		select {
		case <-body.closed:
		case <-t.C:
			s.wireLent = true // still read by an abandoned request: not to be written again
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Client.Endpoint, body)
	if err != nil {
		_ = body.Close()
		return 0, "", fmt.Errorf("create remote-write request: %w", err)
	}
	req.ContentLength = int64(len(wire))
	h := req.Header
	h.Set("Content-Encoding", "snappy")
	h.Set("Content-Type", "application/x-protobuf")
	h.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	h.Set("User-Agent", s.agent)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post remote-write request: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var head [256]byte
		n, _ := io.ReadFull(resp.Body, head[:])
		answer = string(head[:n])
	}
	// Read a little of the answer so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, answer, nil
}

// rwMetrics are the sender's self-metrics.
type rwMetrics struct {
	reg                  prometheus.Registerer
	pushes, pushesFailed prometheus.Counter
	duration             prometheus.Histogram
	requests, retries    prometheus.Counter
	failed               *prometheus.CounterVec
	samples, histograms  prometheus.Counter
	dropped, bytes       prometheus.Counter
	collectors           []prometheus.Collector
}

func newRWMetrics(reg prometheus.Registerer) (*rwMetrics, error) {
	m := &rwMetrics{
		reg: reg,
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_pushes_total", Help: "Pushes of the remote-write sender begun.",
		}),
		pushesFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_pushes_failed_total",
			Help: "Pushes of the remote-write sender ended by a request that could not be sent (retries spent, or the next push due); the next push sends the cumulative values again.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "meshlens_remote_write_push_duration_seconds", Help: "Time a push of the remote-write sender took, reading and sending.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		requests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_requests_total", Help: "Remote-write requests the remote accepted (2xx).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_retries_total", Help: "Remote-write requests sent again after a 5xx, 429 or transport error.",
		}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshlens_remote_write_requests_failed_total",
			Help: "Remote-write attempts that failed, by reason: http_4xx (refused: not retried, dropped), http_429, http_5xx, transport (retried), http_other.",
		}, []string{"reason"}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_samples_total", Help: "Samples in the remote-write requests accepted.",
		}),
		histograms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_histograms_total", Help: "Native histograms in the remote-write requests accepted.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_dropped_total", Help: "Samples and native histograms of remote-write requests given up (refused, or retries spent).",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshlens_remote_write_sent_bytes_total", Help: "Bytes (snappy-compressed) of the remote-write requests accepted.",
		}),
	}
	m.collectors = []prometheus.Collector{m.pushes, m.pushesFailed, m.duration, m.requests, m.retries, m.failed, m.samples, m.histograms, m.dropped, m.bytes}
	for _, r := range []string{"http_4xx", "http_429", "http_5xx", "transport", "http_other"} {
		m.failed.WithLabelValues(r)
	}
	for i, col := range m.collectors {
		if err := reg.Register(col); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register remote-write metrics: %w", err)
		}
	}
	return m, nil
}

// Unregister removes the metrics from the registry.
func (m *rwMetrics) Unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}
