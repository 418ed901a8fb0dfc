package alsreceiver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/collector/internal/conntable"
	"github.com/meshlens/meshlens/collector/internal/hubref"
	"github.com/meshlens/meshlens/exporters/spans"
)

// Sink is what the receiver needs of the hub extension: it consumes the
// records under the core's ingest contract (accesslog.Consumer: one
// StreamLocal per gRPC stream, records valid only during the call and not
// changed by the consumer) and hosts the registry the receiver registers its
// own metrics on.
type Sink interface {
	accesslog.Consumer
	// Registerer is where the receiver registers its own metrics.
	Registerer() prometheus.Registerer
}

// EnvoyStatsSink consumes Envoy's own stats from the Metrics Service. A hub
// that does not implement it makes the receiver count and discard them.
type EnvoyStatsSink interface {
	ConsumeEnvoyStats(proxy *accesslog.Proxy, families []*dto.MetricFamily, now time.Time)
}

// readinessSetter is implemented by hubs that serve /readyz.
type readinessSetter interface {
	SetReady(name string, ready bool)
}

// Full method names of the services.
const (
	alsV3Service     = "envoy.service.accesslog.v3.AccessLogService"
	metricsV3Service = "envoy.service.metrics.v3.MetricsService"
	alsV2Service     = "envoy.service.accesslog.v2.AccessLogService"
	metricsV2Service = "envoy.service.metrics.v2.MetricsService"
)

type alsReceiver struct {
	cfg      *Config
	set      receiver.Settings
	next     consumer.Traces
	now      func() time.Time
	server   *grpc.Server
	sink     Sink
	stats    EnvoyStatsSink
	metrics  *selfMetrics
	conns    *conntable.Locked
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex // guards started/shut
	shut     bool
	streams  atomic.Int64 // open streams, both services
	overMem  atomic.Bool  // heap above memory_limit_mib (sampled)

	guard          *guard     // transport-level limits (guard.go)
	loops          io.Closer  // the event loops (transport event_loop, evloop.go)
	loopGuard      *loopGuard // their limits
	evictIdleAfter time.Duration
	handshakeLog   logLimiter

	spans *spans.Pipeline // nil unless traces.enabled (spans.go)
	// spansIdle unregisters the span metrics registered at zero while
	// traces.enabled is off (spans.go).
	spansIdle func()
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Traces, now func() time.Time) *alsReceiver {
	return &alsReceiver{
		cfg:   cfg,
		set:   set,
		next:  next,
		now:   now,
		conns: conntable.New(cfg.MaxTCPConnections, cfg.TCPConnectionTTL),
		stop:  make(chan struct{}),

		evictIdleAfter: defaultEvictIdleAfter,
		handshakeLog:   logLimiter{every: time.Minute, now: now},
	}
}

// streamWindow is the HTTP/2 flow-control window of every stream: fixed
// (gRPC's BDP estimation, which grows it up to 16 MiB, is off), so that a
// stream whose handler is busy has at most this many bytes queued.
// connWindow only paces the sender: gRPC returns connection window as soon
// as bytes arrive.
const (
	streamWindow = 64 << 10
	connWindow   = 1 << 20
)

// serverOptions are the gRPC options the receiver adds to configgrpc's.
func (r *alsReceiver) serverOptions(ctx context.Context) ([]configgrpc.ToServerOption, error) {
	inner := insecure.NewCredentials()
	if r.cfg.GRPC.TLS.HasValue() {
		tlsCfg, err := r.cfg.GRPC.TLS.Get().LoadTLSConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load TLS config: %w", err)
		}
		inner = credentials.NewTLS(tlsCfg)
	}
	return []configgrpc.ToServerOption{
		configgrpc.WithGrpcServerOption(grpc.ForceServerCodecV2(newRawCodec())),
		// Stop waits for the handlers, so that a batch being aggregated
		// when shutdown cancels its stream is finished, not lost.
		configgrpc.WithGrpcServerOption(grpc.WaitForHandlers(true)),
		configgrpc.WithGrpcServerOption(experimental.BufferPool(newRecvPool())),
		// Replaces configgrpc's credentials with the same ones, wrapped.
		configgrpc.WithGrpcServerOption(grpc.Creds(guardCreds{TransportCredentials: inner, g: r.guard, failed: r.handshakeFailed})),
		configgrpc.WithGrpcServerOption(grpc.InTapHandle(r.guard.tap)),
		configgrpc.WithGrpcServerOption(grpc.InitialWindowSize(streamWindow)),
		configgrpc.WithGrpcServerOption(grpc.InitialConnWindowSize(connWindow)),
	}, nil
}

// Start finds the hub, registers metrics, binds the port and serves in the
// background. It returns as soon as the port is bound.
func (r *alsReceiver) Start(ctx context.Context, host component.Host) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		return errors.New("receiver was shut down")
	}
	sink, err := hubref.Find[Sink](host, r.cfg.Hub, "consume access log records")
	if err != nil {
		return err
	}
	r.sink = sink
	r.stats, _ = sink.(EnvoyStatsSink)
	r.guard = newGuard(r.now, r.cfg.receiveBudget(), r.cfg.StreamIdleTimeout, r.cfg.MessageTimeout, r.evictIdleAfter,
		"/"+alsV3Service+"/StreamAccessLogs", "/"+metricsV3Service+"/StreamMetrics")
	receiving := r.guard.receiving
	if r.cfg.EventLoop.Enabled {
		r.loopGuard = newLoopGuard(r.cfg.receiveBudget(), r.evictIdleAfter)
		receiving = r.loopGuard.receiving
	}
	m, err := newSelfMetrics(sink.Registerer(), func() float64 { return float64(r.conns.Len()) }, r.conns.Overflow, receiving)
	if err != nil {
		return fmt.Errorf("register receiver metrics: %w", err)
	}
	r.metrics = m

	if r.cfg.EventLoop.Enabled {
		return r.startLoops(ctx)
	}
	opts, err := r.serverOptions(ctx)
	if err != nil {
		m.unregister()
		return err
	}
	srv, err := r.cfg.GRPC.ToServer(ctx, host.GetExtensions(), r.set.TelemetrySettings, opts...)
	if err != nil {
		m.unregister()
		return fmt.Errorf("create gRPC server: %w", err)
	}
	r.registerServices(srv)

	ln, err := r.cfg.GRPC.NetAddr.Listen(ctx)
	if err != nil {
		m.unregister()
		return fmt.Errorf("listen on %s: %w", r.cfg.GRPC.NetAddr.Endpoint, err)
	}
	if err := r.startSpans(ctx, sink.Registerer()); err != nil {
		_ = ln.Close()
		m.unregister()
		return err
	}
	r.server = srv
	r.running(ln.Addr().String(), "grpc", r.guard.budget,
		func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(err))
			}
		},
		r.sweepLoop)
	return nil
}

// running logs the start, reports the receiver ready, and runs serve and
// the transport's other loops beside the memory and TCP-table loops, each
// on a goroutine Shutdown waits for.
func (r *alsReceiver) running(endpoint, transport string, budget int64, loops ...func()) {
	r.set.Logger.Info("Envoy ALS and Metrics Service receiver started", zap.String("endpoint", endpoint),
		zap.String("transport", transport), zap.Int64("receive_budget_bytes", budget),
		zap.Uint32("max_concurrent_streams", r.cfg.GRPC.MaxConcurrentStreams))
	if rs, ok := r.sink.(readinessSetter); ok {
		rs.SetReady(r.set.ID.String(), true)
	}
	if r.cfg.MemoryLimitMiB > 0 {
		loops = append(loops, r.memoryLoop)
	}
	for _, loop := range append(loops, r.expireLoop) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			loop()
		}()
	}
}

// registerServices registers the ALS and Metrics Service handlers, v3, and
// the v2 services, which are answered with Unimplemented and a message
// saying how to move to v3. The raw codec hands every handler the message's
// bytes undecoded.
func (r *alsReceiver) registerServices(srv *grpc.Server) {
	for _, svc := range []struct {
		name, method, metadata string
		handler                grpc.StreamHandler
	}{
		{alsV3Service, "StreamAccessLogs", "envoy/service/accesslog/v3/als.proto", r.handleALS},
		{metricsV3Service, "StreamMetrics", "envoy/service/metrics/v3/metrics_service.proto", r.handleMetrics},
		{alsV2Service, "StreamAccessLogs", "", func(any, grpc.ServerStream) error { return r.rejectV2(serviceALS) }},
		{metricsV2Service, "StreamMetrics", "", func(any, grpc.ServerStream) error { return r.rejectV2(serviceMetrics) }},
	} {
		srv.RegisterService(&grpc.ServiceDesc{
			ServiceName: svc.name,
			HandlerType: (*any)(nil),
			Streams:     []grpc.StreamDesc{{StreamName: svc.method, Handler: svc.handler, ClientStreams: true}},
			Metadata:    svc.metadata,
		}, struct{}{})
	}
}

// Shutdown stops accepting streams, lets in-flight messages finish (each
// message is normalised and handed to the hub before its stream notices),
// and waits for the background goroutines. It is safe without Start.
func (r *alsReceiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.shut = true
	srv := r.server
	loops := r.loops
	r.mu.Unlock()
	r.stopOnce.Do(func() { close(r.stop) })
	if loops != nil {
		_ = loops.Close()
		r.set.Logger.Info("Envoy ALS and Metrics Service receiver stopped")
	}
	if srv != nil {
		done := make(chan struct{})
		go func() { srv.GracefulStop(); close(done) }()
		drain := time.NewTimer(r.cfg.DrainTimeout)
		defer drain.Stop()
		select {
		case <-done:
		case <-drain.C:
			srv.Stop()
			<-done
		case <-ctx.Done():
			srv.Stop()
			<-done
		}
		r.set.Logger.Info("Envoy ALS and Metrics Service receiver stopped")
	}
	r.wg.Wait()
	r.stopSpans(ctx)
	if r.metrics != nil {
		m := r.metrics
		r.set.Logger.Info("Envoy ALS receiver final accounting",
			zap.Float64("entries_received", value(m.received)),
			zap.Float64("entries_processed", value(m.processed)),
			zap.Float64("entries_rejected", sumVec(m.rejected)),
			zap.Float64("entries_dropped", sumVec(m.dropped)))
		if rs, ok := r.sink.(readinessSetter); ok {
			rs.SetReady(r.set.ID.String(), false)
		}
		r.metrics.unregister()
		r.metrics = nil
	}
	return nil
}

func (r *alsReceiver) expireLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.conns.Expire(r.now())
		}
	}
}

// sweepLoop enforces message_timeout and stream_idle_timeout.
func (r *alsReceiver) sweepLoop() {
	t := time.NewTicker(r.guard.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.guard.sweep()
		}
	}
}

// memoryLoop samples the heap ten times a second.
func (r *alsReceiver) memoryLoop() {
	limit := uint64(r.cfg.MemoryLimitMiB) << 20
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			metrics.Read(sample)
			r.overMem.Store(sample[0].Value.Uint64() > limit)
		}
	}
}

func (r *alsReceiver) rejectV2(kind string) error {
	r.metrics.streams.WithLabelValues(kind).Inc()
	r.metrics.streamsEnded.WithLabelValues(kind, reasonV2).Inc()
	return status.Error(codes.Unimplemented,
		"meshlens accepts only the v3 API: set transport_api_version: V3 in the Envoy access logger or stats sink")
}

// admit counts a new stream against max_streams and in the active-streams
// gauge; the returned func undoes both.
func (r *alsReceiver) admit(service string) (func(), error) {
	return r.admitWith(service, r.guard.evictIdle)
}

// admitWith is admit with the transport's eviction of an idle stream.
func (r *alsReceiver) admitWith(service string, evictIdle func() bool) (func(), error) {
	r.metrics.streams.WithLabelValues(service).Inc()
	// At max_streams, a stream that has sent nothing for a while makes
	// room (its handler ends it and gives back its slot).
	if n := r.streams.Add(1); n > int64(r.cfg.MaxStreams) && !evictIdle() {
		r.streams.Add(-1)
		r.metrics.streamsEnded.WithLabelValues(service, reasonStreamLimit).Inc()
		return nil, status.Errorf(codes.ResourceExhausted, "meshlens has max_streams (%d) streams open; retry later", r.cfg.MaxStreams)
	}
	active := r.metrics.activeStreams.WithLabelValues(service)
	active.Inc()
	return func() { active.Dec(); r.streams.Add(-1) }, nil
}

// handleALS serves one StreamAccessLogs stream.
func (r *alsReceiver) handleALS(_ any, ss grpc.ServerStream) error {
	m := r.metrics
	release, err := r.admit(serviceALS)
	if err != nil {
		return err
	}
	defer release()

	// The stream's handle in the ingest contract: consumers keep their
	// per-stream caches in it.
	ctx, local := ss.Context(), new(accesslog.StreamLocal)
	track := trackOf(ctx)
	var bind *identityBinding
	if r.cfg.BindSPIFFEIdentity {
		bind = &identityBinding{want: peerWorkload(ctx)}
	}
	// The stream's tables (tens of KiB) are made when its first message
	// arrives: a stream that never sends one costs no more than gRPC's own.
	var st *accesslog.Stream
	var f frame
	defer func() {
		if st != nil {
			m.addResets(st.InternResets)
		}
	}()
	for {
		if r.overMem.Load() {
			r.waitMemory(ctx) // read nothing meanwhile: backpressure
		}
		if err := ss.RecvMsg(&f); err != nil {
			f.release()
			return r.endStream(serviceALS, track, err, func() error { return ss.SendMsg(&alsv3.StreamAccessLogsResponse{}) })
		}
		if st == nil {
			st = accesslog.NewStream(r.cfg.Normalizer, r.conns)
			if bind != nil {
				// Checked before any entry is normalised: a refused
				// identity changes no shared state.
				st.AcceptProxy = bind.accept
			}
		}
		if err := r.processALS(ctx, local, st, &f); err != nil {
			return err
		}
		if st.Proxy() == nil {
			// An empty first message without identifier (with entries it
			// is refused in processALS): Envoy's first message always
			// names its node, and a stream that never does would hold a
			// slot and its label tables without ever counting anything.
			return r.rejectStream(serviceALS, accesslog.ErrNoIdentifier)
		}
	}
}

// identityBinding checks that the stream's node identity is the workload
// its client certificate names (bind_spiffe_identity), when the stream's
// identifier arrives (accesslog.Stream.AcceptProxy).
type identityBinding struct {
	want spiffeWorkload
}

func (b *identityBinding) accept(p *accesslog.Proxy) error {
	if !b.want.matches(p) {
		return identityMismatch(p)
	}
	return nil
}

// identityMismatch says which identity a stream claimed that its client
// certificate does not name.
func identityMismatch(p *accesslog.Proxy) error {
	return fmt.Errorf("node identity (namespace %q, service account %q) is not the workload of the client certificate's SPIFFE id",
		p.Workload.Namespace, p.ServiceAccount)
}

// recsPool holds record batches, so that an idle stream holds none.
var recsPool = sync.Pool{New: func() any { return new([]accesslog.Record) }}

// processALS decodes, normalises and hands on one received message, then
// returns its buffers to their pools.
func (r *alsReceiver) processALS(ctx context.Context, local *accesslog.StreamLocal, st *accesslog.Stream, f *frame) error {
	m := r.metrics
	defer f.release()
	rp := recsPool.Get().(*[]accesslog.Record)
	defer func() { *rp = (*rp)[:0]; recsPool.Put(rp) }()
	m.alsMessages.Inc()
	m.alsBytes.Add(float64(f.n))
	arrived := r.now()
	truncated, clamped := st.LabelsTruncated, st.Clamped
	recs, out, err := st.DecodeSegments(f.segs, f.arena, (*rp)[:0], arrived)
	*rp = recs
	if st.LabelsTruncated != truncated {
		m.addTruncated(st.LabelsTruncated, truncated)
	}
	if st.Clamped != clamped {
		for i, n := range st.Clamped {
			if d := n - clamped[i]; d > 0 {
				m.clampedBy[i].Add(float64(d))
			}
		}
	}
	m.received.Add(float64(out.Entries))
	for i, n := range out.Rejected {
		if n > 0 {
			m.rejectedBy[i].Add(float64(n))
		}
	}
	if errors.Is(err, accesslog.ErrProxyRefused) {
		// Decoded but not taken: its entries count as rejected.
		m.rejectedIdentity.Add(float64(out.Entries))
		return r.rejectIdentity(serviceALS, err)
	}
	if err != nil {
		return r.rejectStream(serviceALS, err)
	}
	if len(recs) == 0 {
		return nil
	}
	if r.overMem.Load() {
		// Still over the limit after waiting before the read: drop.
		m.dropped.WithLabelValues(reasonMemoryLimit).Add(float64(len(recs)))
		return nil
	}
	r.countIdentities(recs)
	if err := r.sink.ConsumeRecords(ctx, local, recs); err != nil {
		m.dropped.WithLabelValues(reasonSinkError).Add(float64(len(recs)))
		return nil
	}
	m.processed.Add(float64(len(recs)))
	m.batchSeconds.Observe(r.now().Sub(arrived).Seconds())
	if r.spans != nil {
		r.spans.Offer(recs)
	}
	return nil
}

// waitMemory holds a stream while the heap is over memory_limit_mib, for at
// most a second: meanwhile the stream reads nothing, so gRPC flow control
// pushes back on the sender. If memory is still over the limit after it,
// processALS drops the message, counted.
func (r *alsReceiver) waitMemory(ctx context.Context) {
	for i := 0; i < 20 && r.overMem.Load(); i++ {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *alsReceiver) countIdentities(recs []accesslog.Record) {
	var src, dst [16]int
	for i := range recs {
		src[recs[i].SourceFrom&15]++
		dst[recs[i].DestinationFrom&15]++
	}
	for i := range r.metrics.identitySrc {
		if src[i] > 0 {
			r.metrics.identitySrc[i].Add(float64(src[i]))
		}
		if dst[i] > 0 {
			r.metrics.identityDst[i].Add(float64(dst[i]))
		}
	}
}

// rejectStream ends a stream whose message could not be used.
func (r *alsReceiver) rejectStream(service string, err error) error {
	reason := reasonMalformed
	switch {
	case errors.Is(err, accesslog.ErrNoIdentifier):
		reason = reasonNoIdentifier
	case errors.Is(err, accesslog.ErrBadIdentifier):
		reason = reasonBadIdent
	}
	r.metrics.messagesRejected.WithLabelValues(service, reason).Inc()
	r.metrics.streamsEnded.WithLabelValues(service, endRejected).Inc()
	return status.Error(codes.InvalidArgument, err.Error())
}

// rejectIdentity ends a stream whose node identity is not the workload of
// its client certificate.
func (r *alsReceiver) rejectIdentity(service string, why error) error {
	r.metrics.messagesRejected.WithLabelValues(service, reasonIdentityMismatch).Inc()
	r.metrics.streamsEnded.WithLabelValues(service, endRejected).Inc()
	return status.Error(codes.PermissionDenied, why.Error())
}

// endStream classifies the error that ended a stream's receive loop.
func (r *alsReceiver) endStream(service string, track *streamTrack, err error, ack func() error) error {
	m := r.metrics
	if why := track.endedBy(); why != endNone {
		// The guard ended it (guard.go); Envoy opens a new stream on its
		// next flush, whatever the status.
		m.streamsEnded.WithLabelValues(service, why.String()).Inc()
		return guardStatus(why, r.cfg)
	}
	if errors.Is(err, io.EOF) {
		m.streamsEnded.WithLabelValues(service, endClean).Inc()
		return ack()
	}
	switch status.Code(err) {
	case codes.ResourceExhausted:
		m.messagesRejected.WithLabelValues(service, reasonTooLarge).Inc()
		m.streamsEnded.WithLabelValues(service, endRejected).Inc()
		return status.Errorf(codes.ResourceExhausted,
			"message larger than max_recv_msg_size_mib (%d MiB): lower the Envoy buffer_size_bytes or raise the limit", r.cfg.GRPC.MaxRecvMsgSizeMiB)
	case codes.Internal:
		// The codec could not frame the message (e.g. bad compression).
		m.messagesRejected.WithLabelValues(service, reasonMalformed).Inc()
		m.streamsEnded.WithLabelValues(service, endRejected).Inc()
		return err
	}
	m.streamsEnded.WithLabelValues(service, endAborted).Inc()
	return err
}

// handleMetrics serves one StreamMetrics stream.
func (r *alsReceiver) handleMetrics(_ any, ss grpc.ServerStream) error {
	m := r.metrics
	release, err := r.admit(serviceMetrics)
	if err != nil {
		return err
	}
	defer release()
	msgs := m.messages.WithLabelValues(serviceMetrics)
	byts := m.bytes.WithLabelValues(serviceMetrics)
	track := trackOf(ss.Context())

	var (
		f     frame
		proxy *accesslog.Proxy
	)
	for {
		if err := ss.RecvMsg(&f); err != nil {
			f.release()
			return r.endStream(serviceMetrics, track, err, func() error { return ss.SendMsg(&metricsv3.StreamMetricsResponse{}) })
		}
		msgs.Inc()
		byts.Add(float64(f.n))
		err := r.metricsMessage(ss.Context(), &proxy, f.bytes())
		f.release()
		if err != nil {
			return err
		}
	}
}

// metricsMessage decodes one StreamMetrics message and hands its stats on;
// *proxy is the stream's node, set by its first message.
func (r *alsReceiver) metricsMessage(ctx context.Context, proxy **accesslog.Proxy, b []byte) error {
	m := r.metrics
	var msg metricsv3.StreamMetricsMessage
	if err := proto.Unmarshal(b, &msg); err != nil { // copies what it keeps
		return r.rejectStream(serviceMetrics, fmt.Errorf("%w: %w", accesslog.ErrMalformed, err))
	}
	if *proxy == nil {
		node := msg.GetIdentifier().GetNode()
		if node == nil {
			return r.rejectStream(serviceMetrics, accesslog.ErrNoIdentifier)
		}
		p := accesslog.NewProxy(node.GetId(), node.GetCluster(), node.GetMetadata())
		if r.cfg.BindSPIFFEIdentity && !peerWorkload(ctx).matches(p) {
			return r.rejectIdentity(serviceMetrics, identityMismatch(p))
		}
		// The node's labels go on every envoy_* series: bounded by
		// bytes as the access log's are.
		m.addTruncated(p.CutLabels(r.cfg.Normalizer.LabelLimit()), accesslog.Truncations{})
		*proxy = p
	}
	m.metricFamilies.Add(float64(len(msg.GetEnvoyMetrics())))
	if r.stats != nil {
		r.stats.ConsumeEnvoyStats(*proxy, msg.GetEnvoyMetrics(), r.now())
	}
	return nil
}

// guardStatus is what the handler of a stream the guard ended returns. The
// client has already been answered CANCELLED by gRPC (RecvMsg writes the
// status of the error it returns); Envoy ignores the status of a closed
// access log or metrics stream and opens a new one on its next flush.
func guardStatus(why endReason, cfg *Config) error {
	switch why {
	case endIdleTimeout:
		return status.Errorf(codes.Unavailable, "stream idle for stream_idle_timeout (%s)", cfg.StreamIdleTimeout)
	case endMessageTimeout:
		return status.Errorf(codes.DeadlineExceeded, "message not complete within message_timeout (%s)", cfg.MessageTimeout)
	case endReceiveBudget:
		return status.Error(codes.ResourceExhausted, "oldest unfinished message while over receive_budget_mib")
	default: // endIdleEvicted
		return status.Errorf(codes.ResourceExhausted, "idle longest at max_streams (%d): replaced by a new stream", cfg.MaxStreams)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func sumVec(v *prometheus.CounterVec) float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { v.Collect(ch); close(ch) }()
	total := 0.0
	for c := range ch {
		var m dto.Metric
		if err := c.Write(&m); err == nil {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}
