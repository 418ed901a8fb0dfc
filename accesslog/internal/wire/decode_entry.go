package wire

import "fmt"

// This file decodes the log entries: HTTPAccessLogEntries and
// TCPAccessLogEntries, envoy.data.accesslog.v3.HTTPAccessLogEntry,
// TCPAccessLogEntry and ConnectionProperties.

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
