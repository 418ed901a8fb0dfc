package istiometrics

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshlens/meshlens/exporters/internal/otelconv"
)

// OTelReader reads the Istio series as OpenTelemetry metrics, for a
// collector metrics pipeline: the same names, label names and values, and
// bucket bounds as WriteText's exposition, counters as cumulative monotonic
// Sums and the three histograms as cumulative explicit-bucket Histograms.
// Labels with an empty value are left out, as Prometheus leaves them out of
// a scraped series. Start times are those of otelconv.Starts: a series'
// start is at or before its first record, and a series that expired and
// came back starts again.
//
// A reader is used by one goroutine at a time. It is read-only: it takes
// the locks WriteText takes, in the same pattern (list a shard's series
// under its lock, then copy their values a chunk at a time, each under the
// lock), and builds the pdata after releasing it, so ingest waits at most
// for the copy of one chunk. It is called on an interval, never per record.
type OTelReader struct {
	a         *Aggregator
	httpStart *otelconv.Starts[*httpSeries]
	tcpStart  *otelconv.Starts[*tcpSeries]

	httpList []otelListed
	tcpList  []otelTCPListed
	rows     []otelHTTPRow
	tcpRows  []otelTCPRow
	counts   []uint64
	attrs    otelconv.Attrs
}

// otelListed is a series listed under its shard's lock, with the metrics
// the overrides leave on for it and whether it has gRPC message counters.
type otelListed struct {
	s    *httpSeries
	on   uint16 // bit m: metric m is enabled for the series (Aggregator.enabled)
	grpc bool
}

// otelChunk is how many series a reader copies under one lock hold.
const otelChunk = 256

type otelHTTPRow struct {
	s                 *httpSeries
	block             []byte
	on                uint16
	grpc              bool
	requests          uint64
	reqMsgs, respMsgs uint64
	dur, reqB, respB  otelHist
}

type otelHist struct {
	at    int // in counts
	count uint64
	sum   float64
}

type otelTCPListed struct {
	s  *tcpSeries
	on uint16
}

type otelTCPRow struct {
	s                              *tcpSeries
	on                             uint16
	block                          []byte
	opened, closed, sent, received uint64
}

// NewOTelReader returns a reader of a whose first read's series start at
// start.
func (a *Aggregator) NewOTelReader(start time.Time) *OTelReader {
	return &OTelReader{
		a:         a,
		httpStart: otelconv.NewStarts[*httpSeries](start),
		tcpStart:  otelconv.NewStarts[*tcpSeries](start),
	}
}

// Read emits every Istio series as of now to emit, in batches of at most
// batch data points (a histogram is one point). It returns emit's first
// error, at once. A series expired meanwhile is left out; one created
// meanwhile is in the next read.
func (r *OTelReader) Read(now time.Time, batch int, emit func(pmetric.MetricSlice) error) error {
	ts := pcommon.NewTimestampFromTime(now)
	b := &otelconv.Batch{Emit: emit, Max: batch}
	for i := range r.a.shards {
		err := r.readHTTP(&r.a.shards[i], ts, b)
		if err == nil {
			err = r.readTCP(&r.a.shards[i], ts, b)
		}
		if err != nil {
			// The series not emitted still exist: keep their start times,
			// and forget those of the series gone, as a read that succeeds
			// does, so that a long outage of the consumer holds no
			// expired series.
			r.seenFrom(i)
			r.httpStart.End(ts)
			r.tcpStart.End(ts)
			return err
		}
	}
	r.httpStart.End(ts)
	r.tcpStart.End(ts)
	return b.Flush()
}

// seenFrom marks every live series of shards from on as seen by this read.
func (r *OTelReader) seenFrom(from int) {
	for i := from; i < len(r.a.shards); i++ {
		sh := &r.a.shards[i]
		sh.mu.Lock()
		for _, s := range sh.http {
			r.httpStart.Of(s)
		}
		for _, s := range sh.tcp {
			r.tcpStart.Of(s)
		}
		sh.mu.Unlock()
	}
}

func (r *OTelReader) readHTTP(sh *lockedShard, ts pcommon.Timestamp, b *otelconv.Batch) error {
	sh.mu.Lock()
	r.httpList = r.httpList[:0]
	for k, s := range sh.http {
		on := r.a.enabledBits(&k, mRequestCount, mGRPCResponseMessages)
		if on == 0 {
			continue
		}
		if s.block == nil {
			s.block = r.a.labelBlock(&k, false)
		}
		r.httpList = append(r.httpList, otelListed{s: s, on: on, grpc: grpcSeries(&k, s)})
	}
	sh.mu.Unlock()
	list := r.httpList
	for j := 0; j < len(list); {
		r.rows, r.counts = r.rows[:0], r.counts[:0]
		sh.mu.Lock()
		for end := min(j+otelChunk, len(list)); j < end; j++ {
			s := list[j].s
			if s.dead {
				continue
			}
			row := otelHTTPRow{
				s: s, block: s.block, on: list[j].on, grpc: list[j].grpc, requests: s.requests, reqMsgs: s.reqMsgs, respMsgs: s.respMsgs,
			}
			row.dur, r.counts = copyHist(r.counts, &s.duration)
			row.reqB, r.counts = copyHist(r.counts, &s.reqBytes)
			row.respB, r.counts = copyHist(r.counts, &s.respBytes)
			r.rows = append(r.rows, row)
		}
		sh.mu.Unlock()
		for i := range r.rows {
			if err := r.emitHTTP(&r.rows[i], ts, b); err != nil {
				return err
			}
		}
	}
	clear(r.httpList[:cap(r.httpList)]) // let expired series go
	return nil
}

func copyHist(dst []uint64, h *hist) (otelHist, []uint64) {
	at := len(dst)
	return otelHist{at: at, count: h.count, sum: h.sum}, append(dst, h.counts...)
}

// emitHTTP adds the points of one HTTP series, skipping what WriteText
// skips: a metric the overrides disabled, every family but the gRPC
// message counters of a series without a request, the duration of one
// without a duration, the message counters of a series without them.
func (r *OTelReader) emitHTTP(row *otelHTTPRow, ts pcommon.Timestamp, b *otelconv.Batch) error {
	if row.requests == 0 && !row.grpc {
		return nil
	}
	r.attrs.Reset()
	r.attrs.AddBlock(row.block)
	start := r.httpStart.Of(row.s)
	n := 0
	on := func(m metric) bool { return row.on&(1<<m) != 0 }
	counter := func(m metric, v uint64) {
		name := metricNames[m]
		otelconv.Counter(b.Metric(name, help[name], otelconv.KindCounter), &r.attrs, start, ts, float64(v))
		n++
	}
	hist := func(m metric, h otelHist, bounds []float64) {
		name := metricNames[m]
		counts := r.counts[h.at : h.at+len(bounds)+1]
		otelconv.Histogram(b.Metric(name, help[name], otelconv.KindHistogram), &r.attrs, start, ts, bounds, counts, h.count, h.sum)
		n++
	}
	if row.requests > 0 {
		if on(mRequestCount) {
			counter(mRequestCount, row.requests)
		}
		if on(mRequestDuration) && row.dur.count > 0 {
			hist(mRequestDuration, row.dur, r.a.cfg.DurationBuckets)
		}
		if on(mRequestSize) {
			hist(mRequestSize, row.reqB, r.a.reqBuckets)
		}
		if on(mResponseSize) {
			hist(mResponseSize, row.respB, r.a.respBuckets)
		}
	}
	if row.grpc {
		if on(mGRPCRequestMessages) {
			counter(mGRPCRequestMessages, row.reqMsgs)
		}
		if on(mGRPCResponseMessages) {
			counter(mGRPCResponseMessages, row.respMsgs)
		}
	}
	return b.Added(n)
}

func (r *OTelReader) readTCP(sh *lockedShard, ts pcommon.Timestamp, b *otelconv.Batch) error {
	sh.mu.Lock()
	r.tcpList = r.tcpList[:0]
	for k, s := range sh.tcp {
		on := r.a.enabledBits(&k, mTCPOpened, mTCPReceived)
		if on == 0 {
			continue
		}
		if s.block == nil {
			s.block = r.a.labelBlock(&k, true)
		}
		r.tcpList = append(r.tcpList, otelTCPListed{s: s, on: on})
	}
	sh.mu.Unlock()
	for j := 0; j < len(r.tcpList); {
		r.tcpRows = r.tcpRows[:0]
		sh.mu.Lock()
		for end := min(j+otelChunk, len(r.tcpList)); j < end; j++ {
			if l := r.tcpList[j]; !l.s.dead {
				s := l.s
				r.tcpRows = append(r.tcpRows, otelTCPRow{s: s, on: l.on, block: s.block, opened: s.opened, closed: s.closed, sent: s.sent, received: s.received})
			}
		}
		sh.mu.Unlock()
		for i := range r.tcpRows {
			row := &r.tcpRows[i]
			r.attrs.Reset()
			r.attrs.AddBlock(row.block)
			start := r.tcpStart.Of(row.s)
			n := 0
			for _, f := range [...]struct {
				m metric
				v uint64
			}{{mTCPOpened, row.opened}, {mTCPClosed, row.closed}, {mTCPSent, row.sent}, {mTCPReceived, row.received}} {
				if row.on&(1<<f.m) != 0 {
					name := metricNames[f.m]
					otelconv.Counter(b.Metric(name, help[name], otelconv.KindCounter), &r.attrs, start, ts, float64(f.v))
					n++
				}
			}
			if err := b.Added(n); err != nil {
				return err
			}
		}
	}
	clear(r.tcpList[:cap(r.tcpList)])
	return nil
}
