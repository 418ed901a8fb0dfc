package wire

// This file decodes envoy.config.core.v3.Address and the Pipe and
// EnvoyInternalAddress members of its oneof.

// decodeAddress decodes envoy.config.core.v3.Address, merging into a: the
// same oneof member again merges, a different member replaces.
func decodeAddress(b []byte, a *Address) error {
	// Fast path: a socket_address holding address and port_value only.
	if has1(b, 0, 1<<3|wireBytes) {
		if q, j, ok := readLen(b, 1); ok && j == len(b) && has1(q, 0, 2<<3|wireBytes) {
			if host, k, ok := readLen(q, 1); ok && has1(q, k, 3<<3|wireVarint) {
				if port, k := uvarint(q, k+1); k == len(q) {
					*a = Address{Kind: AddressSocket, Host: host, Port: uint32(port)}
					return nil
				}
			}
		}
	}
	return decodeAddressFields(b, 0, a)
}

// decodeAddressFields is the general loop of decodeAddress, from b[i:].
func decodeAddressFields(b []byte, i int, a *Address) error {
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
			if a.Kind != AddressSocket {
				*a = Address{Kind: AddressSocket}
			}
			// SocketAddress, decoded here rather than in a function of its
			// own: addresses are frequent and small.
			for k := 0; k < len(p); {
				tag, v, q, j, ok := fastField(p, k)
				if !ok {
					if tag, v, q, j = nextField(p, k); j < 0 {
						return wrap("socket_address", fieldError(tag, j))
					}
				}
				k = j
				switch tag {
				case 2<<3 | wireBytes:
					a.Host = q
				case 3<<3 | wireVarint:
					a.Port = uint32(v)
				case 4<<3 | wireBytes:
					// named_port replaces port_value in the port_specifier
					// oneof.
					a.Port = 0
				}
			}
		case 2<<3 | wireBytes:
			if a.Kind != AddressPipe {
				*a = Address{Kind: AddressPipe}
			}
			if err := decodeAddressName(p, a); err != nil {
				return wrap("pipe", err)
			}
		case 3<<3 | wireBytes:
			if a.Kind != AddressInternal {
				*a = Address{Kind: AddressInternal}
			}
			if err := decodeAddressName(p, a); err != nil {
				return wrap("envoy_internal_address", err)
			}
		}
	}
	return nil
}

// decodeAddressName decodes envoy.config.core.v3.Pipe or
// EnvoyInternalAddress, whose field 1 (path, server_listener_name) is the
// name kept as Host.
func decodeAddressName(b []byte, a *Address) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag == 1<<3|wireBytes {
			a.Host = p
		}
	}
	return nil
}
