package wire

import (
	"bytes"
	"encoding/binary"
)

// This file decodes the filter_state_objects entries of AccessLogCommon
// (map<string, google.protobuf.Any>), the Istio peers they hold (memoised
// per message) and envoy.extensions.filters.http.grpc_stats.v3.FilterObject.

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
