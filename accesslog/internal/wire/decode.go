package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Errors returned by DecodeAccessLogs. The returned error wraps one of them,
// with the path of the field being decoded as context, for example
// "decode http_logs: decode log_entry[3]: decode common_properties: wire:
// unexpected end of input". Every one of them matches ErrMalformed with
// errors.Is.
var (
	// ErrMalformed matches every error the decoder returns.
	ErrMalformed = errors.New("wire: malformed protobuf message")
	// ErrTruncated: the input ends inside a tag, a varint or a fixed-size
	// value.
	ErrTruncated error = &wireError{"wire: unexpected end of input"}
	// ErrLength: a length prefix points past the end of the enclosing
	// message (this includes lengths too large to be represented as an int).
	ErrLength error = &wireError{"wire: length prefix exceeds the remaining input"}
	// ErrVarintOverflow: a varint is longer than ten bytes or does not fit
	// in 64 bits.
	ErrVarintOverflow error = &wireError{"wire: varint overflows 64 bits"}
	// ErrFieldNumber: a tag has field number 0 or a number above 2^29-1.
	ErrFieldNumber error = &wireError{"wire: invalid field number"}
	// ErrWireType: a tag uses one of the reserved wire types 6 and 7.
	ErrWireType error = &wireError{"wire: reserved wire type"}
	// ErrGroup: an end-group tag without a matching start-group tag, or a
	// group that is not closed before the end of its enclosing message.
	ErrGroup error = &wireError{"wire: unbalanced group"}
	// ErrDepth: groups in an unknown field are nested more deeply than
	// proto.Unmarshal allows (10000 levels).
	ErrDepth error = &wireError{"wire: groups nested too deeply"}
)

// wireError is the type of the specific sentinel errors: each is itself and
// also ErrMalformed for errors.Is.
type wireError struct{ msg string }

func (e *wireError) Error() string { return e.msg }

func (e *wireError) Is(target error) bool { return target == ErrMalformed }

// Wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

const (
	// maxFieldNumber is protowire.MaxValidNumber.
	maxFieldNumber = 1<<29 - 1
	// recursionLimit is protowire.DefaultRecursionLimit, the nesting depth
	// proto.Unmarshal allows for groups and messages.
	recursionLimit = 10000
)

// Internal error codes: the low-level helpers return a negative index instead
// of an error value so that the hot path stays cheap.
const (
	codeTruncated = -1 - iota
	codeLength
	codeOverflow
	codeFieldNumber
	codeWireType
	codeGroup
	codeDepth
)

func codeError(code int) error {
	switch code {
	case codeTruncated:
		return ErrTruncated
	case codeLength:
		return ErrLength
	case codeOverflow:
		return ErrVarintOverflow
	case codeFieldNumber:
		return ErrFieldNumber
	case codeWireType:
		return ErrWireType
	case codeGroup:
		return ErrGroup
	case codeDepth:
		return ErrDepth
	}
	return ErrMalformed
}

func wrap(field string, err error) error {
	return fmt.Errorf("decode %s: %w", field, err)
}

// consumeBytes decodes the length-delimited value at b[i:]. The returned
// slice has its capacity cut to its length so that appending to a view never
// overwrites the input.
func consumeBytes(b []byte, i int) ([]byte, int) {
	n, j := uvarint(b, i)
	if j < 0 {
		return nil, j
	}
	if n > uint64(len(b)-j) {
		return nil, codeLength
	}
	end := j + int(n)
	return b[j:end:end], end
}

// Every message decoder below has a general loop over its fields:
//
//	tag, v, p, j, ok := fastField(b, i)
//	if !ok {
//		tag, v, p, j = nextField(b, i)
//	}
//
// followed by a switch on the raw tag (num<<3 | wire type). A field whose
// tag matches no case (unknown, or known with another wire type) has already
// been skipped, exactly as proto.Unmarshal skips unknown fields. The hot
// messages run a faster first stage before that loop (see has1).

// fastField reads the common case of a field inline: a one-byte tag for a
// varint or length-delimited field whose value or length also takes one
// byte. It reports ok false for anything else, which nextField handles.
func fastField(b []byte, i int) (tag, v uint64, p []byte, j int, ok bool) {
	if i+1 >= len(b) {
		return
	}
	tag, v = uint64(b[i]), uint64(b[i+1])
	if (tag|v) >= 0x80 || tag < 8 {
		return
	}
	if tag&7 == wireVarint {
		return tag, v, nil, i + 2, true
	}
	if end := i + 2 + int(v); tag&7 == wireBytes && end <= len(b) {
		return tag, 0, b[i+2 : end : end], end, true
	}
	return
}

// nextField reads the field at b[i:] (i < len(b)): its tag, and its value,
// either a varint in v or the payload of a length-delimited field in p.
// Fields of other wire types are skipped. j is the index after the field, or
// a negative error code (with the tag, if it could be read).
func nextField(b []byte, i int) (tag, v uint64, p []byte, j int) {
	tag, j = uvarint(b, i)
	if j < 0 {
		return 0, 0, nil, j
	}
	if n := tag >> 3; n == 0 || n > maxFieldNumber {
		return 0, 0, nil, codeFieldNumber
	}
	switch tag & 7 {
	case wireVarint:
		v, j = uvarint(b, j)
	case wireBytes:
		var n uint64
		if n, j = uvarint(b, j); j >= 0 {
			if n > uint64(len(b)-j) {
				return tag, 0, nil, codeLength
			}
			end := j + int(n)
			p, j = b[j:end:end], end
		}
	case wireEndGroup:
		return 0, 0, nil, codeGroup
	case 6, 7:
		return 0, 0, nil, codeWireType
	default:
		j = skipValue(b, j, tag>>3, tag&7, recursionLimit)
	}
	return tag, v, p, j
}

// uvarint decodes the varint at b[i:] and returns it with the index just
// after it, or a negative error code as the index. Like
// protowire.ConsumeVarint it accepts non-minimal encodings and rejects a
// tenth byte above 1. It is small enough to be inlined.
func uvarint(b []byte, i int) (uint64, int) {
	var v uint64
	for shift := uint(0); i < len(b); shift += 7 {
		c := b[i]
		i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				return 0, codeOverflow
			}
			return v | uint64(c)<<shift, i
		}
		if shift == 63 {
			return 0, codeOverflow
		}
		v |= uint64(c&0x7f) << shift
	}
	return 0, codeTruncated
}

// The hot messages are decoded in two stages. Envoy, like every protobuf
// encoder, writes fields in field-number order with minimal tags, so the
// first stage expects exactly that: straight-line code that checks for each
// field in turn. Each check has its own branch in the machine code, which
// the CPU predicts well because the same fields come in the same order in
// every entry; a single loop with one switch for all fields is much harder
// to predict. The first stage stops at the first field it does not expect
// (an unknown field, a repeated occurrence, another order, a long varint,
// anything malformed) and hands the rest of the message to the second
// stage, the general loop, which applies the same rules field by field.
// Both stages consume fields in wire order, so the result is the same.

// has1 reports whether the field at b[i:] has the one-byte tag t.
func has1(b []byte, i int, t byte) bool { return i < len(b) && b[i] == t }

// has2 reports whether the field at b[i:] has the two-byte tag t (as built
// by tag2).
func has2(b []byte, i int, t uint16) bool {
	return i+1 < len(b) && b[i] == byte(t) && b[i+1] == byte(t>>8)
}

// tag2 is the two-byte varint encoding of the tag of field num (16..2047)
// with wire type wt, low byte first.
func tag2(num, wt uint16) uint16 {
	t := num<<3 | wt
	return t&0x7f | 0x80 | t>>7<<8
}

// readLen reads a length prefix of one or two bytes at b[i:] and returns the
// payload and the index after it; ok is false for a longer prefix or a
// length past the end of b (left to the general loop).
func readLen(b []byte, i int) (p []byte, j int, ok bool) {
	if i >= len(b) {
		return
	}
	n, j := int(b[i]), i+1
	if n >= 0x80 {
		if j >= len(b) || b[j] >= 0x80 {
			return
		}
		n, j = n-0x80+int(b[j])<<7, j+1
	}
	if n > len(b)-j {
		return
	}
	return b[j : j+n : j+n], j + n, true
}

// fieldError is the error for the negative code j returned by nextField;
// tag is non-zero when the tag was read and the value was bad.
func fieldError(tag uint64, j int) error {
	if tag == 0 {
		return codeError(j)
	}
	return fmt.Errorf("field %d: %w", tag>>3, codeError(j))
}

// skipValue mirrors protowire.ConsumeFieldValue.
func skipValue(b []byte, i int, num, wt uint64, depth int) int {
	switch wt {
	case wireVarint:
		_, i = uvarint(b, i)
		return i
	case wireFixed64:
		if len(b)-i < 8 {
			return codeTruncated
		}
		return i + 8
	case wireBytes:
		_, i = consumeBytes(b, i)
		return i
	case wireStartGroup:
		return skipGroup(b, i, num, depth)
	case wireFixed32:
		if len(b)-i < 4 {
			return codeTruncated
		}
		return i + 4
	case wireEndGroup:
		return codeGroup
	}
	return codeWireType
}

// skipGroup skips the body and end tag of a group with field number num. As
// in protowire, fields inside a group may use numbers up to 2^31-1.
func skipGroup(b []byte, i int, num uint64, depth int) int {
	if depth < 0 {
		return codeDepth
	}
	for {
		if i >= len(b) {
			return codeGroup // not closed
		}
		tag, j := uvarint(b, i)
		if j < 0 {
			return j
		}
		n, wt := tag>>3, tag&7
		if n == 0 || n > math.MaxInt32 {
			return codeFieldNumber
		}
		if wt == wireEndGroup {
			if n != num {
				return codeGroup
			}
			return j
		}
		if i = skipValue(b, j, n, wt, depth-1); i < 0 {
			return i
		}
	}
}

// timestamp holds the two fields of a google.protobuf.Timestamp or Duration
// while an entry is decoded: repeated occurrences of the message merge field
// by field, so nanoseconds can only be computed once the entry is complete.
type timestamp struct {
	seconds int64
	nanos   int32
}

func (t timestamp) unixNano() int64 { return t.seconds*1e9 + int64(t.nanos) }

// entryState is what decoding one entry needs besides the Entry itself.
type entryState struct {
	start, lastRx, lastDownstreamTx, duration timestamp
	// localSAN and peerSAN record that the first URI SAN was found (it may
	// be empty).
	localSAN, peerSAN bool
	// unknownPeers has bit 0 set when upstream_peer holds a value that is
	// not a decodable Struct, bit 1 likewise for downstream_peer.
	unknownPeers uint8
	// msg memoises the peers parsed in the message.
	msg *Message
}

// messageState is what decoding one message needs besides the Message.
type messageState struct {
	metadataSeen    bool // node.metadata occurred
	metadataScratch bool // node.metadata is assembled in Message.scratch
}

// DecodeAccessLogs decodes one envoy.service.accesslog.v3.StreamAccessLogsMessage
// from b into m. It first resets m: the identifier is zeroed and m.Entries is
// truncated (its backing array is reused, and each reused Entry is zeroed
// before it is filled). The views in m alias b.
//
// Once m.Entries has enough capacity for the entries in b, the call allocates
// nothing. On error, m holds whatever had been decoded before the error and
// must not be used, but it can be passed to DecodeAccessLogs again.
func DecodeAccessLogs(b []byte, m *Message) error {
	m.reset()
	var ms messageState
	// kind is the member of the log_entries oneof set so far: 0 none,
	// 2 http_logs, 3 tcp_logs.
	var kind uint64
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			m.Identifier.Present = true
			if err := decodeIdentifier(p, m, &ms); err != nil {
				return wrap("identifier", err)
			}
		case 2<<3 | wireBytes, 3<<3 | wireBytes:
			num := tag >> 3
			if kind != num {
				// Switching the oneof member discards the entries of the
				// other one; the same member again merges (appends).
				kind = num
				m.Entries = m.Entries[:0]
				m.HTTP = num == 2
			}
			if err := decodeLogEntries(p, m, num == 3); err != nil {
				if num == 3 {
					return wrap("tcp_logs", err)
				}
				return wrap("http_logs", err)
			}
		}
	}
	return nil
}

// decodeIdentifier decodes envoy.service.accesslog.v3.StreamAccessLogsMessage.Identifier.
func decodeIdentifier(b []byte, m *Message, ms *messageState) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			if err := decodeNode(p, m, ms); err != nil {
				return wrap("node", err)
			}
		case 2<<3 | wireBytes:
			m.Identifier.LogName = p
		}
	}
	return nil
}

// decodeNode decodes envoy.config.core.v3.Node (id, cluster, metadata and the
// v2 build_version).
func decodeNode(b []byte, m *Message, ms *messageState) error {
	n := &m.Identifier.Node
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			n.ID = p
		case 2<<3 | wireBytes:
			n.Cluster = p
		case 3<<3 | wireBytes:
			n.Metadata = mergeMetadata(m, ms, p)
		case 5<<3 | wireBytes:
			n.BuildVersion = p
		}
	}
	return nil
}

// mergeMetadata returns node.metadata after one more occurrence v of it.
// Protobuf merges repeated occurrences of a message field, and concatenating
// two encoded messages encodes their merge, so a second occurrence (which
// Envoy never sends) is handled by concatenating into m.scratch.
func mergeMetadata(m *Message, ms *messageState, v []byte) []byte {
	if !ms.metadataSeen {
		ms.metadataSeen = true
		return v
	}
	if !ms.metadataScratch {
		ms.metadataScratch = true
		m.scratch = append(m.scratch[:0], m.Identifier.Node.Metadata...)
	}
	m.scratch = append(m.scratch, v...)
	return m.scratch[:len(m.scratch):len(m.scratch)]
}

// reset empties m for a new message, keeping its buffers.
func (m *Message) reset() {
	m.Identifier = Identifier{}
	m.Entries = m.Entries[:0]
	m.HTTP = false
	if m.npeers > 0 {
		m.npeers = 0
		m.peerIdx = [peerSlots]uint8{}
	}
	m.nextra = 0
}

// extraPeer returns a zeroed peer beyond the memo, owned by m.
func (m *Message) extraPeer() *Peer {
	if m.nextra == len(m.extra) {
		m.extra = append(m.extra, new(Peer))
	}
	p := m.extra[m.nextra]
	m.nextra++
	*p = Peer{}
	return p
}

// newEntry appends a zeroed entry to m.Entries, reusing the backing array.
func (m *Message) newEntry() *Entry {
	n := len(m.Entries)
	if n < cap(m.Entries) {
		m.Entries = m.Entries[:n+1]
		e := &m.Entries[n]
		*e = Entry{}
		return e
	}
	m.Entries = append(m.Entries, Entry{})
	return &m.Entries[n]
}

// decodeLogEntries decodes HTTPAccessLogEntries or TCPAccessLogEntries,
// appending to m.Entries.
func decodeLogEntries(b []byte, m *Message, tcp bool) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag != 1<<3|wireBytes {
			continue
		}
		if err := decodeEntry(p, m, tcp); err != nil {
			return err
		}
	}
	return nil
}

// decodeEntry decodes one log_entry into a new entry of m.
func decodeEntry(p []byte, m *Message, tcp bool) error {
	e := m.newEntry()
	st := entryState{msg: m}
	var err error
	if tcp {
		e.TCP = true
		err = decodeTCPEntry(p, e, &st)
	} else {
		err = decodeHTTPEntry(p, e, &st)
	}
	if err != nil {
		return fmt.Errorf("decode log_entry[%d]: %w", len(m.Entries)-1, err)
	}
	finishEntry(e, &st)
	return nil
}

// finishEntry fills the fields of e that depend on the whole entry.
func finishEntry(e *Entry, st *entryState) {
	if e.HasStartTime {
		e.StartTime = st.start.unixNano()
	}
	if e.HasTimeToLastRxByte {
		e.TimeToLastRxByte = st.lastRx.unixNano()
	}
	if e.HasTimeToLastDownstreamTxByte {
		e.TimeToLastDownstreamTxByte = st.lastDownstreamTx.unixNano()
	}
	if e.HasDuration {
		e.Duration = st.duration.unixNano()
	}
	// proto3 scalars have no presence: a zero value on the wire is the same
	// as an absent field, so "present" means non-zero.
	e.HasWireBytes = e.DownstreamWireBytesSent|e.DownstreamWireBytesReceived|
		e.UpstreamWireBytesSent|e.UpstreamWireBytesReceived != 0
	e.FilterStateUnknownKinds = uint32(st.unknownPeers&1) + uint32(st.unknownPeers>>1)
}

// decodeHTTPEntry decodes envoy.data.accesslog.v3.HTTPAccessLogEntry.
func decodeHTTPEntry(b []byte, e *Entry, st *entryState) error {
	var (
		i, j int
		p    []byte
		v    uint64
		ok   bool
	)
	// Stage one: the fields in field-number order (see has1).
	if has1(b, i, 1<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeCommon(p, e, st); err != nil {
			return wrap("common_properties", err)
		}
		i = j
	}
	if has1(b, i, 2<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.ProtocolVersion = uint32(v)
		i = j
	}
	if has1(b, i, 3<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasRequest = true
		if err := decodeRequest(p, e); err != nil {
			return wrap("request", err)
		}
		i = j
	}
	if has1(b, i, 4<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasResponse = true
		if err := decodeResponse(p, e); err != nil {
			return wrap("response", err)
		}
		i = j
	}
	if i == len(b) {
		return nil
	}
general:
	return decodeHTTPEntryFields(b, i, e, st)
}

// decodeHTTPEntryFields is the general loop of decodeHTTPEntry, from b[i:].
func decodeHTTPEntryFields(b []byte, i int, e *Entry, st *entryState) error {
	for i < len(b) {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			if err := decodeCommon(p, e, st); err != nil {
				return wrap("common_properties", err)
			}
		case 2<<3 | wireVarint:
			e.ProtocolVersion = uint32(v)
		case 3<<3 | wireBytes:
			e.HasRequest = true
			if err := decodeRequest(p, e); err != nil {
				return wrap("request", err)
			}
		case 4<<3 | wireBytes:
			e.HasResponse = true
			if err := decodeResponse(p, e); err != nil {
				return wrap("response", err)
			}
		}
	}
	return nil
}

// decodeTCPEntry decodes envoy.data.accesslog.v3.TCPAccessLogEntry.
func decodeTCPEntry(b []byte, e *Entry, st *entryState) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			if err := decodeCommon(p, e, st); err != nil {
				return wrap("common_properties", err)
			}
		case 2<<3 | wireBytes:
			if err := decodeConnectionProperties(p, e); err != nil {
				return wrap("connection_properties", err)
			}
		}
	}
	return nil
}

// decodeConnectionProperties decodes envoy.data.accesslog.v3.ConnectionProperties.
func decodeConnectionProperties(b []byte, e *Entry) error {
	for i := 0; i < len(b); {
		tag, v, _, j, ok := fastField(b, i)
		if !ok {
			if tag, v, _, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			e.TCPReceivedBytes = v
		case 2<<3 | wireVarint:
			e.TCPSentBytes = v
		}
	}
	return nil
}

// decodeCommon decodes envoy.data.accesslog.v3.AccessLogCommon, merging into
// e (the field may occur more than once).
func decodeCommon(b []byte, e *Entry, st *entryState) error {
	e.HasCommon = true
	var (
		i, j int
		p    []byte
		v    uint64
		ok   bool
	)
	// Stage one: the fields in field-number order (see has1).
	if has1(b, i, 1<<3|wireFixed64) { // sample_rate: unused
		if len(b)-i < 9 {
			goto general
		}
		i += 9
	}
	if has1(b, i, 2<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamRemote); err != nil {
			return wrap("downstream_remote_address", err)
		}
		i = j
	}
	if has1(b, i, 3<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamLocal); err != nil {
			return wrap("downstream_local_address", err)
		}
		i = j
	}
	if has1(b, i, 4<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTLS = true
		if err := decodeTLS(p, e, st); err != nil {
			return wrap("tls_properties", err)
		}
		i = j
	}
	if has1(b, i, 5<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasStartTime = true
		if err := decodeTimestamp(p, &st.start); err != nil {
			return wrap("start_time", err)
		}
		i = j
	}
	if has1(b, i, 6<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTimeToLastRxByte = true
		if err := decodeTimestamp(p, &st.lastRx); err != nil {
			return wrap("time_to_last_rx_byte", err)
		}
		i = j
	}
	if has1(b, i, 7<<3|wireBytes) { // time_to_first_upstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 8<<3|wireBytes) { // time_to_last_upstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 9<<3|wireBytes) { // time_to_first_upstream_rx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 10<<3|wireBytes) { // time_to_last_upstream_rx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 11<<3|wireBytes) { // time_to_first_downstream_tx_byte
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 12<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		e.HasTimeToLastDownstreamTxByte = true
		if err := decodeTimestamp(p, &st.lastDownstreamTx); err != nil {
			return wrap("time_to_last_downstream_tx_byte", err)
		}
		i = j
	}
	if has1(b, i, 13<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.UpstreamRemote); err != nil {
			return wrap("upstream_remote_address", err)
		}
		i = j
	}
	if has1(b, i, 14<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.UpstreamLocal); err != nil {
			return wrap("upstream_local_address", err)
		}
		i = j
	}
	if has1(b, i, 15<<3|wireBytes) {
		if e.UpstreamCluster, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(16, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeResponseFlags(p, &e.ResponseFlags); err != nil {
			return wrap("response_flags", err)
		}
		i = j
	}
	if has2(b, i, tag2(17, wireBytes)) { // metadata
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(18, wireBytes)) {
		if e.UpstreamTransportFailureReason, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(19, wireBytes)) {
		if e.RouteName, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(20, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeAddress(p, &e.DownstreamDirectRemote); err != nil {
			return wrap("downstream_direct_remote_address", err)
		}
		i = j
	}
	for has2(b, i, tag2(21, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		if err := decodeFilterState(p, e, st); err != nil {
			return wrap("filter_state_objects", err)
		}
		i = j
	}
	for has2(b, i, tag2(22, wireBytes)) { // custom_tags
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(23, wireBytes)) {
		if p, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		e.HasDuration = true
		if err := decodeTimestamp(p, &st.duration); err != nil {
			return wrap("duration", err)
		}
		i = j
	}
	if has2(b, i, tag2(24, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamRequestAttemptCount = uint32(v)
		i = j
	}
	if has2(b, i, tag2(25, wireBytes)) { // connection_termination_details
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(26, wireBytes)) {
		if e.StreamID, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(27, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.IntermediateLogEntry = v != 0
		i = j
	}
	if has2(b, i, tag2(28, wireBytes)) { // downstream_transport_failure_reason
		if _, j, ok = readLen(b, i+2); !ok {
			goto general
		}
		i = j
	}
	if has2(b, i, tag2(29, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.DownstreamWireBytesSent = v
		i = j
	}
	if has2(b, i, tag2(30, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.DownstreamWireBytesReceived = v
		i = j
	}
	if has2(b, i, tag2(31, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamWireBytesSent = v
		i = j
	}
	if has2(b, i, tag2(32, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.UpstreamWireBytesReceived = v
		i = j
	}
	if has2(b, i, tag2(33, wireVarint)) {
		if v, j = uvarint(b, i+2); j < 0 {
			goto general
		}
		e.AccessLogType = uint32(v)
		i = j
	}
	if i == len(b) {
		return nil
	}
general:
	return decodeCommonFields(b, i, e, st)
}

// decodeCommonFields is the general loop of decodeCommon, from b[i:].
func decodeCommonFields(b []byte, i int, e *Entry, st *entryState) error {
	for i < len(b) {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		// Switching on the field number within a wire type lets the
		// compiler use a jump table.
		switch tag & 7 {
		case wireBytes:
			var err error
			var name string
			switch tag >> 3 {
			case 2:
				name, err = "downstream_remote_address", decodeAddress(p, &e.DownstreamRemote)
			case 3:
				name, err = "downstream_local_address", decodeAddress(p, &e.DownstreamLocal)
			case 4:
				e.HasTLS = true
				name, err = "tls_properties", decodeTLS(p, e, st)
			case 5:
				e.HasStartTime = true
				name, err = "start_time", decodeTimestamp(p, &st.start)
			case 6:
				e.HasTimeToLastRxByte = true
				name, err = "time_to_last_rx_byte", decodeTimestamp(p, &st.lastRx)
			case 12:
				e.HasTimeToLastDownstreamTxByte = true
				name, err = "time_to_last_downstream_tx_byte", decodeTimestamp(p, &st.lastDownstreamTx)
			case 13:
				name, err = "upstream_remote_address", decodeAddress(p, &e.UpstreamRemote)
			case 14:
				name, err = "upstream_local_address", decodeAddress(p, &e.UpstreamLocal)
			case 15:
				e.UpstreamCluster = p
			case 16:
				name, err = "response_flags", decodeResponseFlags(p, &e.ResponseFlags)
			case 18:
				e.UpstreamTransportFailureReason = p
			case 19:
				e.RouteName = p
			case 20:
				name, err = "downstream_direct_remote_address", decodeAddress(p, &e.DownstreamDirectRemote)
			case 21:
				name, err = "filter_state_objects", decodeFilterState(p, e, st)
			case 23:
				e.HasDuration = true
				name, err = "duration", decodeTimestamp(p, &st.duration)
			case 26:
				e.StreamID = p
			}
			if err != nil {
				return wrap(name, err)
			}
		case wireVarint:
			switch tag >> 3 {
			case 24:
				e.UpstreamRequestAttemptCount = uint32(v)
			case 27:
				e.IntermediateLogEntry = v != 0
			case 29:
				e.DownstreamWireBytesSent = v
			case 30:
				e.DownstreamWireBytesReceived = v
			case 31:
				e.UpstreamWireBytesSent = v
			case 32:
				e.UpstreamWireBytesReceived = v
			case 33:
				e.AccessLogType = uint32(v)
			}
		}
	}
	return nil
}

// decodeAddress decodes envoy.config.core.v3.Address, merging into a: the
// same oneof member again merges, a different member replaces.
func decodeAddress(b []byte, a *Address) error {
	// Fast path: a socket_address holding address and port_value only.
	if has1(b, 0, 1<<3|wireBytes) {
		if q, j, ok := readLen(b, 1); ok && j == len(b) && has1(q, 0, 2<<3|wireBytes) {
			if host, k, ok := readLen(q, 1); ok && has1(q, k, 3<<3|wireVarint) {
				if port, k := uvarint(q, k+1); k == len(q) {
					*a = Address{Kind: AddressSocket, Host: host, Port: uint32(port)}
					return nil
				}
			}
		}
	}
	return decodeAddressFields(b, 0, a)
}

// decodeAddressFields is the general loop of decodeAddress, from b[i:].
func decodeAddressFields(b []byte, i int, a *Address) error {
	for i < len(b) {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			if a.Kind != AddressSocket {
				*a = Address{Kind: AddressSocket}
			}
			// SocketAddress, decoded here rather than in a function of its
			// own: addresses are frequent and small.
			for k := 0; k < len(p); {
				tag, v, q, j, ok := fastField(p, k)
				if !ok {
					if tag, v, q, j = nextField(p, k); j < 0 {
						return wrap("socket_address", fieldError(tag, j))
					}
				}
				k = j
				switch tag {
				case 2<<3 | wireBytes:
					a.Host = q
				case 3<<3 | wireVarint:
					a.Port = uint32(v)
				case 4<<3 | wireBytes:
					// named_port replaces port_value in the port_specifier
					// oneof.
					a.Port = 0
				}
			}
		case 2<<3 | wireBytes:
			if a.Kind != AddressPipe {
				*a = Address{Kind: AddressPipe}
			}
			if err := decodeAddressName(p, a); err != nil {
				return wrap("pipe", err)
			}
		case 3<<3 | wireBytes:
			if a.Kind != AddressInternal {
				*a = Address{Kind: AddressInternal}
			}
			if err := decodeAddressName(p, a); err != nil {
				return wrap("envoy_internal_address", err)
			}
		}
	}
	return nil
}

// decodeAddressName decodes envoy.config.core.v3.Pipe or
// EnvoyInternalAddress, whose field 1 (path, server_listener_name) is the
// name kept as Host.
func decodeAddressName(b []byte, a *Address) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag == 1<<3|wireBytes {
			a.Host = p
		}
	}
	return nil
}

// decodeTimestamp decodes google.protobuf.Timestamp or Duration, merging
// into t.
func decodeTimestamp(b []byte, t *timestamp) error {
	i := 0
	if has1(b, i, 1<<3|wireVarint) {
		v, j := uvarint(b, i+1)
		if j < 0 {
			return decodeTimestampFields(b, i, t)
		}
		t.seconds, i = int64(v), j
	}
	if has1(b, i, 2<<3|wireVarint) {
		v, j := uvarint(b, i+1)
		if j < 0 {
			return decodeTimestampFields(b, i, t)
		}
		t.nanos, i = int32(v), j
	}
	if i == len(b) {
		return nil
	}
	return decodeTimestampFields(b, i, t)
}

// decodeTimestampFields is the general loop of decodeTimestamp, from b[i:].
func decodeTimestampFields(b []byte, i int, t *timestamp) error {
	for i < len(b) {
		tag, v, _, j, ok := fastField(b, i)
		if !ok {
			if tag, v, _, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			t.seconds = int64(v)
		case 2<<3 | wireVarint:
			t.nanos = int32(v)
		}
	}
	return nil
}

// decodeTLS decodes envoy.data.accesslog.v3.TLSProperties.
func decodeTLS(b []byte, e *Entry, st *entryState) error {
	for i := 0; i < len(b); {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			e.TLSVersion = uint32(v)
		case 3<<3 | wireBytes:
			e.SNI = p
		case 4<<3 | wireBytes:
			if err := decodeCertificate(p, &e.LocalURISAN, &st.localSAN); err != nil {
				return wrap("local_certificate_properties", err)
			}
		case 5<<3 | wireBytes:
			if err := decodeCertificate(p, &e.PeerURISAN, &st.peerSAN); err != nil {
				return wrap("peer_certificate_properties", err)
			}
		}
	}
	return nil
}

// decodeCertificate decodes TLSProperties.CertificateProperties and stores
// the first URI SAN in *uri unless one was found already (repeated
// occurrences of the message append to subject_alt_name, so the first one
// stays first).
func decodeCertificate(b []byte, uri *[]byte, found *bool) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag != 1<<3|wireBytes {
			continue
		}
		isURI, name, fast := false, []byte(nil), false
		if has1(p, 0, 1<<3|wireBytes) {
			// The usual encoding: a uri and nothing else.
			if u, k, ok := readLen(p, 1); ok && k == len(p) {
				isURI, name, fast = true, u, true
			}
		}
		if !fast {
			var err error
			if isURI, name, err = decodeSAN(p); err != nil {
				return wrap("subject_alt_name", err)
			}
		}
		if isURI && !*found {
			*uri, *found = name, true
		}
	}
	return nil
}

// decodeSAN decodes CertificateProperties.SubjectAltName and reports whether
// its name oneof ends up holding uri, and the uri.
func decodeSAN(b []byte) (isURI bool, uri []byte, err error) {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return false, nil, fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			isURI, uri = true, p
		case 2<<3 | wireBytes:
			isURI, uri = false, nil
		}
	}
	return isURI, uri, nil
}

// decodeResponseFlags decodes envoy.data.accesslog.v3.ResponseFlags into the
// bit set *flags (bit n for field n), merging.
func decodeResponseFlags(b []byte, flags *uint32) error {
	for i := 0; i < len(b); {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if num := tag >> 3; tag&7 == wireVarint && num <= 28 && num != 13 {
			if v != 0 {
				*flags |= 1 << num
			} else {
				*flags &^= 1 << num
			}
		} else if tag == 13<<3|wireBytes {
			if err := decodeUnauthorized(p, flags); err != nil {
				return wrap("unauthorized_details", err)
			}
		}
	}
	return nil
}

// decodeUnauthorized decodes ResponseFlags.Unauthorized: bit 13 is set when
// its reason is EXTERNAL_SERVICE (1).
func decodeUnauthorized(b []byte, flags *uint32) error {
	for i := 0; i < len(b); {
		tag, v, _, j, ok := fastField(b, i)
		if !ok {
			if tag, v, _, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag == 1<<3|wireVarint {
			if int32(v) == 1 {
				*flags |= 1 << 13
			} else {
				*flags &^= 1 << 13
			}
		}
	}
	return nil
}

// Type names (the part of an Any type_url after the last '/') of the filter
// state values meshlens decodes.
const (
	typeStruct          = "google.protobuf.Struct"
	typeGRPCStatsObject = "envoy.extensions.filters.http.grpc_stats.v3.FilterObject"
)

// hasTypeName reports whether the Any type_url url names the message type
// name, resolving it like protoregistry (the part after the last '/').
func hasTypeName(url []byte, name string) bool {
	if len(url) < len(name) || string(url[len(url)-len(name):]) != name {
		return false
	}
	return len(url) == len(name) || url[len(url)-len(name)-1] == '/'
}

// decodeFilterState decodes one entry of AccessLogCommon.filter_state_objects
// (map<string, google.protobuf.Any>) and applies it to e. A later entry with
// the same key replaces an earlier one completely.
func decodeFilterState(b []byte, e *Entry, st *entryState) error {
	var key, typeURL, value []byte
	i := 0
	// Fast path: key, then an Any holding type_url and value.
	if has1(b, 0, 1<<3|wireBytes) {
		if k, j, ok := readLen(b, 1); ok && has1(b, j, 2<<3|wireBytes) {
			if a, j, ok := readLen(b, j+1); ok && j == len(b) && has1(a, 0, 1<<3|wireBytes) {
				if u, k2, ok := readLen(a, 1); ok && has1(a, k2, 2<<3|wireBytes) {
					if v, k2, ok := readLen(a, k2+1); ok && k2 == len(a) {
						key, typeURL, value, i = k, u, v, len(b)
					}
				}
			}
		}
	}
	for i < len(b) {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			key = p
		case 2<<3 | wireBytes:
			// The value occurring twice in one entry merges the two Any
			// messages field by field.
			if err := decodeAny(p, &typeURL, &value); err != nil {
				return wrap("value", err)
			}
		}
	}
	switch {
	case string(key) == FilterStateUpstream:
		applyPeer(&e.UpstreamPeer, st, 1, typeURL, value)
	case string(key) == FilterStateDownstream:
		applyPeer(&e.DownstreamPeer, st, 2, typeURL, value)
	case string(key) == FilterStateGRPCStats:
		e.HasGRPCStats, e.GRPCRequestMessages, e.GRPCResponseMessages = false, 0, 0
		if hasTypeName(typeURL, typeGRPCStatsObject) {
			if req, resp, ok := decodeGRPCStats(value); ok {
				e.HasGRPCStats, e.GRPCRequestMessages, e.GRPCResponseMessages = true, req, resp
			}
		}
	}
	return nil
}

// decodeAny decodes google.protobuf.Any, merging into *typeURL and *value.
func decodeAny(b []byte, typeURL, value *[]byte) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			*typeURL = p
		case 2<<3 | wireBytes:
			*value = p
		}
	}
	return nil
}

// applyPeer points *pp at the peer of a filter-state value (an Any with the
// given type URL and value). A value that is not a google.protobuf.Struct,
// or a Struct that proto.Unmarshal would reject, leaves *pp nil and sets bit
// in st.unknownPeers; this is not an error because proto.Unmarshal does not
// look inside an Any either.
func applyPeer(pp **Peer, st *entryState, bit uint8, typeURL, value []byte) {
	*pp = nil
	if !hasTypeName(typeURL, typeStruct) {
		st.unknownPeers |= bit
		return
	}
	// The peers of a message's entries repeat: an encoding seen before in
	// the message decodes to the same fields.
	m := st.msg
	fp := peerFingerprint(value)
	// At most MaxPeerMemo of the peerSlots slots are used, so the probe
	// meets an empty slot; it is bounded all the same.
	slot := -1
	for i, n := int(fp>>(64-peerShift)), 0; n < peerSlots; i, n = (i+1)&(peerSlots-1), n+1 {
		memo := m.peerIdx[i]
		if memo == 0 {
			slot = i
			break
		}
		if q := &m.peers[memo-1]; m.peerFP[memo-1] == fp && bytes.Equal(q.Raw, value) {
			*pp = q
			st.unknownPeers &^= bit
			return
		}
	}
	var p *Peer
	memo := slot >= 0 && m.npeers < MaxPeerMemo
	if memo {
		p = &m.peers[m.npeers]
		*p = Peer{}
	} else {
		p = m.extraPeer()
	}
	if !decodePeerStruct(value, p) {
		st.unknownPeers |= bit
		return
	}
	p.Present = true
	p.Raw = value
	st.unknownPeers &^= bit
	if memo {
		m.npeers++
		p.Memo = m.npeers
		m.peerFP[m.npeers-1] = fp
		m.peerIdx[slot] = m.npeers
	}
	*pp = p
}

// peerShift is log2(peerSlots).
const peerShift = 6

// peerFingerprint hashes the length and the first and last eight bytes of
// a peer encoding: enough to tell a message's few dozen peers apart
// (entries whose fingerprints match are still compared byte for byte)
// without reading the whole encoding twice.
func peerFingerprint(b []byte) uint64 {
	h := uint64(len(b)) * 0x9e3779b97f4a7c15
	if len(b) >= 8 {
		h ^= binary.LittleEndian.Uint64(b)
		h *= 0xbf58476d1ce4e5b9
		h ^= binary.LittleEndian.Uint64(b[len(b)-8:])
	} else {
		for _, c := range b {
			h = h<<8 | uint64(c)
		}
	}
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

// decodeGRPCStats decodes envoy.extensions.filters.http.grpc_stats.v3.FilterObject.
func decodeGRPCStats(b []byte) (req, resp uint64, ok bool) {
	for i := 0; i < len(b); {
		tag, v, _, j, fast := fastField(b, i)
		if !fast {
			if tag, v, _, j = nextField(b, i); j < 0 {
				return 0, 0, false
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			req = v
		case 2<<3 | wireVarint:
			resp = v
		}
	}
	return req, resp, true
}

// Struct decoding. The depth accounting mirrors proto.Unmarshal, which
// counts one level for each message and one for each map entry and fails
// when more than recursionLimit levels are nested.

// Value kinds tracked while decoding a google.protobuf.Value.
const (
	valueNone = iota
	valueString
	valueOther
)

// decodePeerStruct decodes a google.protobuf.Struct holding an Istio peer
// into p and reports whether the Struct is well formed (nested values are
// checked but not kept).
func decodePeerStruct(b []byte, p *Peer) bool {
	const depth = recursionLimit - 1 // the Struct itself
	for i := 0; i < len(b); {
		tag, _, q, j, ok := fastField(b, i)
		if !ok {
			if tag, _, q, j = nextField(b, i); j < 0 {
				return false
			}
		}
		i = j
		if tag != 1<<3|wireBytes {
			continue
		}
		// Fast path for the usual encoding of a string entry, with
		// peerField written out to save a call per key.
		if key, val, ok := splitPair(q); ok && len(val) >= 2 && val[0] == 3<<3|wireBytes && int(val[1]) == len(val)-2 {
			str := val[2:]
			switch len(key) {
			case 3:
				if string(key) == "app" {
					p.App = str
				}
			case 4:
				switch string(key) {
				case "name":
					p.Name = str
				case "type":
					p.Type = str
				}
			case 7:
				switch string(key) {
				case "cluster":
					p.Cluster = str
				case "service":
					p.Service = str
				case "version":
					p.Version = str
				}
			case 8:
				switch string(key) {
				case "workload":
					p.Workload = str
				case "revision":
					p.Revision = str
				case "identity":
					p.Identity = str
				}
			case 9:
				if string(key) == "namespace" {
					p.Namespace = str
				}
			}
			continue
		}
		key, kind, str, ok := decodeStructEntry(q, depth-1)
		if !ok {
			return false
		}
		if f := peerField(p, key); f != nil {
			if kind == valueString {
				*f = str
			} else {
				*f = nil
			}
		}
	}
	return true
}

// peerField returns the field of p that the Struct key names, or nil.
func peerField(p *Peer, key []byte) *[]byte {
	switch len(key) {
	case 3:
		if string(key) == "app" {
			return &p.App
		}
	case 4:
		switch string(key) {
		case "name":
			return &p.Name
		case "type":
			return &p.Type
		}
	case 7:
		switch string(key) {
		case "cluster":
			return &p.Cluster
		case "service":
			return &p.Service
		case "version":
			return &p.Version
		}
	case 8:
		switch string(key) {
		case "workload":
			return &p.Workload
		case "revision":
			return &p.Revision
		case "identity":
			return &p.Identity
		}
	case 9:
		if string(key) == "namespace" {
			return &p.Namespace
		}
	}
	return nil
}

// decodeStructEntry decodes one Struct.fields map entry (map<string, Value>)
// with depth levels left (the entry itself counts one), returning the key
// and the kind of the value (with the string if it is a string).
func decodeStructEntry(b []byte, depth int) (key []byte, kind int, str []byte, ok bool) {
	if depth < 0 {
		return nil, 0, nil, false
	}
	for i := 0; i < len(b); {
		tag, _, p, j, fast := fastField(b, i)
		if !fast {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return nil, 0, nil, false
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			key = p
		case 2<<3 | wireBytes:
			// The value occurring twice in one entry merges the two
			// Value messages.
			if !decodeValue(p, depth-1, &kind, &str) {
				return nil, 0, nil, false
			}
		}
	}
	return key, kind, str, true
}

// decodeValue decodes google.protobuf.Value with depth levels left, merging
// its kind oneof into *kind and *str.
func decodeValue(b []byte, depth int, kind *int, str *[]byte) bool {
	if depth < 0 {
		return false
	}
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return false
			}
		}
		i = j
		switch tag {
		case 3<<3 | wireBytes: // string_value
			*kind, *str = valueString, p
		case 1<<3 | wireVarint, 2<<3 | wireFixed64, 4<<3 | wireVarint: // null, number, bool
			*kind, *str = valueOther, nil
		case 5<<3 | wireBytes: // struct_value
			if !checkStruct(p, depth-1) {
				return false
			}
			*kind, *str = valueOther, nil
		case 6<<3 | wireBytes: // list_value
			if !checkList(p, depth-1) {
				return false
			}
			*kind, *str = valueOther, nil
		}
	}
	return true
}

// checkStruct reports whether b is a well-formed google.protobuf.Struct
// nested with depth levels left.
func checkStruct(b []byte, depth int) bool {
	if depth < 0 {
		return false
	}
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return false
			}
		}
		i = j
		if tag == 1<<3|wireBytes {
			if _, _, _, ok := decodeStructEntry(p, depth-1); !ok {
				return false
			}
		}
	}
	return true
}

// checkList reports whether b is a well-formed google.protobuf.ListValue
// nested with depth levels left.
func checkList(b []byte, depth int) bool {
	if depth < 0 {
		return false
	}
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return false
			}
		}
		i = j
		if tag == 1<<3|wireBytes {
			var kind int
			var str []byte
			if !decodeValue(p, depth-1, &kind, &str) {
				return false
			}
		}
	}
	return true
}

// decodeRequest decodes envoy.data.accesslog.v3.HTTPRequestProperties,
// merging into e.
func decodeRequest(b []byte, e *Entry) error {
	var (
		i, j int
		p    []byte
		v    uint64
		ok   bool
	)
	// Stage one: the fields in field-number order (see has1).
	if has1(b, i, 1<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.Method = uint32(v)
		i = j
	}
	if has1(b, i, 2<<3|wireBytes) {
		if e.Scheme, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 3<<3|wireBytes) {
		if e.Authority, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 4<<3|wireBytes) { // port
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 5<<3|wireBytes) {
		if e.Path, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 6<<3|wireBytes) {
		if e.UserAgent, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 7<<3|wireBytes) { // referer
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 8<<3|wireBytes) {
		if e.ForwardedFor, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 9<<3|wireBytes) {
		if e.RequestID, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 10<<3|wireBytes) { // original_path
		if _, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if has1(b, i, 11<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.RequestHeadersBytes = v
		i = j
	}
	if has1(b, i, 12<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.RequestBodyBytes = v
		i = j
	}
	for has1(b, i, 13<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		key, val, ok := splitPair(p)
		if !ok {
			goto general
		}
		if dst := requestHeader(e, key); dst != nil {
			*dst = val
		}
		i = j
	}
	if has1(b, i, 14<<3|wireVarint) { // upstream_header_bytes_sent
		if _, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		i = j
	}
	if has1(b, i, 15<<3|wireVarint) { // downstream_header_bytes_received
		if _, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		i = j
	}
	if i == len(b) {
		return nil
	}
general:
	return decodeRequestFields(b, i, e)
}

// decodeRequestFields is the general loop of decodeRequest, from b[i:].
func decodeRequestFields(b []byte, i int, e *Entry) error {
	for i < len(b) {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			e.Method = uint32(v)
		case 2<<3 | wireBytes:
			e.Scheme = p
		case 3<<3 | wireBytes:
			e.Authority = p
		case 5<<3 | wireBytes:
			e.Path = p
		case 6<<3 | wireBytes:
			e.UserAgent = p
		case 8<<3 | wireBytes:
			e.ForwardedFor = p
		case 9<<3 | wireBytes:
			e.RequestID = p
		case 11<<3 | wireVarint:
			e.RequestHeadersBytes = v
		case 12<<3 | wireVarint:
			e.RequestBodyBytes = v
		case 13<<3 | wireBytes:
			key, val, ok := splitPair(p)
			if !ok {
				var err error
				if key, val, err = decodeStringMapEntry(p); err != nil {
					return wrap("request_headers", err)
				}
			}
			if dst := requestHeader(e, key); dst != nil {
				*dst = val
			}
		}
	}
	return nil
}

// requestHeader returns the field of e for the request header named key
// (ASCII case-insensitive), or nil.
func requestHeader(e *Entry, key []byte) *[]byte {
	// Envoy writes header names in lower case, so exact matches come first:
	// comparisons with constants compile to a few loads.
	switch len(key) {
	case 2:
		if string(key) == HeaderB3 {
			return &e.B3
		}
	case 10:
		if string(key) == HeaderTracestate {
			return &e.Tracestate
		}
	case 11:
		if string(key) == HeaderTraceparent {
			return &e.Traceparent
		}
		if string(key) == HeaderB3SpanID {
			return &e.B3SpanID
		}
	case 12:
		if string(key) == HeaderContentType {
			return &e.ContentType
		}
		if string(key) == HeaderB3TraceID {
			return &e.B3TraceID
		}
		if string(key) == HeaderB3Sampled {
			return &e.B3Sampled
		}
	case 17:
		if string(key) == HeaderB3ParentSpanID {
			return &e.B3ParentSpanID
		}
	default:
		return nil
	}
	return requestHeaderFold(e, key)
}

// requestHeaderFold is requestHeader for names that are not in lower case.
func requestHeaderFold(e *Entry, key []byte) *[]byte {
	for _, h := range [...]struct {
		name string
		dst  *[]byte
	}{
		{HeaderB3, &e.B3},
		{HeaderTracestate, &e.Tracestate},
		{HeaderTraceparent, &e.Traceparent},
		{HeaderB3SpanID, &e.B3SpanID},
		{HeaderContentType, &e.ContentType},
		{HeaderB3TraceID, &e.B3TraceID},
		{HeaderB3Sampled, &e.B3Sampled},
		{HeaderB3ParentSpanID, &e.B3ParentSpanID},
	} {
		if equalFold(key, h.name) {
			return h.dst
		}
	}
	return nil
}

// isGRPCStatus reports whether key is grpc-status, ignoring ASCII case.
func isGRPCStatus(key []byte) bool {
	return string(key) == HeaderGRPCStatus || equalFold(key, HeaderGRPCStatus)
}

// equalFold reports whether b equals the lower-case ASCII string s, ignoring
// ASCII case in b.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// splitPair recognizes the usual encoding of a map entry: the key (field 1)
// and then the value (field 2), both length-delimited and shorter than 128
// bytes, and nothing else. It reports ok false for any other layout, which
// the caller then decodes field by field.
func splitPair(b []byte) (key, val []byte, ok bool) {
	if len(b) < 4 || b[0] != 1<<3|wireBytes || b[1] >= 0x80 {
		return
	}
	k := 2 + int(b[1]) // index of the value's tag
	if k+2 > len(b) || b[k] != 2<<3|wireBytes || b[k+1] >= 0x80 || int(b[k+1]) != len(b)-k-2 {
		return
	}
	return b[2:k:k], b[k+2:], true
}

// decodeStringMapEntry decodes an entry of a map<string, string>.
func decodeStringMapEntry(b []byte) (key, val []byte, err error) {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return nil, nil, fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			key = p
		case 2<<3 | wireBytes:
			val = p
		}
	}
	return key, val, nil
}

// decodeResponse decodes envoy.data.accesslog.v3.HTTPResponseProperties,
// merging into e.
func decodeResponse(b []byte, e *Entry) error {
	var (
		i, j int
		p    []byte
		v    uint64
		ok   bool
	)
	// Stage one: the fields in field-number order (see has1).
	if has1(b, i, 1<<3|wireBytes) {
		// response_code, a UInt32Value holding only its value.
		if p, j, ok = readLen(b, i+1); !ok || !has1(p, 0, 1<<3|wireVarint) {
			goto general
		}
		v, k := uvarint(p, 1)
		if k != len(p) {
			goto general
		}
		e.HasResponseCode, e.ResponseCode = true, uint32(v)
		i = j
	}
	if has1(b, i, 2<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.ResponseHeadersBytes = v
		i = j
	}
	if has1(b, i, 3<<3|wireVarint) {
		if v, j = uvarint(b, i+1); j < 0 {
			goto general
		}
		e.ResponseBodyBytes = v
		i = j
	}
	for has1(b, i, 4<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		key, val, ok := splitPair(p)
		if !ok {
			goto general
		}
		if isGRPCStatus(key) {
			e.GRPCStatusHeader = val
		}
		i = j
	}
	for has1(b, i, 5<<3|wireBytes) {
		if p, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		key, val, ok := splitPair(p)
		if !ok {
			goto general
		}
		if isGRPCStatus(key) {
			e.GRPCStatusTrailer = val
		}
		i = j
	}
	if has1(b, i, 6<<3|wireBytes) {
		if e.ResponseCodeDetails, j, ok = readLen(b, i+1); !ok {
			goto general
		}
		i = j
	}
	if i == len(b) {
		return nil
	}
general:
	return decodeResponseFields(b, i, e)
}

// decodeResponseFields is the general loop of decodeResponse, from b[i:].
func decodeResponseFields(b []byte, i int, e *Entry) error {
	for i < len(b) {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			e.HasResponseCode = true
			if err := decodeUInt32Value(p, &e.ResponseCode); err != nil {
				return wrap("response_code", err)
			}
		case 2<<3 | wireVarint:
			e.ResponseHeadersBytes = v
		case 3<<3 | wireVarint:
			e.ResponseBodyBytes = v
		case 4<<3 | wireBytes, 5<<3 | wireBytes:
			name, dst := "response_headers", &e.GRPCStatusHeader
			if tag>>3 == 5 {
				name, dst = "response_trailers", &e.GRPCStatusTrailer
			}
			key, val, ok := splitPair(p)
			if !ok {
				var err error
				if key, val, err = decodeStringMapEntry(p); err != nil {
					return wrap(name, err)
				}
			}
			if isGRPCStatus(key) {
				*dst = val
			}
		case 6<<3 | wireBytes:
			e.ResponseCodeDetails = p
		}
	}
	return nil
}

// decodeUInt32Value decodes google.protobuf.UInt32Value, merging into *v.
func decodeUInt32Value(b []byte, v *uint32) error {
	for i := 0; i < len(b); {
		tag, x, _, j, ok := fastField(b, i)
		if !ok {
			if tag, x, _, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag == 1<<3|wireVarint {
			*v = uint32(x)
		}
	}
	return nil
}
