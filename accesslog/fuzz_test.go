package accesslog

import (
	"testing"
	"time"
	"unicode/utf8"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/proto"
)

// FuzzStreamDecode feeds arbitrary messages to a stream, after a real
// identifier and as the stream's first message: the normaliser must never
// panic, must account for every entry it reports, and every record it
// returns must carry valid label values.
func FuzzStreamDecode(f *testing.F) {
	var ident []byte
	for _, s := range realSamples(f) {
		f.Add(s.msg)
		if ident == nil {
			var m alsv3.StreamAccessLogsMessage
			if err := proto.Unmarshal(s.msg, &m); err == nil && m.GetIdentifier() != nil {
				ident, _ = proto.Marshal(&alsv3.StreamAccessLogsMessage{Identifier: m.GetIdentifier()})
			}
		}
	}
	f.Add([]byte{0x0a, 0x06, 0x0a, 0x04, 0x1a, 0x02, 0x0a, 0x05})
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, first := range [][]byte{nil, ident} {
			st := NewStream(Config{MaxInterned: 64}, NewConnTable(16, time.Minute))
			if first != nil {
				if _, _, err := st.Decode(first, nil, now); err != nil {
					t.Fatalf("identifier rejected: %v", err)
				}
			}
			recs, out, err := st.Decode(msg, nil, now)
			if err == nil && out.Entries != out.Processed+out.RejectedTotal() {
				t.Fatalf("entries %d != processed %d + rejected %d", out.Entries, out.Processed, out.RejectedTotal())
			}
			if out.Processed != len(recs) {
				t.Fatalf("processed %d, records %d", out.Processed, len(recs))
			}
			for i := range recs {
				r := &recs[i]
				_ = r.Flags.String()
				_ = r.ResponseCodeLabel()
				_ = r.GRPCStatusLabel()
				if r.Reporter == 0 || r.Protocol == 0 {
					t.Fatalf("record without reporter or protocol: %+v", r)
				}
				for _, v := range []string{r.Source.Name, r.Destination.Name, r.Service.Host, r.Service.Name} {
					if !validLabel(v) {
						t.Fatalf("invalid label value %q", v)
					}
				}
			}
		}
	})
}

func validLabel(s string) bool { return utf8.ValidString(s) }
