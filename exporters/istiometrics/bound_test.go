package istiometrics

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
)

// longRecord is a record of the family (tcp or HTTP) whose destination
// workload and service are long, distinct per i and full of characters the
// exposition escapes.
func longRecord(i int, tcp bool) accesslog.Record {
	w := accesslog.Workload{Name: "a", Namespace: "ns", CanonicalService: "a", CanonicalRevision: "v1", App: "a", Version: "v1", Cluster: "c", Principal: "unknown"}
	d := w
	d.Name = fmt.Sprint(i) + strings.Repeat(`w"\`, 130)
	r := accesslog.Record{
		Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterSource, Protocol: accesslog.ProtocolHTTP,
		Source: w, Destination: d, Service: accesslog.Service{Host: d.Name, Name: d.Name, Namespace: "ns"},
		ResponseCode: 200, GRPCStatus: -1, Final: true, DurationNanos: int64(time.Millisecond),
	}
	if tcp {
		r.Kind, r.Protocol, r.ResponseCode, r.Final, r.TCPOpened, r.TCPSentBytes = accesslog.KindTCP, accesslog.ProtocolTCP, 0, false, true, 10
	}
	return r
}

// heldLabelBytes sums labelBytes over the budgeted series of a family.
func heldLabelBytes(a *Aggregator, tcp bool) (n int64, series int) {
	for i := range a.shards[:numShards] {
		sh := &a.shards[i]
		sh.mu.Lock()
		if tcp {
			for k := range sh.tcp {
				n += labelBytes(&k)
				series++
			}
		} else {
			for k := range sh.http {
				n += labelBytes(&k)
				series++
			}
		}
		sh.mu.Unlock()
	}
	return n, series
}

// TestLabelBytesBudget: with a low max_label_bytes, many distinct long
// label values are bounded (the family's label-set bytes never exceed the
// budget, while max_series is far away), every record is still counted (the
// overflow series take what the budget refuses), the exposition stays under
// ExpositionBound, and expired series give their bytes back.
func TestLabelBytesBudget(t *testing.T) {
	const budget, n = 32 << 10, 2000
	for _, tcp := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "tcp"}[tcp], func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxLabelBytes = budget
			cfg.SeriesTTL = time.Minute
			a := New(cfg)
			local := new(accesslog.StreamLocal)
			var recs []accesslog.Record
			for i := range n {
				recs = append(recs, longRecord(i, tcp))
			}
			for i := 0; i < n; i += 100 {
				a.ConsumeRecords(recs[i:i+100], local, now)
			}
			st := a.Stats()
			series, held, over := st.HTTPSeries, st.HTTPBytes, st.OverflowHTTP
			if tcp {
				series, held, over = st.TCPSeries, st.TCPBytes, st.OverflowTCP
			}
			assert.LessOrEqual(t, held, int64(budget), "label-set bytes within max_label_bytes")
			assert.Greater(t, held, int64(budget)*3/4, "the budget is used")
			assert.Less(t, series, int64(n/10), "far below max_series: the bytes bound")
			hb, hs := heldLabelBytes(a, tcp)
			assert.Equal(t, held, hb, "the count is the held series' label bytes")
			assert.Equal(t, series, int64(hs))
			assert.Equal(t, uint64(n)-uint64(series), over, "every record over the budget is counted")

			var body bytes.Buffer
			require.NoError(t, a.WriteText(&body, FormatOpenMetrics))
			fams := parseText(t, body.Bytes(), FormatOpenMetrics)
			name := RequestsTotal
			if tcp {
				name = TCPConnectionsOpened
			}
			total, overflowSeries := 0.0, 0
			for _, m := range fams[name].GetMetric() {
				total += m.GetCounter().GetValue()
				if label(m, "source_workload") == overflow {
					overflowSeries++
				}
			}
			assert.InDelta(t, n, total, 0, "no record is lost to the budget")
			assert.Equal(t, 1, overflowSeries)
			bound := cfg.ExpositionBound(tcp, int(series)+overflowSeries, held)
			assert.LessOrEqual(t, int64(body.Len()), bound)
			t.Logf("%d series, %d label bytes: exposition %d bytes, bound %d", series, held, body.Len(), bound)

			// Expired series give their bytes back; label sets the stream
			// remembers as overflowed get series again.
			assert.Positive(t, a.Expire(now.Add(2*time.Minute)))
			st = a.Stats()
			assert.Zero(t, st.HTTPBytes+st.TCPBytes)
			assert.Zero(t, st.HTTPSeries+st.TCPSeries)
			a.ConsumeRecords(recs[n-10:], local, now.Add(3*time.Minute))
			st = a.Stats()
			assert.Equal(t, int64(10), st.HTTPSeries+st.TCPSeries)
			hb, _ = heldLabelBytes(a, tcp)
			assert.Equal(t, hb, st.HTTPBytes+st.TCPBytes)
		})
	}
}

// TestExpositionBound: the bound holds for the longest lines a family can
// write: label values at the label length bound, every one escaped, the
// longest codes and flags, the largest values, exemplars, both formats.
func TestExpositionBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NativeHistograms.Enabled = true
	// The durations below span 51 powers of two: 204 buckets of schema 2.
	cfg.NativeHistograms.MaxBuckets = 210
	a := New(cfg)
	long := strings.Repeat(`\"`, accesslog.DefaultMaxLabelLength/2)
	w := accesslog.Workload{Name: long, Namespace: long, CanonicalService: long, CanonicalRevision: long, App: long, Version: long, Cluster: long, Principal: long}
	var recs []accesslog.Record
	for i, tcp := range []bool{false, true, false, true} {
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterDestination, Protocol: accesslog.ProtocolGRPC, Security: accesslog.SecurityMutualTLS,
			Source: w, Destination: w, Service: accesslog.Service{Host: long + fmt.Sprint(i), Name: long, Namespace: long},
			ResponseCode: math.MaxUint32, GRPCStatus: math.MaxInt32, Flags: accesslog.ResponseFlags(math.MaxUint32), Final: true,
			DurationNanos: int64(accesslog.MaxDuration), RequestBytes: accesslog.MaxBytes, ResponseBytes: accesslog.MaxBytes,
			RequestMessages: accesslog.MaxMessages, ResponseMessages: accesslog.MaxMessages,
		}
		r.Trace.TraceID, r.Trace.SpanID = [16]byte{1}, [8]byte{1}
		if tcp {
			r.Kind, r.Protocol, r.TCPOpened, r.TCPClosed, r.TCPSentBytes, r.TCPReceivedBytes = accesslog.KindTCP, accesslog.ProtocolTCP, true, true, accesslog.MaxBytes, accesslog.MaxBytes
		}
		recs = append(recs, r)
		if !tcp {
			// Durations and sizes over the whole range: native histograms
			// of max_buckets buckets each.
			for d := 1.0; d < float64(accesslog.MaxDuration); d *= 1.01 {
				r.DurationNanos, r.RequestBytes, r.ResponseBytes = int64(d), uint64(d), uint64(d)
				recs = append(recs, r)
			}
		}
	}
	a.ConsumeRecords(recs, nil, now)
	st := a.Stats()
	var pb bytes.Buffer
	require.NoError(t, a.WriteProtobuf(&pb))
	_, fams := readProtobuf(t, pb.Bytes())
	spans := 0
	for _, m := range fams[RequestDuration].GetMetric() {
		spans += len(m.GetHistogram().GetPositiveDelta())
	}
	assert.GreaterOrEqual(t, spans, 2*cfg.NativeHistograms.MaxBuckets*9/10, "the native histograms are nearly full")
	tcpAt := bytes.Index(pb.Bytes(), []byte(TCPConnectionsOpened)) - 2 // the message's length prefix and tag
	assert.LessOrEqual(t, int64(tcpAt), cfg.ProtobufExpositionBound(false, int(st.HTTPSeries), st.HTTPBytes))
	assert.LessOrEqual(t, int64(pb.Len()-tcpAt), cfg.ProtobufExpositionBound(true, int(st.TCPSeries), st.TCPBytes))
	t.Logf("protobuf: HTTP %d bytes (bound %d), TCP %d (bound %d)", tcpAt, cfg.ProtobufExpositionBound(false, int(st.HTTPSeries), st.HTTPBytes),
		pb.Len()-tcpAt, cfg.ProtobufExpositionBound(true, int(st.TCPSeries), st.TCPBytes))
	for _, f := range []Format{FormatText, FormatOpenMetrics} {
		var body bytes.Buffer
		require.NoError(t, a.WriteText(&body, f))
		http, tcp, _ := strings.Cut(body.String(), "# HELP "+strings.TrimSuffix(TCPConnectionsOpened, "_total"))
		assert.LessOrEqual(t, int64(len(http)), cfg.ExpositionBound(false, int(st.HTTPSeries), st.HTTPBytes))
		assert.LessOrEqual(t, int64(len(tcp)), cfg.ExpositionBound(true, int(st.TCPSeries), st.TCPBytes))
	}
	for _, tcp := range []bool{false, true} {
		t.Logf("tcp=%v: %d lines a label set, %d fixed bytes a line, %d header bytes; with the budgets spent: %d bytes",
			tcp, cfg.LinesPerLabelSet(tcp), cfg.FixedLineBytes(tcp), cfg.HeaderBytes(tcp), cfg.MaxExpositionBytes(tcp))
	}
}
