package accesslog

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func hopRecord(reporter Reporter, id string) Record {
	r := Record{Kind: KindHTTP, Reporter: reporter}
	r.Details.RequestID = []byte(id)
	if reporter == ReporterSource {
		r.Details.PeerAddress, r.Details.PeerPort = []byte("10.0.0.2"), 9080
		r.Source = Workload{Name: "client"}
		r.Destination = Workload{Name: unknown}
		r.SourceFrom = FromNodeMetadata
	} else {
		r.Details.LocalAddress, r.Details.LocalPort = []byte("10.0.0.2"), 9080
		r.Destination = Workload{Name: "server"}
		r.Source = Workload{Name: unknown}
		r.SourceFrom = FromNone
	}
	return r
}

func TestJoinerBoundsAndExpiry(t *testing.T) {
	j := NewJoiner(2, time.Minute)
	for i := range 3 {
		r := hopRecord(ReporterSource, fmt.Sprint(i))
		j.Observe(&r, testNow)
	}
	assert.Equal(t, 2, j.Len(), "the ring holds at most max hops")
	assert.Equal(t, uint64(1), j.Overflow, "the oldest was evicted before its TTL")
	// Hop 0 was evicted: its server side does not join; hop 2 does.
	s0, s2 := hopRecord(ReporterDestination, "0"), hopRecord(ReporterDestination, "2")
	_, ok := j.Observe(&s0, testNow)
	assert.False(t, ok)
	_, ok = j.Observe(&s2, testNow)
	assert.True(t, ok)
	assert.Equal(t, "client", s2.Source.Name)
	assert.Equal(t, FromJoin, s2.SourceFrom)
	// s0 took the slot of hop 1 (evicted too); it expires after the TTL.
	assert.Equal(t, uint64(2), j.Overflow)
	assert.Equal(t, 1, j.Expire(testNow.Add(2*time.Minute)))
	assert.Equal(t, 0, j.Len())
	// A side past its TTL does not join.
	c := hopRecord(ReporterSource, "late")
	j.Observe(&c, testNow)
	s := hopRecord(ReporterDestination, "late")
	_, ok = j.Observe(&s, testNow.Add(2*time.Minute))
	assert.False(t, ok)
	// Disabled.
	off := NewJoiner(0, time.Minute)
	_, ok = off.Observe(&c, testNow)
	assert.False(t, ok)
}

func BenchmarkJoiner(b *testing.B) {
	j := NewJoiner(100_000, time.Minute)
	ids := make([][]byte, 4096)
	for i := range ids {
		ids[i] = []byte(fmt.Sprintf("7b1c6f0e-1111-4222-8333-%012d", i))
	}
	c, s := hopRecord(ReporterSource, ""), hopRecord(ReporterDestination, "")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Details.RequestID, s.Details.RequestID = ids[i&4095], ids[i&4095]
		j.Observe(&c, testNow)
		s.SourceFrom = FromNone
		j.Observe(&s, testNow)
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/record")
}

func TestNeedsJoin(t *testing.T) {
	for _, tt := range []struct {
		r    Record
		want bool
	}{
		{Record{Reporter: ReporterSource, DestinationFrom: FromPeerMetadata}, false},
		{Record{Reporter: ReporterSource, DestinationFrom: FromClusterName}, true},
		{Record{Reporter: ReporterDestination, SourceFrom: FromPeerMetadata}, false},
		{Record{Reporter: ReporterDestination, SourceFrom: FromNone}, true},
		{Record{Reporter: ReporterDestination, SourceFrom: FromSAN}, true},
		{Record{Reporter: ReporterWaypoint}, false},
	} {
		assert.Equal(t, tt.want, NeedsJoin(&tt.r), "%+v", tt.r)
	}
}
