package accesslog

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// TestTruncationsByField: a value over MaxLabelLength is counted under the
// field it came from (the `label` of meshlens_label_values_truncated_total),
// and only there; the label it gives is cut to the bound, valid UTF-8.
func TestTruncationsByField(t *testing.T) {
	long := strings.Repeat("x", 3*DefaultMaxLabelLength)
	// 512 bytes whose every other byte is invalid UTF-8: each becomes a
	// 3-byte replacement character, so the value grows past the bound
	// after the cut.
	invalid := strings.Repeat("a\xff", DefaultMaxLabelLength/2)
	sidecar := "sidecar~10.0.0.9~a-1.ns~ns.svc.cluster.local"
	inbound := []byte("inbound|9080||")
	tests := []struct {
		name   string
		nodeID string
		meta   map[string]any
		entry  entry.Entry
		want   Truncations
		label  func(r *Record) string
	}{
		{
			name: "node id", nodeID: "router~10.0.0.9~" + long, want: Truncations{FieldNodeID: 1},
			label: func(r *Record) string { return r.NodeID },
		},
		{
			name: "node metadata", nodeID: sidecar, meta: map[string]any{"NAMESPACE": long},
			want:  Truncations{FieldNodeMetadata: 2}, // the namespace, and the local service's host built from it
			label: func(r *Record) string { return r.Source.Namespace },
		},
		{
			name: "upstream cluster", nodeID: sidecar, entry: entry.Entry{UpstreamCluster: []byte("outbound|80||" + long)},
			want:  Truncations{FieldUpstreamCluster: 2}, // the cluster, and the host parsed from it
			label: func(r *Record) string { return r.Service.Host },
		},
		{
			name: "authority", nodeID: sidecar, entry: entry.Entry{HasRequest: true, Authority: []byte(long)},
			want: Truncations{FieldAuthority: 1}, label: func(r *Record) string { return r.Service.Host },
		},
		{
			name: "authority, invalid UTF-8 grown past the bound", nodeID: sidecar, entry: entry.Entry{HasRequest: true, Authority: []byte(invalid)},
			want: Truncations{FieldAuthority: 1}, label: func(r *Record) string { return r.Service.Host },
		},
		{
			name: "authority, long and invalid UTF-8: counted once", nodeID: sidecar, entry: entry.Entry{HasRequest: true, Authority: []byte(invalid + invalid)},
			want: Truncations{FieldAuthority: 1}, label: func(r *Record) string { return r.Service.Host },
		},
		{
			name: "peer metadata", nodeID: sidecar,
			entry: entry.Entry{UpstreamCluster: []byte("outbound|80||b.ns.svc.cluster.local"), UpstreamPeer: &entry.Peer{Present: true, Workload: []byte(long)}},
			want:  Truncations{FieldPeerMetadata: 2}, // workload, and canonical service named after it
			label: func(r *Record) string { return r.Destination.Name },
		},
		{
			name: "peer principal", nodeID: sidecar, entry: entry.Entry{UpstreamCluster: inbound, PeerURISAN: []byte("spiffe://td/ns/" + long)},
			want:  Truncations{FieldPeerPrincipal: 2}, // the SAN, and the namespace parsed from it
			label: func(r *Record) string { return r.Source.Namespace },
		},
		{
			name: "local principal", nodeID: sidecar, entry: entry.Entry{UpstreamCluster: inbound, LocalURISAN: []byte("spiffe://" + long)},
			want: Truncations{FieldLocalPrincipal: 1}, label: func(r *Record) string { return r.Destination.Principal },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var md *structpb.Struct
			if tt.meta != nil {
				var err error
				md, err = structpb.NewStruct(tt.meta)
				require.NoError(t, err)
			}
			st := NewStream(Config{}, nil)
			st.SetProxy(NewProxy(tt.nodeID, "c", md))
			e := tt.entry
			e.HasCommon = true
			recs, _, err := st.Normalize([]entry.Entry{e}, nil, time.Unix(0, 0))
			require.NoError(t, err)
			require.Len(t, recs, 1)
			assert.Equal(t, tt.want, st.LabelsTruncated)
			assert.Equal(t, tt.want.Total(), st.LabelsTruncated.Total())
			v := tt.label(&recs[0])
			assert.LessOrEqual(t, len(v), DefaultMaxLabelLength)
			assert.Greater(t, len(v), DefaultMaxLabelLength-utf8.UTFMax, "cut at the bound, not before")
			assert.True(t, utf8.ValidString(v))
		})
	}
	for f := range NumLabelFields {
		assert.NotEqual(t, "invalid", f.String())
	}
}

// TestInternBytesBound: a stream's tables hold at most MaxInternedBytes of
// strings (interned values and cached peer encodings) whatever its entries
// carry, clearing and refilling as for MaxInterned, and each clearing is
// counted by the bound that caused it; the records are the same as with
// unbounded tables.
func TestInternBytesBound(t *testing.T) {
	long := func(i int) string { return strconv.Itoa(i) + strings.Repeat("v", 400) }
	tests := []struct {
		name  string
		cfg   Config
		entry func(i int) entry.Entry
		want  ResetReason
	}{
		{
			name: "long distinct clusters", cfg: Config{MaxInternedBytes: 8 << 10},
			entry: func(i int) entry.Entry {
				return entry.Entry{UpstreamCluster: []byte("outbound|80||" + long(i))}
			},
			want: ResetBytes,
		},
		{
			name: "long distinct authorities", cfg: Config{MaxInternedBytes: 8 << 10},
			entry: func(i int) entry.Entry { return entry.Entry{HasRequest: true, Authority: []byte(long(i))} },
			want:  ResetBytes,
		},
		{
			// Peer encodings are cache keys: counted in the bytes too.
			name: "distinct peers with large encodings", cfg: Config{MaxInternedBytes: 8 << 10},
			entry: func(i int) entry.Entry {
				raw := []byte(strconv.Itoa(i) + strings.Repeat("r", 3000))
				return entry.Entry{
					UpstreamCluster: []byte("outbound|80||b.ns.svc.cluster.local"),
					UpstreamPeer:    &entry.Peer{Present: true, Raw: raw, Workload: []byte("w" + strconv.Itoa(i%3))},
				}
			},
			want: NumResetReasons, // peers that do not fit are not cached: no reset at all
		},
		{
			name: "many short values", cfg: Config{MaxInterned: 50},
			entry: func(i int) entry.Entry {
				return entry.Entry{UpstreamCluster: []byte("outbound|80||s" + strconv.Itoa(i) + ".ns.svc.cluster.local")}
			},
			want: ResetStrings,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bounded := NewStream(tt.cfg, nil)
			free := NewStream(Config{MaxInterned: 1 << 30, MaxInternedBytes: 1 << 30}, nil)
			for _, st := range []*Stream{bounded, free} {
				st.SetProxy(NewProxy("sidecar~10.0.0.9~a-1.ns~ns.svc.cluster.local", "a.ns", nil))
			}
			limit := bounded.cfg.MaxInternedBytes
			for i := range 500 {
				e := tt.entry(i)
				e.HasCommon = true
				rb, _, err := bounded.Normalize([]entry.Entry{e}, nil, time.Unix(0, 0))
				require.NoError(t, err)
				rf, _, err := free.Normalize([]entry.Entry{e}, nil, time.Unix(0, 0))
				require.NoError(t, err)
				require.Equal(t, rf, rb, "entry %d: the same record as with unbounded tables", i)
				require.LessOrEqual(t, bounded.internBytes, limit)
				require.LessOrEqual(t, tableBytes(bounded), limit, "entry %d", i)
			}
			assert.Equal(t, tableBytes(bounded), bounded.internBytes, "the count is the tables' bytes")
			if tt.want != ResetStrings {
				assert.Greater(t, tableBytes(free), limit, "without the bound the tables hold more")
			}
			for r := range NumResetReasons {
				if r == tt.want {
					assert.Positive(t, bounded.InternResets[r], r.String())
				} else {
					assert.Zero(t, bounded.InternResets[r], r.String())
				}
			}
		})
	}
	// A peer whose encoding is longer than its eight labels at their longest
	// is never cached, whatever room the tables have.
	st := NewStream(Config{MaxInternedBytes: 1 << 30}, nil)
	st.SetProxy(NewProxy("sidecar~10.0.0.9~a-1.ns~ns.svc.cluster.local", "a.ns", nil))
	for _, n := range []int{8 * DefaultMaxLabelLength, 8*DefaultMaxLabelLength + 1} {
		e := entry.Entry{
			HasCommon: true, UpstreamCluster: []byte("outbound|80||b.ns.svc.cluster.local"),
			UpstreamPeer: &entry.Peer{Present: true, Raw: []byte(strings.Repeat("r", n)), Workload: []byte("w")},
		}
		_, _, err := st.Normalize([]entry.Entry{e}, nil, time.Unix(0, 0))
		require.NoError(t, err)
	}
	assert.Len(t, st.peers, 1, "the 4,096-byte encoding is cached, the 4,097-byte one is not")
	require.Error(t, (&Config{MaxInternedBytes: 100}).Validate(), "below 8 × max_label_length")
	require.Error(t, (&Config{MaxInternedBytes: -1}).Validate())
	require.NoError(t, (&Config{MaxInternedBytes: 4096}).Validate())
}

// tableBytes is the bytes of the strings a stream's tables hold, a valid
// interned value counted once (it is its own key).
func tableBytes(s *Stream) int {
	n := 0
	for k, v := range s.strs {
		n += len(v)
		if k != v {
			n += len(k)
		}
	}
	for k := range s.peers {
		n += len(k)
	}
	return n
}
