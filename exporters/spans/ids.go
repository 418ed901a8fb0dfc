package spans

import (
	"encoding/binary"

	"github.com/meshlens/meshlens/accesslog"
)

// Trace is the trace a record's span belongs to.
type Trace struct {
	ID [16]byte
	// Synthetic is true when ID was derived from x-request-id because the
	// record logged no trace context.
	Synthetic bool
}

// TraceOf returns the trace of a record: the logged trace context (W3C or
// B3), else, when synthetic is true, one derived from x-request-id. ok is
// false when the record has neither. It allocates nothing.
func TraceOf(r *accesslog.Record, synthetic bool) (t Trace, ok bool) {
	if r.Trace.Valid() {
		return Trace{ID: r.Trace.TraceID}, true
	}
	if !synthetic || len(r.Details.RequestID) == 0 {
		return Trace{}, false
	}
	return Trace{ID: SyntheticTraceID(r.Details.RequestID), Synthetic: true}, true
}

// SyntheticTraceID returns the trace id meshlens gives a request that logged
// no trace context. An x-request-id in UUID form (Envoy generates version 4
// UUIDs, whose low 56 bits are random) is used as it is, so that the trace
// id is the request id without dashes and can be looked up from a log line;
// any other value is hashed to 128 bits.
func SyntheticTraceID(requestID []byte) [16]byte {
	var id [16]byte
	if parseUUID(requestID, &id) && id != [16]byte{} {
		return id
	}
	binary.BigEndian.PutUint64(id[:8], mix(hashBytes(seedTraceHi, requestID)))
	binary.BigEndian.PutUint64(id[8:], mix(hashBytes(seedTraceLo, requestID)))
	if id == [16]byte{} {
		id[15] = 1
	}
	return id
}

// SpanIDs returns the id of the span a record becomes and its parent.
//
// Both ids of a hop are derived from what the two reports of that hop share
// whatever Envoy's tracing does: the trace id, x-request-id and the server's
// address (the client's upstream remote address is the server's downstream
// local address):
//
//	client span id = H("client", trace id, request id, server address)
//	server span id = H("server", trace id, request id, server address)
//	server parent  = client span id
//	client parent  = the span id logged in the record's headers (none when
//	                 the trace is synthetic)
//
// The logged span id is never used as a span id of ours: with Envoy tracing
// on, the client and the server report log different ids (each proxy's own
// span), with tracing off they log the same id (the calling application's
// span), and nothing in one record tells which. See ADR 0005.
func SpanIDs(r *accesslog.Record, traceID *[16]byte) (span, parent [8]byte) {
	client := hopID(seedClient, r, traceID)
	if r.Reporter == accesslog.ReporterSource {
		return client, r.Trace.SpanID
	}
	return hopID(seedServer, r, traceID), client
}

// hopID hashes the hop of a record with a seed per span kind.
func hopID(seed uint64, r *accesslog.Record, traceID *[16]byte) [8]byte {
	addr, port := hopAddress(r)
	h := hashBytes(seed, traceID[:])
	h = hashBytes(h, r.Details.RequestID)
	h = hashByte(h, 0xff) // separates request id and address
	h = hashBytes(h, addr)
	h = hashUint32(h, port)
	v := mix(h)
	if v == 0 {
		v = 1
	}
	var id [8]byte
	binary.BigEndian.PutUint64(id[:], v)
	return id
}

// hopAddress returns the server's address as the record's side saw it.
func hopAddress(r *accesslog.Record) ([]byte, uint32) {
	if r.Reporter == accesslog.ReporterSource {
		return r.Details.PeerAddress, r.Details.PeerPort
	}
	return r.Details.LocalAddress, r.Details.LocalPort
}

// Seeds of the hashes. They are part of the id format: changing one changes
// every id meshlens produces.
const (
	seedClient  uint64 = 0x6d65_7368_636c_6e74 // "meshclnt"
	seedServer  uint64 = 0x6d65_7368_7372_7672 // "meshsrvr"
	seedTraceHi uint64 = 0x6d65_7368_7472_6869 // "meshtrhi"
	seedTraceLo uint64 = 0x6d65_7368_7472_6c6f // "meshtrlo"

	fnvPrime uint64 = 0x100000001b3
)

// hashBytes is FNV-1a over b, continuing from h.
func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func hashByte(h uint64, c byte) uint64 { return (h ^ uint64(c)) * fnvPrime }

func hashUint32(h uint64, v uint32) uint64 {
	for range 4 {
		h = hashByte(h, byte(v))
		v >>= 8
	}
	return h
}

// mix is splitmix64's finaliser: it spreads FNV's weak high bits over the
// whole word (the sampler reads the low 56 bits of trace ids).
func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}

// parseUUID decodes 8-4-4-4-12 hex digits (or 32 without dashes) into id.
func parseUUID(b []byte, id *[16]byte) bool {
	switch len(b) {
	case 32:
		return unhex(b, id[:])
	case 36:
		if b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
			return false
		}
		return unhex(b[0:8], id[0:4]) && unhex(b[9:13], id[4:6]) && unhex(b[14:18], id[6:8]) &&
			unhex(b[19:23], id[8:10]) && unhex(b[24:36], id[10:16])
	}
	return false
}

func unhex(src, dst []byte) bool {
	for i := range dst {
		hi, ok1 := hexVal(src[2*i])
		lo, ok2 := hexVal(src[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
