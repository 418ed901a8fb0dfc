package accesslog

import "time"

// HopSide is what the Joiner keeps of the first-seen side of a request hop.
// Its strings are interned label values and may be kept.
type HopSide struct {
	Reporter      Reporter
	Source        Workload
	Destination   Workload
	Service       Service
	ResponseCode  uint32
	Flags         ResponseFlags
	DurationNanos int64
	seen          int64
}

// Joiner recognises the two reports of one request hop: the client-side
// (source) record and the server-side (destination) record share Envoy's
// x-request-id and the server's address (the client's upstream remote
// address is the server's downstream local address). x-request-id alone is
// not enough: Istio propagates it across every hop of a request.
//
// Joiner is pure and bounded: at most max pending hops, each forgotten after
// ttl. It is not safe for concurrent use.
type Joiner struct {
	max     int
	ttl     time.Duration
	pending map[uint64]HopSide
	// Joined counts hops seen from both sides; Overflow counts hops not
	// remembered because the table was full; Expired counts hops seen from
	// one side only.
	Joined, Overflow, Expired uint64
}

// NewJoiner returns a Joiner.
func NewJoiner(maxPending int, ttl time.Duration) *Joiner {
	return &Joiner{max: maxPending, ttl: ttl, pending: make(map[uint64]HopSide)}
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
// (an unknown caller of a server-side record, an unknown service) from it,
// marking those identities FromJoin.
func (j *Joiner) Observe(r *Record, now time.Time) (HopSide, bool) {
	key, ok := HopKey(r)
	if !ok {
		return HopSide{}, false
	}
	if other, ok := j.pending[key]; ok && other.Reporter != r.Reporter {
		delete(j.pending, key)
		j.Joined++
		if r.Reporter == ReporterDestination && r.SourceFrom == FromNone {
			r.Source, r.SourceFrom = other.Source, FromJoin
		}
		if r.Reporter == ReporterSource && r.Destination.Name == unknown && other.Destination.Name != unknown {
			r.Destination, r.DestinationFrom = other.Destination, FromJoin
		}
		// Only fill what the entry itself had no evidence for: labels must
		// not depend on which report happened to arrive first.
		if r.Reporter == ReporterDestination && (r.ServiceFrom == FromNone || r.ServiceFrom == FromNodeMetadata) && other.Service.Host != unknown {
			r.Service, r.ServiceFrom = other.Service, FromJoin
		}
		return other, true
	}
	if len(j.pending) >= j.max {
		j.Overflow++
		return HopSide{}, false
	}
	j.pending[key] = HopSide{
		Reporter: r.Reporter, Source: r.Source, Destination: r.Destination, Service: r.Service,
		ResponseCode: r.ResponseCode, Flags: r.Flags, DurationNanos: r.DurationNanos, seen: now.UnixNano(),
	}
	return HopSide{}, false
}

// Expire forgets hops older than the TTL and returns how many.
func (j *Joiner) Expire(now time.Time) int {
	cutoff := now.Add(-j.ttl).UnixNano()
	n := 0
	for k, h := range j.pending {
		if h.seen < cutoff {
			delete(j.pending, k)
			n++
		}
	}
	j.Expired += uint64(n)
	return n
}

// Len returns the number of hops waiting for their other side.
func (j *Joiner) Len() int { return len(j.pending) }
