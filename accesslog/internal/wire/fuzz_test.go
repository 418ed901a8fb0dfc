package wire

import (
	"errors"
	"strings"
	"testing"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// everyField returns, for a message reached through wrap, one encoding per
// wire type holding fields 1..35 of that wire type, so that the fuzzer
// starts from every known and unknown field number.
func everyField(wrap func([]byte) []byte) [][]byte {
	var out [][]byte
	for _, typ := range []protowire.Type{protowire.VarintType, protowire.BytesType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.StartGroupType} {
		var b []byte
		for num := protowire.Number(1); num <= 35; num++ {
			switch typ {
			case protowire.VarintType:
				b = append(b, varintField(num, 1)...)
			case protowire.BytesType:
				b = append(b, strField(num, "")...)
			case protowire.Fixed32Type:
				b = append(b, fixed32Field(num, 1)...)
			case protowire.Fixed64Type:
				b = append(b, fixed64Field(num, 1)...)
			case protowire.StartGroupType:
				b = append(b, groupField(num)...)
			}
		}
		out = append(out, wrap(b))
	}
	return out
}

// fuzzSeeds returns the seed corpus: the real samples, the unit-test
// messages, every field number of every message the decoder reads, and
// truncations.
func fuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, s := range loadSamples(tb) {
		seeds = append(seeds, s.wire)
	}
	full := mustMarshal(tb, fullMessage(tb))
	seeds = append(seeds, full, mustMarshal(tb, istioBatch(2)))
	for _, tc := range semanticCases() {
		seeds = append(seeds, tc.wire)
	}
	for _, tc := range errorCases() {
		if len(tc.wire) < 1000 { // skip the deep group nesting
			seeds = append(seeds, tc.wire)
		}
	}
	entry := func(b []byte) []byte { return httpMsg(b) }
	cp := func(b []byte) []byte { return entry(common(b)) }
	for _, wrap := range []func([]byte) []byte{
		func(b []byte) []byte { return b },
		func(b []byte) []byte { return msgField(1, b) },              // identifier
		func(b []byte) []byte { return msgField(1, msgField(1, b)) }, // node
		func(b []byte) []byte { return msgField(2, b) },              // http_logs
		func(b []byte) []byte { return msgField(3, b) },              // tcp_logs
		entry, // HTTPAccessLogEntry
		func(b []byte) []byte { return msgField(3, msgField(1, b)) },              // TCPAccessLogEntry
		func(b []byte) []byte { return msgField(3, msgField(1, msgField(2, b))) }, // connection_properties
		cp, // AccessLogCommon
		func(b []byte) []byte { return cp(msgField(2, b)) },                                    // Address
		func(b []byte) []byte { return cp(msgField(2, msgField(1, b))) },                       // SocketAddress
		func(b []byte) []byte { return cp(msgField(3, msgField(2, b))) },                       // Pipe
		func(b []byte) []byte { return cp(msgField(20, msgField(3, b))) },                      // EnvoyInternalAddress
		func(b []byte) []byte { return cp(msgField(4, b)) },                                    // TLSProperties
		func(b []byte) []byte { return cp(msgField(4, msgField(4, b))) },                       // CertificateProperties
		func(b []byte) []byte { return cp(msgField(4, msgField(5, msgField(1, b)))) },          // SubjectAltName
		func(b []byte) []byte { return cp(msgField(5, b)) },                                    // Timestamp
		func(b []byte) []byte { return cp(msgField(23, b)) },                                   // Duration
		func(b []byte) []byte { return cp(msgField(16, b)) },                                   // ResponseFlags
		func(b []byte) []byte { return cp(msgField(16, msgField(13, b))) },                     // Unauthorized
		func(b []byte) []byte { return cp(msgField(21, strField(1, FilterStateUpstream), b)) }, // map entry
		func(b []byte) []byte { // Any
			return cp(msgField(21, strField(1, FilterStateUpstream), msgField(2, b)))
		},
		func(b []byte) []byte { // Struct
			return cp(msgField(21, strField(1, FilterStateUpstream), msgField(2, strField(1, "google.protobuf.Struct"), msgField(2, b))))
		},
		func(b []byte) []byte { // Value
			return cp(msgField(21, strField(1, FilterStateDownstream), msgField(2, strField(1, "google.protobuf.Struct"),
				msgField(2, msgField(1, strField(1, "name"), msgField(2, b))))))
		},
		func(b []byte) []byte { // FilterObject
			return cp(msgField(21, strField(1, FilterStateGRPCStats), msgField(2, strField(1, "x/"+typeGRPCStatsObject), msgField(2, b))))
		},
		func(b []byte) []byte { return entry(msgField(3, b)) },               // HTTPRequestProperties
		func(b []byte) []byte { return entry(msgField(3, msgField(13, b))) }, // request_headers entry
		func(b []byte) []byte { return entry(msgField(4, b)) },               // HTTPResponseProperties
		func(b []byte) []byte { return entry(msgField(4, msgField(1, b))) },  // UInt32Value
		func(b []byte) []byte { return entry(msgField(4, msgField(5, b))) },  // response_trailers entry
	} {
		seeds = append(seeds, everyField(wrap)...)
	}
	for n := 1; n < len(full); n += 31 {
		seeds = append(seeds, full[:n])
	}
	return seeds
}

// FuzzDecodeAccessLogs checks DecodeAccessLogs against proto.Unmarshal: an
// input the decoder rejects must be rejected by proto.Unmarshal too, and an
// input proto.Unmarshal accepts must decode to the view computed from the
// proto message. The decoder may accept what proto.Unmarshal rejects
// (invalid UTF-8, damage inside fields it skips).
func FuzzDecodeAccessLogs(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// Every input is decoded into a Message that already holds entries,
	// to check that reused entries are reset.
	dirty := mustMarshal(f, fullMessage(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeAccessLogs(dirty, &m); err != nil {
			t.Fatal(err)
		}
		err := DecodeAccessLogs(b, &m)
		var pm alsv3.StreamAccessLogsMessage
		perr := proto.Unmarshal(b, &pm)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not match ErrMalformed", err)
			}
			if perr == nil {
				t.Fatalf("decoder rejects what proto.Unmarshal accepts: %v", err)
			}
			return
		}
		if perr != nil {
			return
		}
		x := expectFromProto(&pm)
		if x.unpredictable != "" {
			return
		}
		if d := diffViews(&m, &x); len(d) > 0 {
			t.Fatalf("view differs from proto.Unmarshal:\n%s", strings.Join(d, "\n"))
		}
	})
}

// The structured fuzz target below turns the fuzz input into a stream of
// choices that drive a generator of StreamAccessLogsMessage encodings: every
// field the decoder reads (and many it skips) can appear any number of
// times, in any order, with the right or a wrong wire type, mixed with
// unknown fields and groups. Strings come from small ASCII dictionaries, so
// proto.Unmarshal nearly always succeeds and the comparison with the oracle
// runs on every input, which raw-byte fuzzing rarely achieves.

// kind is what a field of the generator's schema holds.
type kind int

const (
	kVarint kind = iota
	kFixed64
	kString
	kMessage // a sub-message of the named type
	kAnyValue
)

type fieldSpec struct {
	num  protowire.Number
	kind kind
	msg  string
	dict []string
}

var (
	dictNames   = []string{"", "a", "b", "outbound|9080||reviews.default.svc.cluster.local", "10.0.0.1", "/p", "x"}
	dictPeerKey = []string{"", "app", "name", "namespace", "cluster", "service", "revision", "version", "workload", "identity", "type", "labels", "other"}
	dictFSKey   = []string{"", FilterStateUpstream, FilterStateDownstream, FilterStateGRPCStats, "wasm.upstream_peer", "other"}
	dictTypeURL = []string{
		"", "type.googleapis.com/google.protobuf.Struct", "google.protobuf.Struct", "x/google.protobuf.StructX",
		"type.googleapis.com/" + typeGRPCStatsObject, "type.googleapis.com/google.protobuf.BytesValue",
	}
	dictHeader = []string{
		"", HeaderContentType, "Content-Type", HeaderTraceparent, HeaderTracestate, HeaderB3, HeaderB3TraceID,
		"X-B3-SpanId", HeaderB3SpanID, HeaderB3ParentSpanID, HeaderB3Sampled, HeaderGRPCStatus, "Grpc-Status", "other",
	}
	varints = []uint64{0, 1, 2, 3, 13, 127, 128, 300, 1<<31 - 1, 1 << 31, 1<<32 + 5, 1 << 63, 1<<64 - 1}
)

var schema = map[string][]fieldSpec{
	"msg":         {{1, kMessage, "ident", nil}, {2, kMessage, "httpEntries", nil}, {3, kMessage, "tcpEntries", nil}},
	"ident":       {{1, kMessage, "node", nil}, {2, kString, "", dictNames}},
	"node":        {{1, kString, "", dictNames}, {2, kString, "", dictNames}, {3, kMessage, "struct", nil}, {5, kString, "", dictNames}, {6, kString, "", dictNames}},
	"httpEntries": {{1, kMessage, "httpEntry", nil}},
	"tcpEntries":  {{1, kMessage, "tcpEntry", nil}},
	"httpEntry":   {{1, kMessage, "common", nil}, {2, kVarint, "", nil}, {3, kMessage, "request", nil}, {4, kMessage, "response", nil}},
	"tcpEntry":    {{1, kMessage, "common", nil}, {2, kMessage, "conn", nil}},
	"conn":        {{1, kVarint, "", nil}, {2, kVarint, "", nil}},
	"common": {
		{1, kFixed64, "", nil},
		{2, kMessage, "address", nil},
		{3, kMessage, "address", nil},
		{4, kMessage, "tls", nil},
		{5, kMessage, "timestamp", nil},
		{6, kMessage, "timestamp", nil},
		{7, kMessage, "timestamp", nil},
		{12, kMessage, "timestamp", nil},
		{13, kMessage, "address", nil},
		{14, kMessage, "address", nil},
		{15, kString, "", dictNames},
		{16, kMessage, "flags", nil},
		{18, kString, "", dictNames},
		{19, kString, "", dictNames},
		{20, kMessage, "address", nil},
		{21, kMessage, "fsEntry", nil},
		{22, kMessage, "strEntry", nil},
		{23, kMessage, "timestamp", nil},
		{24, kVarint, "", nil},
		{26, kString, "", dictNames},
		{27, kVarint, "", nil},
		{29, kVarint, "", nil},
		{30, kVarint, "", nil},
		{31, kVarint, "", nil},
		{32, kVarint, "", nil},
		{33, kVarint, "", nil},
	},
	"address":   {{1, kMessage, "socket", nil}, {2, kMessage, "pipe", nil}, {3, kMessage, "internal", nil}},
	"socket":    {{1, kVarint, "", nil}, {2, kString, "", dictNames}, {3, kVarint, "", nil}, {4, kString, "", dictNames}, {5, kString, "", dictNames}},
	"pipe":      {{1, kString, "", dictNames}, {2, kVarint, "", nil}},
	"internal":  {{1, kString, "", dictNames}, {2, kString, "", dictNames}},
	"tls":       {{1, kVarint, "", nil}, {2, kMessage, "uint32", nil}, {3, kString, "", dictNames}, {4, kMessage, "cert", nil}, {5, kMessage, "cert", nil}, {6, kString, "", dictNames}},
	"cert":      {{1, kMessage, "san", nil}, {2, kString, "", dictNames}, {3, kString, "", dictNames}},
	"san":       {{1, kString, "", dictNames}, {2, kString, "", dictNames}},
	"timestamp": {{1, kVarint, "", nil}, {2, kVarint, "", nil}},
	"flags": {
		{1, kVarint, "", nil},
		{2, kVarint, "", nil},
		{5, kVarint, "", nil},
		{12, kVarint, "", nil},
		{13, kMessage, "unauth", nil},
		{14, kVarint, "", nil},
		{27, kVarint, "", nil},
		{28, kVarint, "", nil},
	},
	"unauth":      {{1, kVarint, "", nil}},
	"fsEntry":     {{1, kString, "", dictFSKey}, {2, kMessage, "any", nil}},
	"any":         {{1, kString, "", dictTypeURL}, {2, kAnyValue, "", nil}},
	"struct":      {{1, kMessage, "structEntry", nil}},
	"structEntry": {{1, kString, "", dictPeerKey}, {2, kMessage, "value", nil}},
	"value": {
		{1, kVarint, "", nil},
		{2, kFixed64, "", nil},
		{3, kString, "", dictNames},
		{4, kVarint, "", nil},
		{5, kMessage, "struct", nil},
		{6, kMessage, "list", nil},
	},
	"list":         {{1, kMessage, "value", nil}},
	"filterObject": {{1, kVarint, "", nil}, {2, kVarint, "", nil}},
	"request": {
		{1, kVarint, "", nil},
		{2, kString, "", dictNames},
		{3, kString, "", dictNames},
		{4, kMessage, "uint32", nil},
		{5, kString, "", dictNames},
		{6, kString, "", dictNames},
		{8, kString, "", dictNames},
		{9, kString, "", dictNames},
		{11, kVarint, "", nil},
		{12, kVarint, "", nil},
		{13, kMessage, "strEntry", nil},
	},
	"strEntry": {{1, kString, "", dictHeader}, {2, kString, "", dictNames}},
	"response": {
		{1, kMessage, "uint32", nil},
		{2, kVarint, "", nil},
		{3, kVarint, "", nil},
		{4, kMessage, "strEntry", nil},
		{5, kMessage, "strEntry", nil},
		{6, kString, "", dictNames},
	},
	"uint32": {{1, kVarint, "", nil}},
}

// generator draws choices from the fuzz input (zero once it runs out).
type generator struct {
	in []byte
}

func (g *generator) next() int {
	if len(g.in) == 0 {
		return 0
	}
	c := g.in[0]
	g.in = g.in[1:]
	return int(c)
}

// message generates an encoding of the schema message typ.
func (g *generator) message(typ string, depth int) []byte {
	if depth > 7 {
		return nil
	}
	fields := schema[typ]
	var b []byte
	for n := g.next() % 6; n > 0; n-- {
		c := g.next()
		if c%(len(fields)+1) == len(fields) {
			// An unknown field of some wire type, sometimes a group.
			num := protowire.Number(100 + c%3)
			switch g.next() % 5 {
			case 0:
				b = append(b, varintField(num, varints[g.next()%len(varints)])...)
			case 1:
				b = append(b, fixed64Field(num, 1)...)
			case 2:
				b = append(b, fixed32Field(num, 1)...)
			case 3:
				b = append(b, strField(num, "u")...)
			case 4:
				b = append(b, groupField(num, g.message("conn", depth+1))...)
			}
			continue
		}
		f := fields[c%len(fields)]
		if g.next()%16 == 0 {
			// The right field number with a wrong wire type.
			switch f.kind {
			case kVarint:
				b = append(b, strField(f.num, "w")...)
			default:
				b = append(b, varintField(f.num, 1)...)
			}
			continue
		}
		switch f.kind {
		case kVarint:
			b = append(b, varintField(f.num, varints[g.next()%len(varints)])...)
		case kFixed64:
			b = append(b, fixed64Field(f.num, uint64(g.next()))...)
		case kString:
			b = append(b, strField(f.num, f.dict[g.next()%len(f.dict)])...)
		case kMessage:
			b = append(b, msgField(f.num, g.message(f.msg, depth+1))...)
		case kAnyValue:
			var v []byte
			switch g.next() % 4 {
			case 0, 1:
				v = g.message("struct", depth+1)
			case 2:
				v = g.message("filterObject", depth+1)
			case 3:
				n := g.next() % 8
				for i := 0; i < n; i++ {
					v = append(v, byte(g.next()))
				}
			}
			b = append(b, msgField(f.num, v)...)
		}
	}
	return b
}

// FuzzDecodeAccessLogsStructured checks the decoder against the oracle on
// generated, mostly valid messages.
func FuzzDecodeAccessLogsStructured(f *testing.F) {
	for _, seed := range []string{
		"", "\x01\x01", "\x05\x01\x01\x02\x01\x03\x01\x04\x01\x05",
		"\x03\x01\x00\x04\x00\x01\x03\x00\x04\x00\x03\x00",
		"\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		g := &generator{in: in}
		b := g.message("msg", 0)
		var m Message
		err := DecodeAccessLogs(b, &m)
		var pm alsv3.StreamAccessLogsMessage
		perr := proto.Unmarshal(b, &pm)
		if err != nil {
			if perr == nil {
				t.Fatalf("decoder rejects what proto.Unmarshal accepts: %v\n%x", err, b)
			}
			return
		}
		if perr != nil {
			return
		}
		x := expectFromProto(&pm)
		if x.unpredictable != "" {
			return
		}
		if d := diffViews(&m, &x); len(d) > 0 {
			t.Fatalf("view differs from proto.Unmarshal for %x:\n%s", b, strings.Join(d, "\n"))
		}
	})
}
