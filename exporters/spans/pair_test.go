package spans

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

// The gateway's and productpage's reports of one real request carry no trace
// header, only the same x-request-id: the synthetic path must still join
// them into one client→server pair.
func TestRealGatewayToProductpagePair(t *testing.T) {
	client := captureRecords(t, "envoy-ingress.json")
	server := captureRecords(t, "envoy-ingress2sidecar.json")
	require.Len(t, client, 1)
	require.Len(t, server, 1)
	require.False(t, client[0].Trace.Valid(), "the captures log no trace context")

	// Built by two independent builders, as two meshlens replicas would.
	c := views(buildAll(keepAll(), client))
	s := views(buildAll(keepAll(), server))
	require.Len(t, c, 1)
	require.Len(t, s, 1)

	wantTrace, err := hex.DecodeString("0ac1feff84ae4d3a8b15890da2b194c5") // x-request-id 0ac1feff-84ae-…
	require.NoError(t, err)
	assert.Equal(t, wantTrace, c[0].TraceID[:])
	assert.Equal(t, c[0].TraceID, s[0].TraceID)
	assert.Equal(t, ptrace.SpanKindClient, c[0].Kind)
	assert.Equal(t, ptrace.SpanKindServer, s[0].Kind)
	assert.Equal(t, c[0].SpanID, s[0].ParentID, "server span is the child of the client span")
	assert.NotEqual(t, c[0].SpanID, s[0].SpanID)
	assert.Equal(t, [8]byte{}, c[0].ParentID, "a synthetic trace starts at the gateway")
	assert.Equal(t, "istio-ingressgateway", c[0].Service)
	assert.Equal(t, "product", s[0].Service)
	assert.Equal(t, "productpage.default.svc.cluster.local:9080/*", c[0].Name)
	assert.Equal(t, c[0].Name, s[0].Name, "both reports of the hop name it alike")
	assert.Equal(t, "/productpage", c[0].Attrs[AttrURLPath])
	for _, v := range []spanView{c[0], s[0]} {
		assert.Equal(t, true, v.Attrs[AttrSynthetic])
		assert.Equal(t, "request_id", v.Attrs[AttrTraceFormat])
		assert.Equal(t, "0ac1feff-84ae-4d3a-8b15-890da2b194c5", v.Attrs[AttrRequestID])
		assert.False(t, v.Error)
	}

	// Synthetic trace ids off: no trace context means no span.
	off := keepAll()
	off.SyntheticTraceIDs = false
	assert.Equal(t, 0, buildAll(off, client).SpanCount())
}

// Generated Bookinfo traffic logs, like Envoy with tracing on, the client
// sidecar's span (and, in B3, its parent) on the client entry and the server
// sidecar's span with the client's as parent on the server entry (see
// loadgen's doc). Every hop must become one linked pair in the logged trace.
func TestGeneratedPairs(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 2000, StreamsPerProxy: 2, UntracedShare: 0.1})
	recs := trafficRecords(t, tr)

	type hop struct{ client, server *spanView }
	byRequest := map[string]*hop{}
	logged := map[string]accesslog.TraceContext{}
	all := views(buildAll(keepAll(), recs))
	for i := range recs {
		if recs[i].Reporter == accesslog.ReporterSource {
			logged[string(recs[i].Details.RequestID)] = recs[i].Trace
		}
	}
	for i := range all {
		v := &all[i]
		id := v.Attrs[AttrRequestID].(string)
		h := byRequest[id]
		if h == nil {
			h = &hop{}
			byRequest[id] = h
		}
		if v.Kind == ptrace.SpanKindClient {
			h.client = v
		} else {
			h.server = v
		}
	}
	formats := map[string]int{}
	seen := map[[8]byte]bool{}
	pairs := 0
	for id, h := range byRequest {
		if h.client == nil || h.server == nil {
			continue // calls to hosts outside the mesh have one side only
		}
		pairs++
		lc := logged[id]
		assert.Equal(t, h.client.TraceID, h.server.TraceID, id)
		assert.Equal(t, h.client.SpanID, h.server.ParentID, id)
		assert.NotEqual(t, h.client.SpanID, h.server.SpanID, id)
		for _, s := range []*spanView{h.client, h.server} {
			assert.False(t, seen[s.SpanID], "span ids are unique")
			seen[s.SpanID] = true
		}
		f := h.client.Attrs[AttrTraceFormat].(string)
		formats[f]++
		if f == "request_id" {
			assert.False(t, lc.Valid())
			assert.Equal(t, [8]byte{}, h.client.ParentID)
			continue
		}
		assert.Equal(t, lc.TraceID, h.client.TraceID, "the logged trace is kept")
		assert.Equal(t, lc.SpanID, h.client.ParentID, "the client span hangs under the logged span")
		assert.Equal(t, hex.EncodeToString(lc.SpanID[:]), h.client.Attrs[AttrLoggedSpanID])
		if f == "b3multi" {
			assert.Equal(t, hex.EncodeToString(lc.SpanID[:]), h.server.Attrs[AttrLoggedParentID],
				"B3 logs the client's span as the server's parent")
		}
	}
	assert.Greater(t, pairs, 1500)
	assert.Positive(t, formats["w3c"])
	assert.Positive(t, formats["b3multi"])
	assert.Positive(t, formats["request_id"])

	// A second replica decoding the same traffic builds identical ids.
	again := views(buildAll(keepAll(), trafficRecords(t, tr)))
	require.Len(t, again, len(all))
	for i := range all {
		assert.Equal(t, all[i].SpanID, again[i].SpanID)
		assert.Equal(t, all[i].ParentID, again[i].ParentID)
	}
}

// rec builds a record of one side of a hop by hand.
func rec(rep accesslog.Reporter, tc accesslog.TraceContext, reqID, serverAddr string, port uint32) accesslog.Record {
	r := accesslog.Record{
		Kind: accesslog.KindHTTP, Reporter: rep, Protocol: accesslog.ProtocolHTTP, Final: true,
		ResponseCode: 200, GRPCStatus: -1, Trace: tc,
	}
	r.Details.RequestID = []byte(reqID)
	if rep == accesslog.ReporterSource {
		r.Details.PeerAddress, r.Details.PeerPort = []byte(serverAddr), port
	} else {
		r.Details.LocalAddress, r.Details.LocalPort = []byte(serverAddr), port
	}
	return r
}

func TestSpanIDRules(t *testing.T) {
	tid := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	w3c := func(span byte) accesslog.TraceContext {
		return accesslog.TraceContext{Format: accesslog.TraceW3C, TraceID: tid, SpanID: [8]byte{span}}
	}
	b3 := func(span, parent byte) accesslog.TraceContext {
		return accesslog.TraceContext{Format: accesslog.TraceB3Multi, TraceID: tid, SpanID: [8]byte{span}, ParentSpanID: [8]byte{parent}}
	}
	tests := []struct {
		name           string
		client, server accesslog.TraceContext
		wantParent     [8]byte // of the client span
	}{
		{"tracing on, W3C: each proxy logs its own span", w3c(0xc1), w3c(0x51), [8]byte{0xc1}},
		{"tracing on, B3: the server logs the client's span as parent", b3(0xc1, 0xa0), b3(0x51, 0xc1), [8]byte{0xc1}},
		{"tracing off: both log the calling application's span", w3c(0xa1), w3c(0xa1), [8]byte{0xa1}},
		{"tracing off, B3", b3(0xa1, 0xa0), b3(0xa1, 0xa0), [8]byte{0xa1}},
		{"no trace context", accesslog.TraceContext{}, accesslog.TraceContext{}, [8]byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := rec(accesslog.ReporterSource, tt.client, "req-1", "10.0.0.7", 9080)
			s := rec(accesslog.ReporterDestination, tt.server, "req-1", "10.0.0.7", 9080)
			ct, ok := TraceOf(&c, true)
			require.True(t, ok)
			st, ok := TraceOf(&s, true)
			require.True(t, ok)
			require.Equal(t, ct, st)
			cs, cp := SpanIDs(&c, &ct.ID)
			ss, sp := SpanIDs(&s, &st.ID)
			assert.Equal(t, cs, sp, "server parent = client span")
			assert.NotEqual(t, cs, ss)
			assert.Equal(t, tt.wantParent, cp)
			assert.NotEqual(t, [8]byte{}, cs)
			assert.NotEqual(t, [8]byte{}, ss)

			// Another hop of the same request (x-request-id is propagated)
			// to another server gets other ids.
			c2 := rec(accesslog.ReporterSource, tt.client, "req-1", "10.0.0.8", 9080)
			cs2, _ := SpanIDs(&c2, &ct.ID)
			assert.NotEqual(t, cs, cs2)
			// A waypoint is a server.
			s.Reporter = accesslog.ReporterWaypoint
			ws, wp := SpanIDs(&s, &st.ID)
			assert.Equal(t, ss, ws)
			assert.Equal(t, cs, wp)
		})
	}
}

func TestSyntheticTraceID(t *testing.T) {
	tests := []struct {
		in   string
		want string // hex, or "" for "hashed"
	}{
		{"0ac1feff-84ae-4d3a-8b15-890da2b194c5", "0ac1feff84ae4d3a8b15890da2b194c5"},
		{"0AC1FEFF84AE4D3A8B15890DA2B194C5", "0ac1feff84ae4d3a8b15890da2b194c5"},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"0ac1feff-84ae-4d3a-8b15-890da2b194cz", ""},
		{"req-1", ""},
		{"0ac1feff+84ae-4d3a-8b15-890da2b194c5", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			id := SyntheticTraceID([]byte(tt.in))
			assert.NotEqual(t, [16]byte{}, id)
			assert.Equal(t, id, SyntheticTraceID([]byte(tt.in)), "deterministic")
			if tt.want != "" {
				assert.Equal(t, tt.want, hex.EncodeToString(id[:]))
			} else {
				assert.NotEqual(t, tt.in, hex.EncodeToString(id[:]))
			}
		})
	}
	assert.NotEqual(t, SyntheticTraceID([]byte("a")), SyntheticTraceID([]byte("b")))
}
