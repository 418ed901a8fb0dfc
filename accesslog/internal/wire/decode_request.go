package wire

// This file decodes envoy.data.accesslog.v3.HTTPRequestProperties,
// including the request headers (map<string, string>).

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
