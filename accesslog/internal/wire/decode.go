package wire

// This file decodes the top level:
// envoy.service.accesslog.v3.StreamAccessLogsMessage, its Identifier and
// envoy.config.core.v3.Node.

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
