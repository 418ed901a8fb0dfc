package spans

import (
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
)

// FuzzBuild feeds arbitrary logged values (which come from the network)
// through naming, id derivation and span building: nothing may panic, names
// stay bounded and valid UTF-8, and the result must encode as OTLP protobuf
// (an invalid string would make the exporter drop the whole batch).
func FuzzBuild(f *testing.F) {
	f.Add([]byte("cart.shop:8080"), []byte("/cart/42?x=1"), []byte("0ac1feff-84ae-4d3a-8b15-890da2b194c5"), []byte("rojo=00f067aa0ba902b7"), []byte("10.0.0.9"), uint8(1), uint8(0), int64(1e6))
	f.Add([]byte("[::1]:9080"), []byte("/pkg.Svc/Method"), []byte("req"), []byte{}, []byte("::1"), uint8(2), uint8(1), int64(-1))
	f.Add([]byte("\xff:99999"), []byte("\xc3"), []byte{}, []byte("\xff"), []byte{0}, uint8(3), uint8(2), int64(0))
	f.Fuzz(func(t *testing.T, authority, path, reqID, tracestate, addr []byte, reporter, format uint8, dur int64) {
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Final: true, Reporter: accesslog.Reporter(reporter%3 + 1),
			Protocol: accesslog.Protocol(format%2 + 1), GRPCStatus: int32(format) - 1, ResponseCode: uint32(reporter) * 3,
			DurationNanos: dur, StartUnixNano: 1,
		}
		if format%3 == 0 {
			r.Trace = accesslog.TraceContext{Format: accesslog.TraceW3C, TraceID: [16]byte{15: format | 1}, SpanID: [8]byte{reporter}}
		}
		r.Details = accesslog.Details{
			Authority: authority, Path: path, RequestID: reqID, Tracestate: tracestate,
			PeerAddress: addr, LocalAddress: addr, Scheme: path, UserAgent: authority, UpstreamCluster: addr,
			RouteName: tracestate, ResponseDetails: reqID,
		}
		name := string(AppendName(nil, &r))
		if !utf8.ValidString(name) || len(name) > MaxNameLen || name == "" {
			t.Fatalf("bad name %q", name)
		}
		s := NewSampler(Config{SamplingRate: 1, SyntheticTraceIDs: true})
		d, tr := s.Decide(&r)
		if !d.Kept() {
			if r.Trace.Valid() || len(reqID) > 0 {
				t.Fatalf("decision %s for a record with a trace", d)
			}
			return
		}
		b := NewBuilder()
		b.Append(&r, tr, d)
		pb, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(b.Take())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(pb); err != nil {
			t.Fatal(err)
		}
		m := NewMetrics(MetricsConfig{MaxSeries: 2, TTL: time.Minute})
		m.Observe([]accesslog.Record{r}, time.Unix(0, 0))
		m.Range(func(s *Series) {
			if s.Name != name && s.Name != OverflowLabel {
				t.Fatalf("series name %q, span name %q", s.Name, name)
			}
		})
	})
}
