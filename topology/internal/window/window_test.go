package window

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var layout = NewLayout([]time.Duration{time.Minute, 10 * time.Minute}, 6)

const t0 = int64(1_800_000_000) * 1e9 // a multiple of every slot width

func ok200() Sample {
	return Sample{Kind: Kind{Code: 200}, CountKind: true, Request: true, DurNanos: int64(10 * time.Millisecond), BytesIn: 10, BytesOut: 100}
}

func TestSpan(t *testing.T) {
	tests := []struct {
		d       time.Duration
		at      time.Duration // after a boundary of every slot
		w, n    int
		covered float64
		ok      bool
	}{
		{time.Second, 3500 * time.Millisecond, 0, 1, 3.5, true},
		{10 * time.Second, 3500 * time.Millisecond, 0, 2, 13.5, true},
		{10 * time.Second, 0, 0, 2, 10, true},
		{11 * time.Second, 3500 * time.Millisecond, 0, 2, 13.5, true},
		{time.Minute, 3500 * time.Millisecond, 0, 6, 53.5, true}, // the ring holds no more
		{61 * time.Second, 3500 * time.Millisecond, 1, 2, 103.5, true},
		// Just after a boundary, a span of 60–100 s reaches back a slot
		// instead of covering a few milliseconds.
		{90 * time.Second, time.Millisecond, 1, 2, 100.001, true},
		{5 * time.Minute, 3500 * time.Millisecond, 1, 4, 303.5, true},
		{5 * time.Minute, 70 * time.Second, 1, 4, 370, true},
		{10 * time.Minute, 3500 * time.Millisecond, 1, 6, 503.5, true},
		{11 * time.Minute, 0, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.d.String()+"@"+tt.at.String(), func(t *testing.T) {
			now := t0 + int64(tt.at)
			w, n, ok := layout.Span(tt.d, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.w, w)
			assert.Equal(t, tt.n, n)
			if ok {
				assert.InDelta(t, tt.covered, layout.Covered(w, n, now), 1e-9)
			}
		})
	}
	assert.InDelta(t, 50.0, layout.Covered(0, 6, t0), 1e-9)
	assert.InDelta(t, 500.0, layout.Covered(1, 6, t0), 1e-9)
}

func TestAddSum(t *testing.T) {
	v := NewView(layout)
	s := ok200()
	for i := range 12 { // one request every 10s for two minutes
		v.Add(layout, t0+int64(i)*10e9, &s)
	}
	now := t0 + 115e9
	var one, ten Agg
	v.Sum(layout, 0, 6, now, "h", &one)
	v.Sum(layout, 1, 6, now, "h", &ten)
	assert.InDelta(t, 6.0, one.Requests, 1e-9, "the last six 10s slots")
	assert.InDelta(t, 12.0, ten.Requests, 1e-9)
	assert.InDelta(t, 6.0, one.Samples(), 1e-9)
	assert.InDelta(t, 60.0, one.BytesIn, 1e-9)
	require.Len(t, one.Kinds, 1)
	assert.Equal(t, "h", one.Kinds[0].Host)
	q, ok := one.Quantile(0.99)
	require.True(t, ok)
	assert.InDelta(t, 10.0, q, 1e-9, "identical durations: exact")
	assert.True(t, v.LastActive(layout, now))
	assert.False(t, v.LastActive(layout, now+11*60e9))

	// Slots are reused: after a quiet period, old counts are gone.
	v.Add(layout, now+20*60e9, &s)
	var later Agg
	v.Sum(layout, 1, 6, now+20*60e9, "h", &later)
	assert.InDelta(t, 1.0, later.Requests, 1e-9)
}

func TestKindRecycling(t *testing.T) {
	v := NewView(layout)
	for code := range Code(MaxKinds) {
		s := Sample{Kind: Kind{Code: 200 + code}, CountKind: true, Request: true, DurNanos: -1}
		assert.False(t, v.Add(layout, t0, &s))
	}
	// Eleven minutes later every kind is dead: a new one reuses a slot.
	s := Sample{Kind: Kind{Code: 500, Err: true}, CountKind: true, Request: true, DurNanos: -1}
	assert.False(t, v.Add(layout, t0+11*60e9, &s))
	var a Agg
	v.Sum(layout, 1, 6, t0+11*60e9, "", &a)
	require.Len(t, a.Kinds, 1)
	assert.Equal(t, Code(500), a.Kinds[0].Kind.Code)
}

func TestCountOnce(t *testing.T) {
	uf := accesslog.FlagUpstreamConnectionFailure
	mk := func(req float64, kinds ...KindCount) Agg {
		a := Agg{Requests: req, Kinds: kinds}
		return a
	}
	okK := func(n float64) KindCount { return KindCount{Kind: Kind{Code: 200}, Count: n} }
	ufK := func(n float64) KindCount { return KindCount{Kind: Kind{Code: 503, Err: true, Flags: uf}, Count: n} }
	utK := func(n float64) KindCount {
		return KindCount{Kind: Kind{Code: 504, Err: true, Flags: 1 << 3 /* UT */}, Count: n}
	}
	app503 := func(n float64) KindCount { return KindCount{Kind: Kind{Code: 503, Err: true}, Count: n} }
	tests := []struct {
		name                   string
		client, server         Agg
		requests, only         float64
		errs, proxy            float64
		ok200, uf503, ut, a503 float64 // the merged count per kind
	}{
		{name: "client only", client: mk(5, okK(5)), requests: 5, ok200: 5},
		{name: "server only", server: mk(4, okK(4)), requests: 4, ok200: 4},
		{name: "both", client: mk(4, okK(4)), server: mk(4, okK(4)), requests: 4, ok200: 4},
		{
			name: "a kind only the client reported", client: mk(6, okK(4), ufK(2)), server: mk(4, okK(4)),
			requests: 6, only: 2, errs: 2, proxy: 2, ok200: 4, uf503: 2,
		},
		{
			// The client's count of a kind both sides reported is the
			// server's, even when the server saw more (retries) or fewer
			// (reports not yet arrived) of it.
			name: "the server's count of a shared kind", client: mk(6, okK(4), ufK(2)), server: mk(5, okK(5)),
			requests: 7, only: 2, errs: 2, proxy: 2, ok200: 5, uf503: 2,
		},
		{
			name: "both reported the failure", client: mk(4, okK(2), ufK(2)), server: mk(5, okK(4), ufK(1)),
			requests: 5, errs: 1, proxy: 1, ok200: 4, uf503: 1,
		},
		{
			// A client timeout of a request the server answered later: two
			// kinds of one hop, both counted (Kiali counts both series).
			name: "client timeout the server answered", client: mk(3, okK(2), utK(1)), server: mk(3, okK(3)),
			requests: 4, only: 1, errs: 1, proxy: 1, ok200: 3, ut: 1,
		},
		{
			name: "application errors of both sides", client: mk(3, okK(2), app503(1)), server: mk(3, okK(2), app503(1)),
			requests: 3, errs: 1, ok200: 2, a503: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Agg
			only := CountOnce(&m, &tt.client, &tt.server)
			assert.InDelta(t, tt.only, only, 1e-9)
			assert.InDelta(t, tt.requests, m.Requests, 1e-9)
			assert.InDelta(t, tt.requests, m.KindTotal(), 1e-9, "kinds add up to the requests")
			errs, proxy := m.Errors()
			assert.InDelta(t, tt.errs, errs, 1e-9)
			assert.InDelta(t, tt.proxy, proxy, 1e-9)
			byKind := map[Kind]float64{}
			for _, k := range m.Kinds {
				byKind[k.Kind] += k.Count
			}
			assert.InDelta(t, tt.ok200, byKind[okK(0).Kind], 1e-9)
			assert.InDelta(t, tt.uf503, byKind[ufK(0).Kind], 1e-9)
			assert.InDelta(t, tt.ut, byKind[utK(0).Kind], 1e-9)
			assert.InDelta(t, tt.a503, byKind[app503(0).Kind], 1e-9)
		})
	}
}

// TestCountOnceTCP: for TCP the kinds are closed connections; the client's
// connection failures the server never saw add closed connections, bytes
// and opened connections stay the server's.
func TestCountOnceTCP(t *testing.T) {
	ufK := KindCount{Kind: Kind{Code: NoResponse, Err: true, Flags: accesslog.FlagUpstreamConnectionFailure}, Count: 2}
	okK := KindCount{Kind: Kind{Code: NoResponse}, Count: 3}
	client := Agg{Opened: 5, Closed: 5, BytesIn: 700, Kinds: []KindCount{okK, ufK}}
	server := Agg{Opened: 3, Closed: 3, BytesIn: 600, Kinds: []KindCount{okK}}
	var m Agg
	assert.InDelta(t, 2, CountOnce(&m, &client, &server), 1e-9)
	assert.InDelta(t, 3, m.Opened, 1e-9)
	assert.InDelta(t, 5, m.Closed, 1e-9)
	assert.InDelta(t, 600, m.BytesIn, 1e-9)
	assert.Zero(t, m.Requests)
	errs, proxy := m.Errors()
	assert.InDelta(t, 2, errs, 1e-9)
	assert.InDelta(t, 2, proxy, 1e-9)
}

func TestCodes(t *testing.T) {
	tests := []struct {
		name  string
		rec   accesslog.Record
		code  string
		class Class
	}{
		{"http 200", accesslog.Record{Protocol: accesslog.ProtocolHTTP, ResponseCode: 200}, "200", ClassOK},
		{"no response", accesslog.Record{Protocol: accesslog.ProtocolHTTP}, "-", ClassNoResponse},
		{"http 302", accesslog.Record{Protocol: accesslog.ProtocolHTTP, ResponseCode: 302}, "302", Class3xx},
		{"grpc ok", accesslog.Record{Protocol: accesslog.ProtocolGRPC, ResponseCode: 200}, "0", ClassOK},
		{"grpc unavailable", accesslog.Record{Protocol: accesslog.ProtocolGRPC, ResponseCode: 200, GRPCStatus: 14}, "14", ClassGRPCErr},
		{"grpc over an http 503", accesslog.Record{Protocol: accesslog.ProtocolGRPC, ResponseCode: 503, GRPCStatus: 14}, "503", Class5xx},
		{"grpc without status", accesslog.Record{Protocol: accesslog.ProtocolGRPC, ResponseCode: 200, GRPCStatus: -1}, "-", ClassOK},
		{"tcp", accesslog.Record{Kind: accesslog.KindTCP, Protocol: accesslog.ProtocolTCP}, "-", ClassNoResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := CodeOf(&tt.rec)
			assert.Equal(t, tt.code, c.String())
			assert.Equal(t, tt.class, c.Class())
		})
	}
}

// TestLateSample checks that a sample older than a reused slot does not
// erase the newer data.
func TestLateSample(t *testing.T) {
	v := NewView(layout)
	s := ok200()
	v.Add(layout, t0+60e9, &s) // slot 6 of the 1m ring reuses slot 0's place
	v.Add(layout, t0, &s)      // late: its slot was reused
	var a Agg
	v.Sum(layout, 0, 6, t0+60e9, "", &a)
	assert.InDelta(t, 2.0, a.Requests, 1e-9)
}
