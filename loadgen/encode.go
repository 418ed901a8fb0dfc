package loadgen

import (
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Entry encoding.
//
// proto.Marshal with Deterministic (needed for byte-identical output) sorts
// map keys through reflection, which was about a quarter of the generation
// cost. The encoder below marshals each sub-message with its map fields
// detached (so no map is left and the output is canonical without the
// Deterministic option), encodes the maps itself with sorted keys, and
// splices them in at their field-number position. The result is exactly the
// bytes proto.MarshalOptions{Deterministic: true} produces (checked by
// TestMessagesRoundTripAndValidate).

// Field numbers of the map fields and of the entry layouts.
const (
	fieldCommonFilterState  protowire.Number = 21 // AccessLogCommon.filter_state_objects
	fieldRequestHeaders     protowire.Number = 13 // HTTPRequestProperties.request_headers
	fieldResponseHeaders    protowire.Number = 4  // HTTPResponseProperties.response_headers
	fieldResponseTrailers   protowire.Number = 5  // HTTPResponseProperties.response_trailers
	fieldEntryCommon        protowire.Number = 1  // {HTTP,TCP}AccessLogEntry.common_properties
	fieldEntryProtocol      protowire.Number = 2  // HTTPAccessLogEntry.protocol_version
	fieldEntryRequest       protowire.Number = 3  // HTTPAccessLogEntry.request
	fieldEntryResponse      protowire.Number = 4  // HTTPAccessLogEntry.response
	fieldEntryConnectionTCP protowire.Number = 2  // TCPAccessLogEntry.connection_properties
)

var plain = proto.MarshalOptions{}

// sortedKeys returns the keys of m in lexicographic order (Go's
// deterministic map order for string keys) without allocating for small maps.
func sortedKeys[V any](m map[string]V, buf *[8]string) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func sizeStringEntry(num protowire.Number, k, v string) int {
	inner := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
	return protowire.SizeTag(num) + protowire.SizeBytes(inner)
}

func appendStringMap(b []byte, num protowire.Number, m map[string]string) []byte {
	var buf [8]string
	for _, k := range sortedKeys(m, &buf) {
		v := m[k]
		inner := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(len(v))
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(inner))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

func sizeStringMap(num protowire.Number, m map[string]string) int {
	n := 0
	for k, v := range m {
		n += sizeStringEntry(num, k, v)
	}
	return n
}

func sizeAny(a *anypb.Any) int {
	n := 0
	if a.TypeUrl != "" {
		n += protowire.SizeTag(1) + protowire.SizeBytes(len(a.TypeUrl))
	}
	if len(a.Value) > 0 {
		n += protowire.SizeTag(2) + protowire.SizeBytes(len(a.Value))
	}
	return n
}

func sizeAnyEntry(num protowire.Number, k string, a *anypb.Any) int {
	inner := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(sizeAny(a))
	return protowire.SizeTag(num) + protowire.SizeBytes(inner)
}

func sizeAnyMap(num protowire.Number, m map[string]*anypb.Any) int {
	n := 0
	for k, a := range m {
		n += sizeAnyEntry(num, k, a)
	}
	return n
}

func appendAnyMap(b []byte, num protowire.Number, m map[string]*anypb.Any) []byte {
	var buf [8]string
	for _, k := range sortedKeys(m, &buf) {
		a := m[k]
		as := sizeAny(a)
		inner := protowire.SizeTag(1) + protowire.SizeBytes(len(k)) + protowire.SizeTag(2) + protowire.SizeBytes(as)
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(inner))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(as))
		if a.TypeUrl != "" {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, a.TypeUrl)
		}
		if len(a.Value) > 0 {
			b = protowire.AppendTag(b, 2, protowire.BytesType)
			b = protowire.AppendBytes(b, a.Value)
		}
	}
	return b
}

// splitAfter returns the offset of the first top-level field of enc whose
// number is greater than num (len(enc) if none).
func splitAfter(enc []byte, num protowire.Number) int {
	off := 0
	for off < len(enc) {
		n, typ, tl := protowire.ConsumeTag(enc[off:])
		if tl < 0 || n > num {
			return off
		}
		vl := protowire.ConsumeFieldValue(n, typ, enc[off+tl:])
		if vl < 0 {
			return off
		}
		off += tl + vl
	}
	return off
}

// part is an encoded sub-message with map fields to splice in.
type part struct {
	enc   []byte
	split int
	size  int // total size including the maps
}

func (g *generator) marshalPart(scratch *[]byte, m proto.Message, mapNum protowire.Number, mapSize int) part {
	out, err := plain.MarshalAppend((*scratch)[:0], m)
	if err != nil {
		panic("loadgen: encode entry: " + err.Error())
	}
	*scratch = out
	return part{enc: out, split: splitAfter(out, mapNum), size: len(out) + mapSize}
}

func (g *generator) reserve(n int) {
	if cap(g.arena)-len(g.arena) < n {
		g.arena = make([]byte, 0, max(arenaChunk, n))
	}
}

// encodeHTTP encodes en exactly as deterministic proto.Marshal would.
// It temporarily detaches en's maps.
func (g *generator) encodeHTTP(en *accesslogv3.HTTPAccessLogEntry) []byte {
	c, req, resp := en.CommonProperties, en.Request, en.Response
	fso, rh := c.FilterStateObjects, req.RequestHeaders
	rsh, rst := resp.ResponseHeaders, resp.ResponseTrailers
	c.FilterStateObjects, req.RequestHeaders, resp.ResponseHeaders, resp.ResponseTrailers = nil, nil, nil, nil
	defer func() {
		c.FilterStateObjects, req.RequestHeaders, resp.ResponseHeaders, resp.ResponseTrailers = fso, rh, rsh, rst
	}()

	pc := g.marshalPart(&g.scratch[0], c, fieldCommonFilterState, sizeAnyMap(fieldCommonFilterState, fso))
	pq := g.marshalPart(&g.scratch[1], req, fieldRequestHeaders, sizeStringMap(fieldRequestHeaders, rh))
	pr := g.marshalPart(&g.scratch[2], resp, fieldResponseHeaders,
		sizeStringMap(fieldResponseHeaders, rsh)+sizeStringMap(fieldResponseTrailers, rst))

	total := protowire.SizeTag(fieldEntryCommon) + protowire.SizeBytes(pc.size) +
		protowire.SizeTag(fieldEntryRequest) + protowire.SizeBytes(pq.size) +
		protowire.SizeTag(fieldEntryResponse) + protowire.SizeBytes(pr.size)
	if en.ProtocolVersion != 0 {
		total += protowire.SizeTag(fieldEntryProtocol) + protowire.SizeVarint(uint64(en.ProtocolVersion))
	}
	g.reserve(total)
	start := len(g.arena)
	b := g.arena

	b = protowire.AppendTag(b, fieldEntryCommon, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(pc.size))
	b = append(b, pc.enc[:pc.split]...)
	b = appendAnyMap(b, fieldCommonFilterState, fso)
	b = append(b, pc.enc[pc.split:]...)
	if en.ProtocolVersion != 0 {
		b = protowire.AppendTag(b, fieldEntryProtocol, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(en.ProtocolVersion))
	}
	b = protowire.AppendTag(b, fieldEntryRequest, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(pq.size))
	b = append(b, pq.enc[:pq.split]...)
	b = appendStringMap(b, fieldRequestHeaders, rh)
	b = append(b, pq.enc[pq.split:]...)
	b = protowire.AppendTag(b, fieldEntryResponse, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(pr.size))
	b = append(b, pr.enc[:pr.split]...)
	b = appendStringMap(b, fieldResponseHeaders, rsh)
	b = appendStringMap(b, fieldResponseTrailers, rst)
	b = append(b, pr.enc[pr.split:]...)

	g.arena = b
	return b[start:len(b):len(b)]
}

// encodeTCP encodes en exactly as deterministic proto.Marshal would.
func (g *generator) encodeTCP(en *accesslogv3.TCPAccessLogEntry) []byte {
	c := en.CommonProperties
	fso := c.FilterStateObjects
	c.FilterStateObjects = nil
	defer func() { c.FilterStateObjects = fso }()

	pc := g.marshalPart(&g.scratch[0], c, fieldCommonFilterState, sizeAnyMap(fieldCommonFilterState, fso))
	cp, err := plain.MarshalAppend(g.scratch[1][:0], en.ConnectionProperties)
	if err != nil {
		panic("loadgen: encode entry: " + err.Error())
	}
	g.scratch[1] = cp
	total := protowire.SizeTag(fieldEntryCommon) + protowire.SizeBytes(pc.size)
	if en.ConnectionProperties != nil {
		total += protowire.SizeTag(fieldEntryConnectionTCP) + protowire.SizeBytes(len(cp))
	}
	g.reserve(total)
	start := len(g.arena)
	b := g.arena
	b = protowire.AppendTag(b, fieldEntryCommon, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(pc.size))
	b = append(b, pc.enc[:pc.split]...)
	b = appendAnyMap(b, fieldCommonFilterState, fso)
	b = append(b, pc.enc[pc.split:]...)
	if en.ConnectionProperties != nil {
		b = protowire.AppendTag(b, fieldEntryConnectionTCP, protowire.BytesType)
		b = protowire.AppendBytes(b, cp)
	}
	g.arena = b
	return b[start:len(b):len(b)]
}
