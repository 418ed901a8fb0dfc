package istiometrics

import (
	"errors"
	"slices"
	"strings"

	"github.com/meshlens/meshlens/exporters/remotewrite"
)

// ErrRemoteWriteLabels is returned by NewRemoteWriteReader when another
// reader of the Aggregator was made with other external labels: the
// series keep one encoding of their labels.
var ErrRemoteWriteLabels = errors.New("the Istio series already encode other remote-write external labels")

// RemoteWriteReader reads the Istio series as Prometheus remote write 1.0
// time series (package remotewrite): the same names, labels (le written as
// the text exposition writes it) and values as WriteText, plus the
// reader's external labels. Each series' labels are encoded once, at its
// first push, sorted, and kept with the series beside its text label block
// (remotewrite.Labels: the bytes of its labels as protobuf fields, about
// the size of the text block); a push copies them and appends the name,
// le, value and timestamp of each sample.
//
// With native histograms on (metrics::native_histograms::enabled) the
// three histograms are sent as native histograms only, as a Prometheus with
// native histograms on stores them when it scrapes: five series a label
// set (a counter, three histograms and, for gRPC, two more counters)
// instead of ~67.
//
// Locks are WriteText's: for each shard it lists the series under the
// shard's lock, then encodes them under the lock until the pending request
// reaches the Batch's MaxBytes, and hands the request on after releasing
// it (Batch.FlushIfFull): a slow remote never holds a lock. A reader is
// used by one goroutine at a time, on an interval, never per record.
type RemoteWriteReader struct {
	a        *Aggregator
	external []remotewrite.Label
	native   bool
	names    [numMetrics]rwNames
	le       [3][]remotewrite.LE // the three histograms' le labels, +Inf last

	list    []otelListed
	tcpList []otelTCPListed
	scratch []remotewrite.Label
	hist    remotewrite.Histogram
	msg     []byte
}

type rwNames struct {
	name, bucket, sum, count remotewrite.Name
}

// NewRemoteWriteReader returns a reader whose series carry the external
// labels (names distinct and none of the Istio labels', __name__ or le;
// empty values are left out). Every reader of an Aggregator must have the
// same external labels: the series keep one encoding (else
// ErrRemoteWriteLabels).
func (a *Aggregator) NewRemoteWriteReader(external []remotewrite.Label) (*RemoteWriteReader, error) {
	ext := slices.Clone(external)
	slices.SortFunc(ext, func(x, y remotewrite.Label) int { return strings.Compare(x.Name, y.Name) })
	var key strings.Builder
	for _, l := range ext {
		key.WriteString(l.Name + "\x00" + l.Value + "\x00")
	}
	k := key.String()
	if !a.rwExternal.CompareAndSwap(nil, &k) && *a.rwExternal.Load() != k {
		return nil, ErrRemoteWriteLabels
	}
	r := &RemoteWriteReader{a: a, external: ext, native: a.nativeMax > 0}
	for m := range numMetrics {
		n := metricNames[m]
		r.names[m] = rwNames{
			name: remotewrite.NewName(n), bucket: remotewrite.NewName(n + "_bucket"),
			sum: remotewrite.NewName(n + "_sum"), count: remotewrite.NewName(n + "_count"),
		}
	}
	for i, bounds := range [3][]float64{a.cfg.DurationBuckets, a.reqBuckets, a.respBuckets} {
		for _, b := range bounds {
			r.le[i] = append(r.le[i], remotewrite.NewLE(string(appendFloat(nil, b))))
		}
		r.le[i] = append(r.le[i], remotewrite.NewLE("+Inf"))
	}
	return r, nil
}

// Read appends every Istio series as of ts (milliseconds since the epoch)
// to b, handing full requests to b.Emit on the way; it returns Emit's
// first error, at once. It does not flush the last request: the caller
// does, after the other readers of the push. A series expired meanwhile is
// left out; one created meanwhile is in the next push.
func (r *RemoteWriteReader) Read(ts int64, b *remotewrite.Batch) error {
	for i := range r.a.shards {
		if err := r.readHTTP(&r.a.shards[i], ts, b); err != nil {
			return err
		}
		if err := r.readTCP(&r.a.shards[i], ts, b); err != nil {
			return err
		}
	}
	return nil
}

// labels encodes the remote-write labels of the series of k.
func (r *RemoteWriteReader) labels(k *labels, tcp bool) remotewrite.Labels {
	r.scratch = r.scratch[:0]
	k.each(tcp, func(name, value string) { r.scratch = append(r.scratch, remotewrite.Label{Name: name, Value: value}) })
	r.scratch = append(r.scratch, r.external...)
	return remotewrite.EncodeLabels(r.scratch)
}

func (r *RemoteWriteReader) readHTTP(sh *lockedShard, ts int64, b *remotewrite.Batch) error {
	sh.mu.Lock()
	r.list = r.list[:0]
	for k, s := range sh.http {
		on := r.a.enabledBits(&k, mRequestCount, mGRPCResponseMessages)
		if on == 0 {
			continue
		}
		if s.rw.IsZero() {
			s.rw = r.labels(&k, false)
		}
		r.list = append(r.list, otelListed{s: s, on: on, grpc: grpcSeries(&k, s)})
	}
	sh.mu.Unlock()
	for j := 0; j < len(r.list); {
		// The shard's lock is held for ChunkBytes of request at most, as
		// the exposition holds it: ingest on the shard waits that long.
		sh.mu.Lock()
		for held := b.Len(); j < len(r.list) && !b.Full() && b.Len()-held < ChunkBytes; j++ {
			if l := &r.list[j]; !l.s.dead {
				r.http(l, ts, b)
			}
		}
		sh.mu.Unlock()
		if err := b.FlushIfFull(); err != nil {
			clear(r.list[:cap(r.list)])
			return err
		}
	}
	clear(r.list[:cap(r.list)]) // let expired series go
	return nil
}

// http appends the series of one HTTP label set, skipping what WriteText
// skips (as OTelReader.emitHTTP); its shard is locked.
func (r *RemoteWriteReader) http(l *otelListed, ts int64, b *remotewrite.Batch) {
	s := l.s
	if s.requests == 0 && !l.grpc {
		return
	}
	on := func(m metric) bool { return l.on&(1<<m) != 0 }
	if s.requests > 0 {
		if on(mRequestCount) {
			b.Sample(&s.rw, r.names[mRequestCount].name, nil, float64(s.requests), ts)
		}
		if on(mRequestDuration) && s.duration.count > 0 {
			r.histogram(s, mRequestDuration, &s.duration, 0, ts, b)
		}
		if on(mRequestSize) {
			r.histogram(s, mRequestSize, &s.reqBytes, 1, ts, b)
		}
		if on(mResponseSize) {
			r.histogram(s, mResponseSize, &s.respBytes, 2, ts, b)
		}
	}
	if l.grpc {
		if on(mGRPCRequestMessages) {
			b.Sample(&s.rw, r.names[mGRPCRequestMessages].name, nil, float64(s.reqMsgs), ts)
		}
		if on(mGRPCResponseMessages) {
			b.Sample(&s.rw, r.names[mGRPCResponseMessages].name, nil, float64(s.respMsgs), ts)
		}
	}
}

// histogram appends histogram m of s: its native histogram when native
// histograms are on, else its classic buckets, _sum and _count.
func (r *RemoteWriteReader) histogram(s *httpSeries, m metric, h *hist, i int, ts int64, b *remotewrite.Batch) {
	names := &r.names[m]
	if n := nativeOf(s, m); r.native && n != nil {
		r.hist = remotewrite.Histogram{
			Count: h.count, Sum: h.sum, Schema: n.schema, ZeroThreshold: nativeZeroThreshold, ZeroCount: n.zero,
			Spans: r.hist.Spans[:0], Deltas: r.hist.Deltas[:0],
		}
		r.nativeBuckets(n)
		r.msg = remotewrite.AppendHistogramMessage(r.msg[:0], &r.hist, ts)
		b.Histogram(&s.rw, names.name, r.msg)
		return
	}
	var cum uint64
	for j, c := range h.counts {
		cum += c
		b.Sample(&s.rw, names.bucket, r.le[i][j], float64(cum), ts)
	}
	b.Sample(&s.rw, names.sum, nil, h.sum, ts)
	b.Sample(&s.rw, names.count, nil, float64(h.count), ts)
}

// nativeBuckets sets r.hist's spans and deltas from n's buckets in one
// pass: nhist.spans's runs of populated buckets (the spans the protobuf
// exposition writes), each count as the difference to the one before.
func (r *RemoteWriteReader) nativeBuckets(n *nhist) {
	spans, deltas := r.hist.Spans, r.hist.Deltas
	prev, end := int64(0), int32(0) // the last count, the index after the last span
	inRun := false
	for i, c := range n.counts {
		if c == 0 {
			inRun = false
			continue
		}
		idx := n.lo + int32(i) //nolint:gosec // len <= max_buckets
		if !inRun {
			spans = append(spans, remotewrite.Span{Offset: idx - end})
			inRun = true
		}
		spans[len(spans)-1].Length++
		end = idx + 1
		deltas = remotewrite.AppendDelta(deltas, int64(c)-prev) //nolint:gosec // counts < 2^63
		prev = int64(c)                                         //nolint:gosec // as above
	}
	r.hist.Spans, r.hist.Deltas = spans, deltas
}

func (r *RemoteWriteReader) readTCP(sh *lockedShard, ts int64, b *remotewrite.Batch) error {
	sh.mu.Lock()
	r.tcpList = r.tcpList[:0]
	for k, s := range sh.tcp {
		on := r.a.enabledBits(&k, mTCPOpened, mTCPReceived)
		if on == 0 {
			continue
		}
		if s.rw.IsZero() {
			s.rw = r.labels(&k, true)
		}
		r.tcpList = append(r.tcpList, otelTCPListed{s: s, on: on})
	}
	sh.mu.Unlock()
	for j := 0; j < len(r.tcpList); {
		sh.mu.Lock()
		for held := b.Len(); j < len(r.tcpList) && !b.Full() && b.Len()-held < ChunkBytes; j++ {
			l := r.tcpList[j]
			if l.s.dead {
				continue
			}
			s := l.s
			for _, f := range [...]struct {
				m metric
				v uint64
			}{{mTCPOpened, s.opened}, {mTCPClosed, s.closed}, {mTCPSent, s.sent}, {mTCPReceived, s.received}} {
				if l.on&(1<<f.m) != 0 {
					b.Sample(&s.rw, r.names[f.m].name, nil, float64(f.v), ts)
				}
			}
		}
		sh.mu.Unlock()
		if err := b.FlushIfFull(); err != nil {
			clear(r.tcpList[:cap(r.tcpList)])
			return err
		}
	}
	clear(r.tcpList[:cap(r.tcpList)])
	return nil
}
