package wire

// This file decodes google.protobuf.Timestamp and Duration.

// timestamp holds the two fields of a google.protobuf.Timestamp or Duration
// while an entry is decoded: repeated occurrences of the message merge field
// by field, so nanoseconds can only be computed once the entry is complete.
type timestamp struct {
	seconds int64
	nanos   int32
}

func (t timestamp) unixNano() int64 { return t.seconds*1e9 + int64(t.nanos) }

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
