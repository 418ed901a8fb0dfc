package accesslog

import (
	"time"
)

// ConnKey identifies one TCP connection (or HTTP stream) of one proxy: a hash
// of the node id and Envoy's stream_id, or of the addresses when Envoy sent
// no stream_id.
type ConnKey uint64

// ConnTracker turns the cumulative counters of periodic entries into deltas.
// It is consumed by Stream; the receiver provides a shared, locked instance
// so that a connection whose entries arrive over a reconnected gRPC stream is
// still counted once.
type ConnTracker interface {
	// Track records the cumulative sent/received counters of one connection
	// and returns the increase since the previous call for the same key, and
	// whether the key was new. final removes the key.
	Track(key ConnKey, sent, received uint64, final bool, now time.Time) (dSent, dReceived uint64, first bool)
}

type connState struct {
	sent, received uint64
	seen           int64
}

// ConnTable is the pure ConnTracker: a bounded map with expiry. It is not
// safe for concurrent use; wrap it in a lock to share it.
type ConnTable struct {
	max   int
	ttl   time.Duration
	conns map[ConnKey]connState
	// Overflow counts keys not tracked because the table was full (their
	// entries are counted with their full cumulative values).
	Overflow uint64
	// Expired counts keys removed by Expire.
	Expired uint64
}

// NewConnTable returns a table holding at most max open connections, each
// forgotten ttl after its last entry.
func NewConnTable(maxConns int, ttl time.Duration) *ConnTable {
	return &ConnTable{max: maxConns, ttl: ttl, conns: make(map[ConnKey]connState)}
}

// Track implements ConnTracker.
func (t *ConnTable) Track(key ConnKey, sent, received uint64, final bool, now time.Time) (dSent, dReceived uint64, first bool) {
	st, ok := t.conns[key]
	if !ok {
		st = connState{}
		first = true
	}
	if sent >= st.sent {
		dSent = sent - st.sent
	} else { // counters went back: a new connection reused the key
		dSent = sent
	}
	if received >= st.received {
		dReceived = received - st.received
	} else {
		dReceived = received
	}
	switch {
	case final:
		delete(t.conns, key)
	case ok || len(t.conns) < t.max:
		t.conns[key] = connState{sent: sent, received: received, seen: now.UnixNano()}
	default:
		t.Overflow++
	}
	return dSent, dReceived, first
}

// Len returns the number of tracked connections.
func (t *ConnTable) Len() int { return len(t.conns) }

// Expire forgets connections idle for longer than the table's TTL and returns
// how many it removed.
func (t *ConnTable) Expire(now time.Time) int {
	cutoff := now.Add(-t.ttl).UnixNano()
	n := 0
	for k, st := range t.conns {
		if st.seen < cutoff {
			delete(t.conns, k)
			n++
		}
	}
	t.Expired += uint64(n)
	return n
}

// fnv-1a, 64 bit: deterministic, allocation free.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}
