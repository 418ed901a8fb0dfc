package wire

import (
	"errors"
	"fmt"
	"math"
)

// This file holds the protobuf wire-format primitives that every decoder
// uses: the errors, varints, field tags and headers, and the skipping of
// unknown fields (including groups).

// Errors returned by DecodeAccessLogs. The returned error wraps one of them,
// with the path of the field being decoded as context, for example
// "decode http_logs: decode log_entry[3]: decode common_properties: wire:
// unexpected end of input". Every one of them matches ErrMalformed with
// errors.Is.
var (
	// ErrMalformed matches every error the decoder returns.
	ErrMalformed = errors.New("wire: malformed protobuf message")
	// ErrTruncated: the input ends inside a tag, a varint or a fixed-size
	// value.
	ErrTruncated error = &wireError{"wire: unexpected end of input"}
	// ErrLength: a length prefix points past the end of the enclosing
	// message (this includes lengths too large to be represented as an int).
	ErrLength error = &wireError{"wire: length prefix exceeds the remaining input"}
	// ErrVarintOverflow: a varint is longer than ten bytes or does not fit
	// in 64 bits.
	ErrVarintOverflow error = &wireError{"wire: varint overflows 64 bits"}
	// ErrFieldNumber: a tag has field number 0 or a number above 2^29-1.
	ErrFieldNumber error = &wireError{"wire: invalid field number"}
	// ErrWireType: a tag uses one of the reserved wire types 6 and 7.
	ErrWireType error = &wireError{"wire: reserved wire type"}
	// ErrGroup: an end-group tag without a matching start-group tag, or a
	// group that is not closed before the end of its enclosing message.
	ErrGroup error = &wireError{"wire: unbalanced group"}
	// ErrDepth: groups in an unknown field are nested more deeply than
	// proto.Unmarshal allows (10000 levels).
	ErrDepth error = &wireError{"wire: groups nested too deeply"}
)

// wireError is the type of the specific sentinel errors: each is itself and
// also ErrMalformed for errors.Is.
type wireError struct{ msg string }

func (e *wireError) Error() string { return e.msg }

func (e *wireError) Is(target error) bool { return target == ErrMalformed }

// Wire types.
const (
	wireVarint     = 0
	wireFixed64    = 1
	wireBytes      = 2
	wireStartGroup = 3
	wireEndGroup   = 4
	wireFixed32    = 5
)

const (
	// maxFieldNumber is protowire.MaxValidNumber.
	maxFieldNumber = 1<<29 - 1
	// recursionLimit is protowire.DefaultRecursionLimit, the nesting depth
	// proto.Unmarshal allows for groups and messages.
	recursionLimit = 10000
)

// Internal error codes: the low-level helpers return a negative index instead
// of an error value so that the hot path stays cheap.
const (
	codeTruncated = -1 - iota
	codeLength
	codeOverflow
	codeFieldNumber
	codeWireType
	codeGroup
	codeDepth
)

func codeError(code int) error {
	switch code {
	case codeTruncated:
		return ErrTruncated
	case codeLength:
		return ErrLength
	case codeOverflow:
		return ErrVarintOverflow
	case codeFieldNumber:
		return ErrFieldNumber
	case codeWireType:
		return ErrWireType
	case codeGroup:
		return ErrGroup
	case codeDepth:
		return ErrDepth
	}
	return ErrMalformed
}

func wrap(field string, err error) error {
	return fmt.Errorf("decode %s: %w", field, err)
}

// consumeBytes decodes the length-delimited value at b[i:]. The returned
// slice has its capacity cut to its length so that appending to a view never
// overwrites the input.
func consumeBytes(b []byte, i int) ([]byte, int) {
	n, j := uvarint(b, i)
	if j < 0 {
		return nil, j
	}
	if n > uint64(len(b)-j) {
		return nil, codeLength
	}
	end := j + int(n)
	return b[j:end:end], end
}

// Every message decoder in this package has a general loop over its fields:
//
//	tag, v, p, j, ok := fastField(b, i)
//	if !ok {
//		tag, v, p, j = nextField(b, i)
//	}
//
// followed by a switch on the raw tag (num<<3 | wire type). A field whose
// tag matches no case (unknown, or known with another wire type) has already
// been skipped, exactly as proto.Unmarshal skips unknown fields. The hot
// messages run a faster first stage before that loop (see has1).

// fastField reads the common case of a field inline: a one-byte tag for a
// varint or length-delimited field whose value or length also takes one
// byte. It reports ok false for anything else, which nextField handles.
func fastField(b []byte, i int) (tag, v uint64, p []byte, j int, ok bool) {
	if i+1 >= len(b) {
		return
	}
	tag, v = uint64(b[i]), uint64(b[i+1])
	if (tag|v) >= 0x80 || tag < 8 {
		return
	}
	if tag&7 == wireVarint {
		return tag, v, nil, i + 2, true
	}
	if end := i + 2 + int(v); tag&7 == wireBytes && end <= len(b) {
		return tag, 0, b[i+2 : end : end], end, true
	}
	return
}

// nextField reads the field at b[i:] (i < len(b)): its tag, and its value,
// either a varint in v or the payload of a length-delimited field in p.
// Fields of other wire types are skipped. j is the index after the field, or
// a negative error code (with the tag, if it could be read).
func nextField(b []byte, i int) (tag, v uint64, p []byte, j int) {
	tag, j = uvarint(b, i)
	if j < 0 {
		return 0, 0, nil, j
	}
	if n := tag >> 3; n == 0 || n > maxFieldNumber {
		return 0, 0, nil, codeFieldNumber
	}
	switch tag & 7 {
	case wireVarint:
		v, j = uvarint(b, j)
	case wireBytes:
		var n uint64
		if n, j = uvarint(b, j); j >= 0 {
			if n > uint64(len(b)-j) {
				return tag, 0, nil, codeLength
			}
			end := j + int(n)
			p, j = b[j:end:end], end
		}
	case wireEndGroup:
		return 0, 0, nil, codeGroup
	case 6, 7:
		return 0, 0, nil, codeWireType
	default:
		j = skipValue(b, j, tag>>3, tag&7, recursionLimit)
	}
	return tag, v, p, j
}

// uvarint decodes the varint at b[i:] and returns it with the index just
// after it, or a negative error code as the index. Like
// protowire.ConsumeVarint it accepts non-minimal encodings and rejects a
// tenth byte above 1. It is small enough to be inlined.
func uvarint(b []byte, i int) (uint64, int) {
	var v uint64
	for shift := uint(0); i < len(b); shift += 7 {
		c := b[i]
		i++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				return 0, codeOverflow
			}
			return v | uint64(c)<<shift, i
		}
		if shift == 63 {
			return 0, codeOverflow
		}
		v |= uint64(c&0x7f) << shift
	}
	return 0, codeTruncated
}

// The hot messages are decoded in two stages. Envoy, like every protobuf
// encoder, writes fields in field-number order with minimal tags, so the
// first stage expects exactly that: straight-line code that checks for each
// field in turn. Each check has its own branch in the machine code, which
// the CPU predicts well because the same fields come in the same order in
// every entry; a single loop with one switch for all fields is much harder
// to predict. The first stage stops at the first field it does not expect
// (an unknown field, a repeated occurrence, another order, a long varint,
// anything malformed) and hands the rest of the message to the second
// stage, the general loop, which applies the same rules field by field.
// Both stages consume fields in wire order, so the result is the same.

// has1 reports whether the field at b[i:] has the one-byte tag t.
func has1(b []byte, i int, t byte) bool { return i < len(b) && b[i] == t }

// has2 reports whether the field at b[i:] has the two-byte tag t (as built
// by tag2).
func has2(b []byte, i int, t uint16) bool {
	return i+1 < len(b) && b[i] == byte(t) && b[i+1] == byte(t>>8)
}

// tag2 is the two-byte varint encoding of the tag of field num (16..2047)
// with wire type wt, low byte first.
func tag2(num, wt uint16) uint16 {
	t := num<<3 | wt
	return t&0x7f | 0x80 | t>>7<<8
}

// readLen reads a length prefix of one or two bytes at b[i:] and returns the
// payload and the index after it; ok is false for a longer prefix or a
// length past the end of b (left to the general loop).
func readLen(b []byte, i int) (p []byte, j int, ok bool) {
	if i >= len(b) {
		return
	}
	n, j := int(b[i]), i+1
	if n >= 0x80 {
		if j >= len(b) || b[j] >= 0x80 {
			return
		}
		n, j = n-0x80+int(b[j])<<7, j+1
	}
	if n > len(b)-j {
		return
	}
	return b[j : j+n : j+n], j + n, true
}

// fieldError is the error for the negative code j returned by nextField;
// tag is non-zero when the tag was read and the value was bad.
func fieldError(tag uint64, j int) error {
	if tag == 0 {
		return codeError(j)
	}
	return fmt.Errorf("field %d: %w", tag>>3, codeError(j))
}

// skipValue mirrors protowire.ConsumeFieldValue.
func skipValue(b []byte, i int, num, wt uint64, depth int) int {
	switch wt {
	case wireVarint:
		_, i = uvarint(b, i)
		return i
	case wireFixed64:
		if len(b)-i < 8 {
			return codeTruncated
		}
		return i + 8
	case wireBytes:
		_, i = consumeBytes(b, i)
		return i
	case wireStartGroup:
		return skipGroup(b, i, num, depth)
	case wireFixed32:
		if len(b)-i < 4 {
			return codeTruncated
		}
		return i + 4
	case wireEndGroup:
		return codeGroup
	}
	return codeWireType
}

// skipGroup skips the body and end tag of a group with field number num. As
// in protowire, fields inside a group may use numbers up to 2^31-1.
func skipGroup(b []byte, i int, num uint64, depth int) int {
	if depth < 0 {
		return codeDepth
	}
	for {
		if i >= len(b) {
			return codeGroup // not closed
		}
		tag, j := uvarint(b, i)
		if j < 0 {
			return j
		}
		n, wt := tag>>3, tag&7
		if n == 0 || n > math.MaxInt32 {
			return codeFieldNumber
		}
		if wt == wireEndGroup {
			if n != num {
				return codeGroup
			}
			return j
		}
		if i = skipValue(b, j, n, wt, depth-1); i < 0 {
			return i
		}
	}
}
