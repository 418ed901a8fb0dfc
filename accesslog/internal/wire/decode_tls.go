package wire

// This file decodes envoy.data.accesslog.v3.TLSProperties and its
// CertificateProperties and SubjectAltName.

// decodeTLS decodes envoy.data.accesslog.v3.TLSProperties.
func decodeTLS(b []byte, e *Entry, st *entryState) error {
	for i := 0; i < len(b); {
		tag, v, p, j, ok := fastField(b, i)
		if !ok {
			if tag, v, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireVarint:
			e.TLSVersion = uint32(v)
		case 3<<3 | wireBytes:
			e.SNI = p
		case 4<<3 | wireBytes:
			if err := decodeCertificate(p, &e.LocalURISAN, &st.localSAN); err != nil {
				return wrap("local_certificate_properties", err)
			}
		case 5<<3 | wireBytes:
			if err := decodeCertificate(p, &e.PeerURISAN, &st.peerSAN); err != nil {
				return wrap("peer_certificate_properties", err)
			}
		}
	}
	return nil
}

// decodeCertificate decodes TLSProperties.CertificateProperties and stores
// the first URI SAN in *uri unless one was found already (repeated
// occurrences of the message append to subject_alt_name, so the first one
// stays first).
func decodeCertificate(b []byte, uri *[]byte, found *bool) error {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return fieldError(tag, j)
			}
		}
		i = j
		if tag != 1<<3|wireBytes {
			continue
		}
		isURI, name, fast := false, []byte(nil), false
		if has1(p, 0, 1<<3|wireBytes) {
			// The usual encoding: a uri and nothing else.
			if u, k, ok := readLen(p, 1); ok && k == len(p) {
				isURI, name, fast = true, u, true
			}
		}
		if !fast {
			var err error
			if isURI, name, err = decodeSAN(p); err != nil {
				return wrap("subject_alt_name", err)
			}
		}
		if isURI && !*found {
			*uri, *found = name, true
		}
	}
	return nil
}

// decodeSAN decodes CertificateProperties.SubjectAltName and reports whether
// its name oneof ends up holding uri, and the uri.
func decodeSAN(b []byte) (isURI bool, uri []byte, err error) {
	for i := 0; i < len(b); {
		tag, _, p, j, ok := fastField(b, i)
		if !ok {
			if tag, _, p, j = nextField(b, i); j < 0 {
				return false, nil, fieldError(tag, j)
			}
		}
		i = j
		switch tag {
		case 1<<3 | wireBytes:
			isURI, uri = true, p
		case 2<<3 | wireBytes:
			isURI, uri = false, nil
		}
	}
	return isURI, uri, nil
}
