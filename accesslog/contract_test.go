package accesslog

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog/entry"
	"github.com/meshlens/meshlens/accesslog/internal/wire"
	"github.com/meshlens/meshlens/loadgen"
)

// TestNormalizeIsTheIngestContract: a producer that decodes entries itself
// and hands them to Stream.SetProxy and Stream.Normalize (as an OTLP or
// file ingest path will) gets exactly the records Stream.Decode makes of
// the same ALS messages, for every stream of a generated mesh with HTTP,
// gRPC and TCP on both sides of each hop.
func TestNormalizeIsTheIngestContract(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 3000, TCPPeriodic: true})
	now := time.Unix(1_700_000_000, 0)
	conns := func() ConnTracker { return NewConnTable(1000, time.Minute) }
	total := 0
	for i := range tr.Streams {
		s := &tr.Streams[i]
		if s.Kind != loadgen.StreamHTTP && s.Kind != loadgen.StreamTCP {
			continue
		}
		viaDecode := NewStream(Config{}, conns())
		viaContract := NewStream(Config{}, conns())
		var m wire.Message
		for k, msg := range s.Messages {
			want, wantOut, err := viaDecode.Decode(msg, nil, now)
			require.NoError(t, err)

			require.NoError(t, wire.DecodeAccessLogs(msg, &m))
			if k == 0 {
				require.True(t, m.Identifier.Present, "stream %d: the first message names the proxy", i)
				p, err := parseIdentifier(&m.Identifier)
				require.NoError(t, err)
				viaContract.SetProxy(p)
			}
			got, gotOut, err := viaContract.Normalize(m.Entries, nil, now)
			require.NoError(t, err)
			require.Equal(t, wantOut, gotOut, "stream %d message %d", i, k)
			require.Equal(t, want, got, "stream %d message %d", i, k)
			total += len(got)
		}
	}
	assert.Greater(t, total, 1000, "records compared")
}

// TestNormalizeWithoutProxy: a batch before SetProxy is rejected whole,
// counted by reason, as an ALS stream without an identifier is.
func TestNormalizeWithoutProxy(t *testing.T) {
	st := NewStream(Config{}, nil)
	recs, out, err := st.Normalize(make([]entry.Entry, 3), nil, time.Unix(0, 0))
	require.ErrorIs(t, err, ErrNoIdentifier)
	assert.Empty(t, recs)
	assert.Equal(t, 3, out.Entries)
	assert.Equal(t, 3, out.Rejected[RejectNoIdentifier])

	st.SetProxy(NewProxy("sidecar~10.0.0.1~p.ns~ns.svc.cluster.local", "p.ns", nil))
	recs, out, err = st.Normalize([]entry.Entry{{HasCommon: true}, {}}, nil, time.Unix(0, 0))
	require.NoError(t, err)
	assert.Len(t, recs, 1)
	assert.Equal(t, 1, out.Processed)
	assert.Equal(t, 1, out.Rejected[RejectNoCommonProperties])
}

// TestLabelLengthBound: label values from a sender's fields (an upstream
// cluster, an authority) and from its node metadata are cut to
// MaxLabelLength at a UTF-8 boundary and counted; the intern table keeps
// only cut values, so a 1 MiB field costs at most MaxLabelLength bytes.
func TestLabelLengthBound(t *testing.T) {
	huge := func(prefix string, n int) string { return prefix + strings.Repeat("é", n/2) }
	md, err := structpb.NewStruct(map[string]any{"WORKLOAD_NAME": huge("w", 1<<20), "NAMESPACE": "ns"})
	require.NoError(t, err)
	st := NewStream(Config{}, nil)
	st.SetProxy(NewProxy("ingress", "envoy-proxy", md))
	assert.Equal(t, Truncations{FieldNodeMetadata: 2}, st.LabelsTruncated, "the workload name from node metadata, and the canonical service named after it")
	entries := []entry.Entry{
		{HasCommon: true, UpstreamCluster: []byte(huge("c", 1<<20))},
		{HasCommon: true, UpstreamCluster: []byte(huge("c", 1<<20) + "x")}, // same first 512 bytes
		{HasCommon: true, HasRequest: true, Authority: []byte(huge("a", 1<<20))},
	}
	recs, out, err := st.Normalize(entries, nil, time.Unix(0, 0))
	require.NoError(t, err)
	require.Equal(t, 3, out.Processed)
	for _, r := range recs {
		for _, v := range []string{r.Source.Name, r.Service.Host, r.Service.Name, r.Destination.CanonicalService} {
			assert.LessOrEqual(t, len(v), DefaultMaxLabelLength)
			assert.True(t, utf8.ValidString(v), "cut at a rune boundary")
		}
	}
	assert.Equal(t, recs[0].Service.Host, recs[1].Service.Host, "values equal up to the bound share one label")
	assert.Equal(t, Truncations{FieldNodeMetadata: 2, FieldUpstreamCluster: 2}, st.LabelsTruncated, "counted by the field each value came from")
	for k := range st.strs {
		assert.LessOrEqual(t, len(k), DefaultMaxLabelLength, "the intern table holds cut values only")
	}
	assert.Error(t, (&Config{MaxLabelLength: 10}).Validate())
}

// TestPlausibilityBounds: numbers no Envoy reports for one request are
// clamped to the bound and counted by field; plausible ones pass as they are.
func TestPlausibilityBounds(t *testing.T) {
	st := NewStream(Config{}, nil)
	st.SetProxy(NewProxy("sidecar~10.0.0.1~p-1.ns~ns.svc.cluster.local", "p.ns", nil))
	twoHundredYears := int64(200 * 365 * 24 * time.Hour) // int64 nanoseconds reach ~292 years
	entries := []entry.Entry{
		{HasCommon: true, HasDuration: true, Duration: int64(time.Hour), HasWireBytes: true, DownstreamWireBytesSent: 1 << 30},
		{HasCommon: true, HasDuration: true, Duration: twoHundredYears},
		{HasCommon: true, HasDuration: true, Duration: -5},
		{HasCommon: true, HasWireBytes: true, DownstreamWireBytesSent: 1<<64 - 1, DownstreamWireBytesReceived: 10},
		{HasCommon: true, TCP: true, AccessLogType: 3, TCPSentBytes: 1<<64 - 1},
		{HasCommon: true, HasRequest: true, ContentType: []byte("application/grpc"), HasGRPCStats: true, GRPCRequestMessages: 1 << 62},
	}
	recs, out, err := st.Normalize(entries, nil, time.Unix(1_700_000_000, 0))
	require.NoError(t, err)
	require.Equal(t, len(entries), out.Processed, "clamped entries are processed, not rejected")
	assert.Equal(t, int64(time.Hour), recs[0].DurationNanos, "plausible: unchanged")
	assert.Equal(t, uint64(1<<30), recs[0].ResponseBytes)
	assert.Equal(t, int64(MaxDuration), recs[1].DurationNanos)
	assert.Equal(t, int64(-1), recs[2].DurationNanos, "negative: as if not logged")
	assert.Equal(t, uint64(MaxBytes), recs[3].ResponseBytes)
	assert.Equal(t, uint64(10), recs[3].RequestBytes)
	assert.Equal(t, uint64(MaxBytes), recs[4].TCPSentBytes)
	assert.Equal(t, uint64(MaxMessages), recs[5].RequestMessages)
	assert.Equal(t, [NumClampFields]int{ClampDuration: 2, ClampBytes: 2, ClampMessages: 1}, st.Clamped)
}

// countingConns counts the TCP connection updates a stream makes.
type countingConns struct{ n int }

func (c *countingConns) Track(ConnKey, uint64, uint64, bool, time.Time) (uint64, uint64, bool) {
	c.n++
	return 0, 0, true
}

// TestAcceptProxyRefusesBeforeNormalizing: an identity AcceptProxy refuses
// rejects the message before any entry is normalised — its TCP entries
// update no connection of the shared table — and leaves the stream
// without a proxy; an accepted one is normalised as usual.
func TestAcceptProxyRefusesBeforeNormalizing(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 2000, TCPPeriodic: true})
	var first []byte
	for _, s := range tr.Streams {
		if s.Kind == loadgen.StreamTCP && len(s.Messages) > 0 {
			first = s.Messages[0]
			break
		}
	}
	require.NotNil(t, first)
	now := time.Unix(1_700_000_000, 0)
	for _, refuse := range []bool{true, false} {
		conns := &countingConns{}
		st := NewStream(Config{}, conns)
		var asked *Proxy
		st.AcceptProxy = func(p *Proxy) error {
			asked = p
			if refuse {
				return errors.New("not yours")
			}
			return nil
		}
		recs, out, err := st.Decode(first, nil, now)
		require.NotNil(t, asked, "asked about the identifier's proxy")
		assert.Positive(t, out.Entries)
		if refuse {
			require.ErrorIs(t, err, ErrProxyRefused)
			assert.Empty(t, recs)
			assert.Zero(t, conns.n, "no connection tracked for a refused identity")
			assert.Nil(t, st.Proxy())
		} else {
			require.NoError(t, err)
			assert.Len(t, recs, out.Entries)
			assert.Positive(t, conns.n)
			assert.Same(t, asked, st.Proxy())
		}
	}
}
