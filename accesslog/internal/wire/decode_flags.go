package wire

// This file decodes envoy.data.accesslog.v3.ResponseFlags and its
// Unauthorized details.

// decodeResponseFlags decodes envoy.data.accesslog.v3.ResponseFlags into the
// bit set *flags (bit n for field n), merging.
func decodeResponseFlags(b []byte, flags *uint32) error {
	for i := 0; i < len(b); {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if num := tag >> 3; tag&7 == wireVarint && num <= 28 && num != 13 {
			if v != 0 {
				*flags |= 1 << num
			} else {
				*flags &^= 1 << num
			}
		} else if tag == 13<<3|wireBytes {
			if err := decodeUnauthorized(p, flags); err != nil {
				return wrap("unauthorized_details", err)
			}
		}
	}
	return nil
}

// decodeUnauthorized decodes ResponseFlags.Unauthorized: bit 13 is set when
// its reason is EXTERNAL_SERVICE (1).
func decodeUnauthorized(b []byte, flags *uint32) error {
	for i := 0; i < len(b); {
		tag, v, _, j, ok := fastField(b, i)
		if !ok {
			if tag, v, _, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag == 1<<3|wireVarint {
			if int32(v) == 1 {
				*flags |= 1 << 13
			} else {
				*flags &^= 1 << 13
			}
		}
	}
	return nil
}
