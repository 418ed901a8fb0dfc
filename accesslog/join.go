package accesslog

import "time"

// HopSide is what the Joiner keeps of the first-seen side of a request hop:
// what the other side may lack. Its strings are interned label values.
type HopSide struct {
	Reporter    Reporter
	Source      Workload
	Destination Workload
	Service     Service
	seen        int64
}

// Joiner recognises the two reports of one request hop: the client-side
// (source) record and the server-side (destination) record share Envoy's
// x-request-id and the server's address (the client's upstream remote
// address is the server's downstream local address). x-request-id alone is
// not enough: Istio propagates it across every hop of a request.
//
// Joiner is pure and bounded: pending hops live in an insertion-ordered ring
// of at most max slots (allocated as it fills), indexed by key, so that
// inserting, joining and expiring are O(1) and the steady state allocates
// nothing. When the ring is full the oldest pending hop is evicted. It is
// not safe for concurrent use.
type Joiner struct {
	max   int
	ttl   int64
	ring  []joinSlot
	head  int // next slot to write once the ring is full
	index map[uint64]int32
	// Joined counts hops seen from both sides; Overflow counts pending hops
	// evicted before their TTL because the ring was full; Expired counts
	// hops seen from one side only until their TTL passed.
	Joined, Overflow, Expired uint64
}

type joinSlot struct {
	key  uint64
	used bool
	side HopSide
}

// NewJoiner returns a Joiner.
func NewJoiner(maxPending int, ttl time.Duration) *Joiner {
	return &Joiner{max: maxPending, ttl: int64(ttl), index: make(map[uint64]int32)}
}

// NeedsJoin reports whether joining can add anything to a record or to the
// other report of its hop. Istio's metadata exchange is symmetric: when the
// client's report names its callee from peer metadata, the server's report
// names its caller the same way, and neither needs the other. Only reports
// without a peer object (old proxies, exchange off, connection failures)
// take part, which keeps the join off the hot path of a healthy mesh.
func NeedsJoin(r *Record) bool {
	switch r.Reporter {
	case ReporterSource:
		return r.DestinationFrom != FromPeerMetadata
	case ReporterDestination:
		return r.SourceFrom != FromPeerMetadata
	}
	return false
}

// HopKey returns the join key of a record and whether it has one.
func HopKey(r *Record) (uint64, bool) {
	d := &r.Details
	if len(d.RequestID) == 0 || r.Kind != KindHTTP || (r.Reporter != ReporterSource && r.Reporter != ReporterDestination) {
		return 0, false
	}
	var addr []byte
	var port uint32
	if r.Reporter == ReporterSource {
		addr, port = d.PeerAddress, d.PeerPort
	} else {
		addr, port = d.LocalAddress, d.LocalPort
	}
	if len(addr) == 0 {
		return 0, false
	}
	h := hashBytes(fnvOffset, d.RequestID)
	h = hashBytes(h^0x5c, addr)
	return h ^ uint64(port)*fnvPrime, true
}

// Observe offers a record. When the other side of the same hop was seen
// before, it returns that side and true, and fills what r did not know
// (an unknown caller of a server-side record, an unknown callee or service)
// from it, marking those identities FromJoin.
func (j *Joiner) Observe(r *Record, now time.Time) (HopSide, bool) {
	key, ok := HopKey(r)
	if !ok {
		return HopSide{}, false
	}
	if !j.ObserveKey(r, key, now) {
		return HopSide{}, false
	}
	return HopSide{}, true
}

// ObserveKey is Observe for a record whose HopKey the caller computed (to
// pick a shard); it reports whether the record joined its other side.
func (j *Joiner) ObserveKey(r *Record, key uint64, now time.Time) bool {
	if j.max <= 0 {
		return false
	}
	nowNano := now.UnixNano()
	if i, ok := j.index[key]; ok {
		slot := &j.ring[i]
		if slot.side.Reporter != r.Reporter && nowNano-slot.side.seen <= j.ttl {
			slot.used = false
			delete(j.index, key)
			j.Joined++
			fill(r, &slot.side)
			return true
		}
		// The same side again (a retry, a repeated id) or a stale entry:
		// remember the newest.
		setSide(&slot.side, r, nowNano)
		return false
	}
	var i int
	if len(j.ring) < j.max {
		j.ring = append(j.ring, joinSlot{})
		i = len(j.ring) - 1
	} else {
		i = j.head
		j.head = (j.head + 1) % len(j.ring)
		if old := &j.ring[i]; old.used {
			delete(j.index, old.key)
			if nowNano-old.side.seen > j.ttl {
				j.Expired++
			} else {
				j.Overflow++
			}
		}
	}
	slot := &j.ring[i]
	slot.key, slot.used = key, true
	setSide(&slot.side, r, nowNano)
	j.index[key] = int32(i)
	return false
}

// setSide stores what the other side may need, in place.
func setSide(h *HopSide, r *Record, now int64) {
	h.Reporter, h.seen = r.Reporter, now
	h.Source, h.Destination, h.Service = r.Source, r.Destination, r.Service
}

// fill completes r from the other side of its hop. Only what the entry
// itself had no evidence for is filled, so that labels do not depend on
// which report happened to arrive first.
func fill(r *Record, other *HopSide) {
	if r.Reporter == ReporterDestination && r.SourceFrom == FromNone {
		r.Source, r.SourceFrom = other.Source, FromJoin
	}
	if r.Reporter == ReporterSource && r.Destination.Name == unknown && other.Destination.Name != unknown {
		r.Destination, r.DestinationFrom = other.Destination, FromJoin
	}
	if r.Reporter == ReporterDestination && (r.ServiceFrom == FromNone || r.ServiceFrom == FromNodeMetadata) && other.Service.Host != unknown {
		r.Service, r.ServiceFrom = other.Service, FromJoin
	}
}

// Expire forgets pending hops older than the TTL and returns how many. It
// walks the ring from the oldest slot and stops at the first young one.
func (j *Joiner) Expire(now time.Time) int {
	cutoff := now.UnixNano() - j.ttl
	n := 0
	for k := 0; k < len(j.ring); k++ {
		i := k
		if len(j.ring) == j.max {
			i = (j.head + k) % len(j.ring)
		}
		slot := &j.ring[i]
		if !slot.used {
			continue
		}
		if slot.side.seen >= cutoff {
			break
		}
		slot.used = false
		delete(j.index, slot.key)
		n++
	}
	j.Expired += uint64(n)
	return n
}

// Len returns the number of hops waiting for their other side.
func (j *Joiner) Len() int { return len(j.index) }
