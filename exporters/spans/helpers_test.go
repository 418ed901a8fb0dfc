package spans

import (
	"os"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/internal/captures"
	"github.com/meshlens/meshlens/loadgen"
)

// captureRecords decodes one real capture. The records' Details alias the
// returned message bytes, which the caller keeps alive.
func captureRecords(t testing.TB, name string) []accesslog.Record {
	t.Helper()
	b, err := os.ReadFile(captures.Dir(t, "als", "skywalking", "clean-json", name))
	require.NoError(t, err)
	var m alsv3.StreamAccessLogsMessage
	require.NoError(t, protojson.Unmarshal(b, &m))
	msg, err := proto.Marshal(&m)
	require.NoError(t, err)
	recs, _, err := accesslog.NewStream(accesslog.Config{}, nil).Decode(msg, nil, time.Unix(0, 0))
	require.NoError(t, err)
	return recs
}

// trafficRecords decodes every HTTP stream of generated traffic, one
// accesslog.Stream per generated stream, as the receiver would.
func trafficRecords(t testing.TB, tr *loadgen.Traffic) []accesslog.Record {
	t.Helper()
	var out []accesslog.Record
	for i := range tr.Streams {
		s := &tr.Streams[i]
		if s.Kind != loadgen.StreamHTTP {
			continue
		}
		st := accesslog.NewStream(accesslog.Config{}, nil)
		for _, m := range s.Messages {
			var err error
			out, _, err = st.Decode(m, out, time.Unix(0, 0))
			require.NoError(t, err)
		}
	}
	return out
}

// spanView is what the pair tests look at.
type spanView struct {
	Service  string
	Kind     ptrace.SpanKind
	Name     string
	TraceID  [16]byte
	SpanID   [8]byte
	ParentID [8]byte
	Attrs    map[string]any
	Error    bool
}

func views(td ptrace.Traces) []spanView {
	var out []spanView
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		svc, _ := rs.Resource().Attributes().Get("service.name")
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			ss := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				s := ss.At(k)
				out = append(out, spanView{
					Service: svc.Str(), Kind: s.Kind(), Name: s.Name(),
					TraceID: s.TraceID(), SpanID: s.SpanID(), ParentID: s.ParentSpanID(),
					Attrs: s.Attributes().AsRaw(), Error: s.Status().Code() == ptrace.StatusCodeError,
				})
			}
		}
	}
	return out
}

// buildAll samples recs with cfg and builds the kept ones.
func buildAll(cfg Config, recs []accesslog.Record) ptrace.Traces {
	s := NewSampler(cfg)
	b := NewBuilder()
	for i := range recs {
		if d, tr := s.Decide(&recs[i]); d.Kept() {
			b.Append(&recs[i], tr, d)
		}
	}
	return b.Take()
}

func keepAll() Config {
	c := DefaultConfig()
	c.SamplingRate = 1
	return c
}
