package spans

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
)

// FuzzBuild feeds arbitrary logged values (which come from the network)
// through naming, id derivation and span building: nothing may panic, names
// stay bounded, valid UTF-8, "…/*" and independent of the path, and the
// result must encode as OTLP protobuf (an invalid string would make the
// exporter drop the whole batch).
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
			RouteName: tracestate, ResponseDetails: reqID, LocalPort: uint32(dur),
		}
		r.Service.Host = string(authority)
		name := string(AppendName(nil, &r))
		if !utf8.ValidString(name) || len(name) > MaxNameLen || name == "" {
			t.Fatalf("bad name %q", name)
		}
		if len(name) < MaxNameLen-3 && !strings.HasSuffix(name, "/*") {
			t.Fatalf("name %q not cut, yet not ending in /*", name)
		}
		other := r
		other.Details.Path = append([]byte("/other?"), path...)
		if n := string(AppendName(nil, &other)); n != name {
			t.Fatalf("the path changed the name: %q, %q", name, n)
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

// FuzzMetrics compares Metrics with the reference implementation on
// records whose service hosts and clusters, authorities, local ports or
// paths come from the fuzzer (fields separated by ';'), with a small series
// budget, expiry and, when collide is set, every raw key hashing alike.
func FuzzMetrics(f *testing.F) {
	f.Add([]byte("cart;outbound|80||cart;cart;cart:80;cart;/a?x;;inbound|80||;unknown;outbound|81||x;c\xff;/\xfe;c\xfe;x:1"), uint8(3), true)
	f.Add([]byte("a;/b;a/;b;a;;;/;\xc3;\xa9;a;outbound_.80_._.a;a;inbound-vip|80|h|a"), uint8(1), false)
	f.Fuzz(func(t *testing.T, data []byte, budget uint8, collide bool) {
		fields := bytes.Split(data, []byte(";"))
		base := edgeRecords()[0]
		var recs []accesslog.Record
		for i := 0; i+1 < len(fields); i += 2 {
			r := base
			r.Service.Host = string(fields[i])
			c := byte(i/2) ^ byte(len(fields[i]))
			switch v := fields[i+1]; c >> 4 & 3 {
			case 0:
				r.Details.UpstreamCluster = v
			case 1:
				r.Details.UpstreamCluster, r.Details.Authority = nil, v
			case 2:
				r.Details.UpstreamCluster, r.Details.Authority, r.Details.LocalPort = nil, nil, uint32(len(v))*4099
			case 3:
				r.Details.Path = v
			}
			if c&1 != 0 {
				r.Reporter = accesslog.ReporterDestination
			}
			if c&2 != 0 {
				r.ResponseCode = 500
			}
			if c&4 != 0 {
				r.Details.Path = fields[i+1]
			}
			if c&8 != 0 {
				r.Source.CanonicalService = string(fields[i])
			}
			r.DurationNanos = int64(c) * 1e6
			recs = append(recs, r)
		}
		cfg := MetricsConfig{MaxSeries: 1 + int(budget%8), TTL: time.Minute}
		m, ref := NewMetrics(cfg), newRefMetrics(cfg)
		if collide {
			m.hashMask = 0
		}
		now := time.Unix(1000, 0)
		for step, half := range [][]accesslog.Record{recs[:len(recs)/2], recs, recs[len(recs)/2:], nil, recs} {
			m.Observe(half, now)
			ref.Observe(half, now)
			requireSameMetrics(t, ref, m, fmt.Sprint("step ", step))
			now = now.Add(40 * time.Second)
		}
	})
}
