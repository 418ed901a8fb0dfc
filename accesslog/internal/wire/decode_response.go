package wire

// This file decodes envoy.data.accesslog.v3.HTTPResponseProperties and
// google.protobuf.UInt32Value.

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

// isGRPCStatus reports whether key is grpc-status, ignoring ASCII case.
func isGRPCStatus(key []byte) bool {
	return string(key) == HeaderGRPCStatus || equalFold(key, HeaderGRPCStatus)
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
