package wire

// This file decodes google.protobuf.Struct, Value and ListValue: the Istio
// peer Struct of a filter-state value, and the well-formedness check of the
// values nested in it.

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
