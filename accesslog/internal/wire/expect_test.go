package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/data/accesslog/v3"
	grpcstatsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/grpc_stats/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file computes, from a message decoded by proto.Unmarshal and read
// only through the generated getters, the view DecodeAccessLogs must
// produce, and compares views. It is the oracle of the unit, sample and fuzz
// tests.

// expectation is the view expected for one message.
type expectation struct {
	msg Message
	// unpredictable is non-empty when the view cannot be predicted from
	// the proto message (a filter-state Struct holds invalid UTF-8, which
	// proto.Unmarshal rejects but the decoder accepts); it says why.
	unpredictable string
	// alts lists fields whose value is ambiguous: the request or response
	// header map holds several keys that differ only in case (a Go map
	// does not keep their order, so which one was last is unknown).
	alts []alternative
}

// alternative says that field of entry may be any of values.
type alternative struct {
	entry  int
	field  string
	values [][]byte
}

// expectFromProto computes the expected view of msg.
func expectFromProto(msg *alsv3.StreamAccessLogsMessage) expectation {
	var x expectation
	m := &x.msg
	if id := msg.GetIdentifier(); id != nil {
		m.Identifier.Present = true
		m.Identifier.LogName = bs(id.GetLogName())
		if node := id.GetNode(); node != nil {
			m.Identifier.Node.ID = bs(node.GetId())
			m.Identifier.Node.Cluster = bs(node.GetCluster())
			if md := node.GetMetadata(); md != nil {
				b, err := proto.MarshalOptions{Deterministic: true}.Marshal(md)
				if err != nil {
					panic(err)
				}
				m.Identifier.Node.Metadata = b
			}
			m.Identifier.Node.BuildVersion = lastUnknownBytes(node.ProtoReflect().GetUnknown(), 5)
		}
	}
	switch {
	case msg.GetHttpLogs() != nil:
		m.HTTP = true
		for i, le := range msg.GetHttpLogs().GetLogEntry() {
			e := Entry{}
			x.commonFromProto(i, &e, le.GetCommonProperties())
			e.ProtocolVersion = uint32(le.GetProtocolVersion())
			if r := le.GetRequest(); r != nil {
				e.HasRequest = true
				e.Method = uint32(r.GetRequestMethod())
				e.Scheme = bs(r.GetScheme())
				e.Authority = bs(r.GetAuthority())
				e.Path = bs(r.GetPath())
				e.UserAgent = bs(r.GetUserAgent())
				e.ForwardedFor = bs(r.GetForwardedFor())
				e.RequestID = bs(r.GetRequestId())
				e.RequestHeadersBytes = r.GetRequestHeadersBytes()
				e.RequestBodyBytes = r.GetRequestBodyBytes()
				for _, h := range []struct {
					name  string
					field string
				}{
					{HeaderContentType, "ContentType"},
					{HeaderTraceparent, "Traceparent"},
					{HeaderTracestate, "Tracestate"},
					{HeaderB3, "B3"},
					{HeaderB3TraceID, "B3TraceID"},
					{HeaderB3SpanID, "B3SpanID"},
					{HeaderB3ParentSpanID, "B3ParentSpanID"},
					{HeaderB3Sampled, "B3Sampled"},
				} {
					x.header(i, &e, h.field, r.GetRequestHeaders(), h.name)
				}
			}
			if r := le.GetResponse(); r != nil {
				e.HasResponse = true
				if rc := r.GetResponseCode(); rc != nil {
					e.HasResponseCode = true
					e.ResponseCode = rc.GetValue()
				}
				e.ResponseHeadersBytes = r.GetResponseHeadersBytes()
				e.ResponseBodyBytes = r.GetResponseBodyBytes()
				x.header(i, &e, "GRPCStatusHeader", r.GetResponseHeaders(), HeaderGRPCStatus)
				x.header(i, &e, "GRPCStatusTrailer", r.GetResponseTrailers(), HeaderGRPCStatus)
				e.ResponseCodeDetails = bs(r.GetResponseCodeDetails())
			}
			m.Entries = append(m.Entries, e)
		}
	case msg.GetTcpLogs() != nil:
		for i, le := range msg.GetTcpLogs().GetLogEntry() {
			e := Entry{TCP: true}
			x.commonFromProto(i, &e, le.GetCommonProperties())
			e.TCPReceivedBytes = le.GetConnectionProperties().GetReceivedBytes()
			e.TCPSentBytes = le.GetConnectionProperties().GetSentBytes()
			m.Entries = append(m.Entries, e)
		}
	}
	return x
}

// bs converts a string to the view form (nil when empty).
func bs(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// lastUnknownBytes returns the last length-delimited field num in the
// unknown fields u.
func lastUnknownBytes(u []byte, num protowire.Number) []byte {
	var last []byte
	for len(u) > 0 {
		n, typ, l := protowire.ConsumeTag(u)
		if l < 0 {
			panic("bad unknown fields")
		}
		u = u[l:]
		if typ == protowire.BytesType && n == num {
			v, l := protowire.ConsumeBytes(u)
			if l < 0 {
				panic("bad unknown fields")
			}
			last = v
		}
		l = protowire.ConsumeFieldValue(n, typ, u)
		if l < 0 {
			panic("bad unknown fields")
		}
		u = u[l:]
	}
	return last
}

func addressFromProto(a *corev3.Address) Address {
	switch v := a.GetAddress().(type) {
	case *corev3.Address_SocketAddress:
		return Address{Kind: AddressSocket, Host: bs(v.SocketAddress.GetAddress()), Port: v.SocketAddress.GetPortValue()}
	case *corev3.Address_Pipe:
		return Address{Kind: AddressPipe, Host: bs(v.Pipe.GetPath())}
	case *corev3.Address_EnvoyInternalAddress:
		return Address{Kind: AddressInternal, Host: bs(v.EnvoyInternalAddress.GetServerListenerName())}
	}
	return Address{}
}

func nanos(seconds int64, ns int32) int64 { return seconds*1e9 + int64(ns) }

func timeFromProto(t *timestamppb.Timestamp) (bool, int64) {
	if t == nil {
		return false, 0
	}
	return true, nanos(t.GetSeconds(), t.GetNanos())
}

func durationFromProto(d *durationpb.Duration) (bool, int64) {
	if d == nil {
		return false, 0
	}
	return true, nanos(d.GetSeconds(), d.GetNanos())
}

func firstURISAN(c *accesslogv3.TLSProperties_CertificateProperties) []byte {
	for _, san := range c.GetSubjectAltName() {
		if u, ok := san.GetSan().(*accesslogv3.TLSProperties_CertificateProperties_SubjectAltName_Uri); ok {
			return bs(u.Uri)
		}
	}
	return nil
}

func (x *expectation) commonFromProto(i int, e *Entry, cp *accesslogv3.AccessLogCommon) {
	if cp == nil {
		return
	}
	e.HasCommon = true
	e.DownstreamRemote = addressFromProto(cp.GetDownstreamRemoteAddress())
	e.DownstreamLocal = addressFromProto(cp.GetDownstreamLocalAddress())
	e.DownstreamDirectRemote = addressFromProto(cp.GetDownstreamDirectRemoteAddress())
	e.UpstreamRemote = addressFromProto(cp.GetUpstreamRemoteAddress())
	e.UpstreamLocal = addressFromProto(cp.GetUpstreamLocalAddress())
	if t := cp.GetTlsProperties(); t != nil {
		e.HasTLS = true
		e.TLSVersion = uint32(t.GetTlsVersion())
		e.SNI = bs(t.GetTlsSniHostname())
		e.LocalURISAN = firstURISAN(t.GetLocalCertificateProperties())
		e.PeerURISAN = firstURISAN(t.GetPeerCertificateProperties())
	}
	e.HasStartTime, e.StartTime = timeFromProto(cp.GetStartTime())
	e.HasTimeToLastRxByte, e.TimeToLastRxByte = durationFromProto(cp.GetTimeToLastRxByte())
	e.HasTimeToLastDownstreamTxByte, e.TimeToLastDownstreamTxByte = durationFromProto(cp.GetTimeToLastDownstreamTxByte())
	e.HasDuration, e.Duration = durationFromProto(cp.GetDuration())
	e.UpstreamCluster = bs(cp.GetUpstreamCluster())
	if rf := cp.GetResponseFlags(); rf != nil {
		rf.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			if fd.Kind() == protoreflect.BoolKind && v.Bool() {
				e.ResponseFlags |= 1 << fd.Number()
			}
			return true
		})
		if rf.GetUnauthorizedDetails().GetReason() == accesslogv3.ResponseFlags_Unauthorized_EXTERNAL_SERVICE {
			e.ResponseFlags |= 1 << 13
		}
	}
	e.UpstreamTransportFailureReason = bs(cp.GetUpstreamTransportFailureReason())
	e.RouteName = bs(cp.GetRouteName())
	for key, a := range cp.GetFilterStateObjects() {
		switch key {
		case FilterStateUpstream:
			e.UpstreamPeer = x.peerFromAny(i, e, a)
		case FilterStateDownstream:
			e.DownstreamPeer = x.peerFromAny(i, e, a)
		case FilterStateGRPCStats:
			if typeName(a.GetTypeUrl()) == typeGRPCStatsObject {
				var fo grpcstatsv3.FilterObject
				if err := proto.Unmarshal(a.GetValue(), &fo); err == nil {
					e.HasGRPCStats = true
					e.GRPCRequestMessages = fo.GetRequestMessageCount()
					e.GRPCResponseMessages = fo.GetResponseMessageCount()
				}
			}
		}
	}
	e.UpstreamRequestAttemptCount = cp.GetUpstreamRequestAttemptCount()
	e.StreamID = bs(cp.GetStreamId())
	e.IntermediateLogEntry = cp.GetIntermediateLogEntry() //nolint:staticcheck // SA1019: deprecated field Envoy still writes; the decoder must read it
	e.DownstreamWireBytesSent = cp.GetDownstreamWireBytesSent()
	e.DownstreamWireBytesReceived = cp.GetDownstreamWireBytesReceived()
	e.UpstreamWireBytesSent = cp.GetUpstreamWireBytesSent()
	e.UpstreamWireBytesReceived = cp.GetUpstreamWireBytesReceived()
	e.HasWireBytes = e.DownstreamWireBytesSent != 0 || e.DownstreamWireBytesReceived != 0 ||
		e.UpstreamWireBytesSent != 0 || e.UpstreamWireBytesReceived != 0
	e.AccessLogType = uint32(cp.GetAccessLogType())
}

// typeName resolves an Any type URL the way protoregistry does.
func typeName(url string) string {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		return url[i+1:]
	}
	return url
}

func (x *expectation) peerFromAny(i int, e *Entry, a *anypb.Any) *Peer {
	if typeName(a.GetTypeUrl()) != typeStruct {
		e.FilterStateUnknownKinds++
		return nil
	}
	var s structpb.Struct
	if err := proto.Unmarshal(a.GetValue(), &s); err != nil {
		if strings.Contains(err.Error(), "invalid UTF-8") {
			x.unpredictable = fmt.Sprintf("entry %d: filter-state Struct with invalid UTF-8", i)
		}
		e.FilterStateUnknownKinds++
		return nil
	}
	p := &Peer{Present: true}
	for key, dst := range map[string]*[]byte{
		"workload":  &p.Workload,
		"name":      &p.Name,
		"namespace": &p.Namespace,
		"cluster":   &p.Cluster,
		"service":   &p.Service,
		"revision":  &p.Revision,
		"app":       &p.App,
		"version":   &p.Version,
		"identity":  &p.Identity,
		"type":      &p.Type,
	} {
		if v, ok := s.GetFields()[key].GetKind().(*structpb.Value_StringValue); ok {
			*dst = bs(v.StringValue)
		}
	}
	return p
}

// asciiLower lowers ASCII letters only (header names are compared that
// way, unlike strings.EqualFold, which also folds some non-ASCII letters).
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// header sets the Entry field named field from the header name in h.
func (x *expectation) header(i int, e *Entry, field string, h map[string]string, name string) {
	var values [][]byte
	for k, v := range h {
		if asciiLower(k) == name {
			values = append(values, bs(v))
		}
	}
	if len(values) == 0 {
		return
	}
	reflect.ValueOf(e).Elem().FieldByName(field).SetBytes(values[0])
	if len(values) > 1 {
		x.alts = append(x.alts, alternative{entry: i, field: field, values: values})
	}
}

// diffViews compares the view got with the expectation and returns the
// differences, one per line (nil when equal). Byte slices are compared by
// value, nil equal to empty; node.metadata is compared as a decoded Struct.
func diffViews(got *Message, x *expectation) []string {
	want := x.msg
	want.Entries = append([]Entry(nil), x.msg.Entries...)
	for _, a := range x.alts {
		if a.entry >= len(got.Entries) || a.entry >= len(want.Entries) {
			continue
		}
		g := reflect.ValueOf(&got.Entries[a.entry]).Elem().FieldByName(a.field).Bytes()
		for _, v := range a.values {
			if bytes.Equal(g, v) {
				reflect.ValueOf(&want.Entries[a.entry]).Elem().FieldByName(a.field).SetBytes(v)
			}
		}
	}
	var out []string
	gm, wm := got.Identifier.Node.Metadata, want.Identifier.Node.Metadata
	if !bytes.Equal(gm, wm) {
		var gs, ws structpb.Struct
		gerr := proto.Unmarshal(gm, &gs)
		werr := proto.Unmarshal(wm, &ws)
		if gerr != nil || werr != nil || !proto.Equal(&gs, &ws) {
			out = append(out, fmt.Sprintf("Identifier.Node.Metadata: got %v (%v), want %v (%v)", &gs, gerr, &ws, werr))
		}
	}
	want.Identifier.Node.Metadata = gm
	diffValue("", reflect.ValueOf(*got), reflect.ValueOf(want), &out)
	checkPeerMemo(got, &out)
	return out
}

// checkPeerMemo checks that peers share a Memo number exactly when their
// encodings are byte-identical, and that only present peers have one.
func checkPeerMemo(m *Message, out *[]string) {
	raw := map[uint8][]byte{}
	for i := range m.Entries {
		for _, p := range []*Peer{m.Entries[i].UpstreamPeer, m.Entries[i].DownstreamPeer} {
			if p == nil || p.Memo == 0 {
				continue
			}
			if !p.Present || p.Memo > MaxPeerMemo {
				*out = append(*out, fmt.Sprintf("Entries[%d]: peer memo %d on a peer present=%v", i, p.Memo, p.Present))
				continue
			}
			if r, ok := raw[p.Memo]; ok && !bytes.Equal(r, p.Raw) {
				*out = append(*out, fmt.Sprintf("Entries[%d]: peer memo %d shared by different encodings", i, p.Memo))
			}
			raw[p.Memo] = p.Raw
		}
	}
	for a, ra := range raw {
		for b, rb := range raw {
			if a < b && bytes.Equal(ra, rb) {
				*out = append(*out, fmt.Sprintf("peer memos %d and %d have the same encoding", a, b))
			}
		}
	}
}

func diffValue(path string, got, want reflect.Value, out *[]string) {
	switch got.Kind() {
	case reflect.Struct:
		for i := 0; i < got.NumField(); i++ {
			f := got.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			if f.Name == "Raw" && got.Type() == reflect.TypeOf(Peer{}) {
				// The raw Struct bytes have no proto getter; checked by
				// checkPeerRaw instead.
				checkPeerRaw(path, got.Interface().(Peer), out)
				continue
			}
			if f.Name == "Memo" && got.Type() == reflect.TypeOf(Peer{}) {
				continue // no proto counterpart: checked by checkPeerMemo
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			diffValue(p, got.Field(i), want.Field(i), out)
		}
	case reflect.Slice:
		if got.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				*out = append(*out, fmt.Sprintf("%s: got %q, want %q", path, got.Bytes(), want.Bytes()))
			}
			return
		}
		if got.Len() != want.Len() {
			*out = append(*out, fmt.Sprintf("%s: got %d elements, want %d", path, got.Len(), want.Len()))
		}
		for i := 0; i < got.Len() && i < want.Len(); i++ {
			diffValue(fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), out)
		}
	case reflect.Pointer:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: got nil %v, want nil %v", path, got.IsNil(), want.IsNil()))
			}
			return
		}
		diffValue(path, got.Elem(), want.Elem(), out)
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: got %v, want %v", path, got.Interface(), want.Interface()))
		}
	}
}

// checkPeerRaw checks that a present peer's Raw bytes are the Struct the
// other fields were read from.
func checkPeerRaw(path string, p Peer, out *[]string) {
	if !p.Present {
		return
	}
	var st structpb.Struct
	if err := proto.Unmarshal(p.Raw, &st); err != nil {
		// proto.Unmarshal refuses invalid UTF-8 in a string, which the
		// decoder takes as bytes (the normaliser replaces it): such a
		// Struct is read again without the check.
		if !strings.Contains(err.Error(), "invalid UTF-8") {
			*out = append(*out, fmt.Sprintf("%s.Raw: not a Struct: %v", path, err))
			return
		}
		if w, ok := rawStructString(p.Raw, "workload"); !ok || w != string(p.Workload) {
			*out = append(*out, fmt.Sprintf("%s.Raw: workload %q (found %v), view %q", path, w, ok, p.Workload))
		}
		return
	}
	if w := st.GetFields()["workload"].GetStringValue(); w != string(p.Workload) {
		*out = append(*out, fmt.Sprintf("%s.Raw: workload %q, view %q", path, w, p.Workload))
	}
	// The reader used for invalid UTF-8 agrees with proto.Unmarshal.
	if w, ok := rawStructString(p.Raw, "workload"); !ok || w != st.GetFields()["workload"].GetStringValue() {
		*out = append(*out, fmt.Sprintf("%s.Raw: rawStructString reads workload %q (%v)", path, w, ok))
	}
}

// rawStructString reads the string value of key in an encoded
// google.protobuf.Struct without validating UTF-8 (the last one when the
// key repeats, as proto.Unmarshal keeps); ok is false when the bytes are
// not a Struct.
func rawStructString(b []byte, key string) (v string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		if num != 1 || typ != protowire.BytesType { // fields: map<string, Value>
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", false
			}
			b = b[n:]
			continue
		}
		entry, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		var k string
		var val []byte
		for len(entry) > 0 {
			en, et, m := protowire.ConsumeTag(entry)
			if m < 0 {
				return "", false
			}
			entry = entry[m:]
			if et != protowire.BytesType {
				m = protowire.ConsumeFieldValue(en, et, entry)
				if m < 0 {
					return "", false
				}
				entry = entry[m:]
				continue
			}
			f, m := protowire.ConsumeBytes(entry)
			if m < 0 {
				return "", false
			}
			entry = entry[m:]
			switch en {
			case 1:
				k = string(f)
			case 2:
				val = f
			}
		}
		if k != key {
			continue
		}
		v = "" // Value: string_value is field 3
		for len(val) > 0 {
			vn, vt, m := protowire.ConsumeTag(val)
			if m < 0 {
				return "", false
			}
			val = val[m:]
			if vn == 3 && vt == protowire.BytesType {
				s, m := protowire.ConsumeBytes(val)
				if m < 0 {
					return "", false
				}
				v, val = string(s), val[m:]
				continue
			}
			m = protowire.ConsumeFieldValue(vn, vt, val)
			if m < 0 {
				return "", false
			}
			val = val[m:]
		}
	}
	return v, true
}
