package format

import (
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// JSONFormat is a compiled Envoy JSON format (json_format, Istio's
// accessLogEncoding: JSON): each key's value is one command operator. It is
// immutable and safe for concurrent use.
type JSONFormat struct {
	ops map[string]*operator
}

// CompileJSON compiles a JSON format: a map of key to format string, each a
// single command operator (as Istio's JSON encoding and the OpenTelemetry
// access logger's attributes are). Keys whose value is not a single
// operator are read and ignored.
func CompileJSON(fields map[string]string) (*JSONFormat, error) {
	f := &JSONFormat{ops: make(map[string]*operator, len(fields))}
	if len(fields) > maxSegments {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrFormat, len(fields), maxSegments)
	}
	for k, v := range fields {
		var op *operator
		if len(v) > 2 && v[0] == '%' && v[len(v)-1] == '%' {
			o, n, err := parseOperator(v)
			if err != nil {
				return nil, fmt.Errorf("%w: key %q: %w", ErrFormat, k, err)
			}
			if n == len(v) {
				op = o
			}
		}
		if op == nil {
			op = &operator{name: "TEXT"} // literal or template text: ignored
		}
		f.ops[k] = op
	}
	return f, nil
}

// IstioJSON is the key → operator map of Istio's JSON encoding
// (meshConfig.accessLogEncoding: JSON with the default format).
var IstioJSON = map[string]string{
	"start_time": "%START_TIME%", "route_name": "%ROUTE_NAME%", "method": "%REQ(:METHOD)%",
	"path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%", "protocol": "%PROTOCOL%", "response_code": "%RESPONSE_CODE%",
	"response_flags": "%RESPONSE_FLAGS%", "response_code_details": "%RESPONSE_CODE_DETAILS%",
	"connection_termination_details": "%CONNECTION_TERMINATION_DETAILS%", "bytes_received": "%BYTES_RECEIVED%",
	"bytes_sent": "%BYTES_SENT%", "duration": "%DURATION%", "upstream_service_time": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
	"x_forwarded_for": "%REQ(X-FORWARDED-FOR)%", "user_agent": "%REQ(USER-AGENT)%", "request_id": "%REQ(X-REQUEST-ID)%",
	"authority": "%REQ(:AUTHORITY)%", "upstream_host": "%UPSTREAM_HOST%", "upstream_cluster": "%UPSTREAM_CLUSTER%",
	"upstream_local_address": "%UPSTREAM_LOCAL_ADDRESS%", "downstream_local_address": "%DOWNSTREAM_LOCAL_ADDRESS%",
	"downstream_remote_address": "%DOWNSTREAM_REMOTE_ADDRESS%", "requested_server_name": "%REQUESTED_SERVER_NAME%",
	"upstream_transport_failure_reason": "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
}

// EnvoyOTelAttributes is the recommended attribute set of Envoy's
// OpenTelemetry access logger (envoy.access_loggers.open_telemetry
// `attributes`, Istio's envoyOtelAls `logFormat.labels`): Istio's JSON keys
// and the fields an ALS entry carries that the text format does not (wire
// bytes, gRPC status, the downstream certificate, trace headers, the log
// type). deploy/ ships it for Istio and for plain Envoy.
var EnvoyOTelAttributes = func() map[string]string {
	m := map[string]string{
		"downstream_peer_uri_san": "%DOWNSTREAM_PEER_URI_SAN%", "downstream_local_uri_san": "%DOWNSTREAM_LOCAL_URI_SAN%",
		"downstream_tls_version": "%DOWNSTREAM_TLS_VERSION%", "grpc_status": "%GRPC_STATUS_NUMBER%",
		"access_log_type": "%ACCESS_LOG_TYPE%", "content_type": "%REQ(CONTENT-TYPE)%", "traceparent": "%REQ(TRACEPARENT)%",
		"tracestate": "%REQ(TRACESTATE)%", "x_b3_traceid": "%REQ(X-B3-TRACEID)%", "x_b3_spanid": "%REQ(X-B3-SPANID)%",
		"x_b3_parentspanid": "%REQ(X-B3-PARENTSPANID)%", "x_b3_sampled": "%REQ(X-B3-SAMPLED)%",
		"downstream_wire_bytes_received": "%DOWNSTREAM_WIRE_BYTES_RECEIVED%", "downstream_wire_bytes_sent": "%DOWNSTREAM_WIRE_BYTES_SENT%",
		"upstream_request_attempt_count": "%UPSTREAM_REQUEST_ATTEMPT_COUNT%", "stream_id": "%STREAM_ID%",
	}
	for k, v := range IstioJSON {
		m[k] = v
	}
	return m
}()

func (f *JSONFormat) op(key []byte) *operator { return f.ops[string(key)] }

// Set applies key's operator to v, one value of a structured record (an
// OpenTelemetry log record's attribute, a JSON line's key): the field it
// names, or env for %ENVIRONMENT(...)%. A key the format does not name, an
// empty value and "-" are ignored. e must have been reset with Begin; v
// stays aliased.
func (f *JSONFormat) Set(e *entry.Entry, env *Values, key string, v []byte) error {
	op := f.ops[key]
	if op == nil || dash(v) {
		return nil
	}
	if op.env != "" {
		if env != nil {
			env.Env = append(env.Env, EnvValue{Name: op.env, Value: v})
		}
		return nil
	}
	if !set(e, op.field, v) {
		return fmt.Errorf("%w: %s %q", ErrValue, op, v)
	}
	return nil
}

// Known reports whether key sets a field or an environment value.
func (f *JSONFormat) Known(key string) bool {
	op := f.ops[key]
	return op != nil && (op.field != fieldNone || op.env != "")
}

// Begin resets e (and env) for the values of one record.
func Begin(e *entry.Entry, env *Values) {
	*e = entry.Entry{HasCommon: true}
	if env != nil {
		env.Env = env.Env[:0]
	}
}

// Keys returns the keys the format reads (sets a field or an environment
// value from), sorted.
func (f *JSONFormat) Keys() []string {
	var keys []string
	for k, op := range f.ops {
		if op.field != fieldNone || op.env != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Parse reads one JSON object line into e (reset); the entry's bytes alias
// line, whose escaped strings it unescapes in place. Keys the format does
// not name are ignored; null, "" and "-" are absent values. Nested objects
// and arrays are refused: Envoy's JSON format writes one level.
func (f *JSONFormat) Parse(line []byte, e *entry.Entry, env *Values) error {
	Begin(e, env)
	s := jsonScanner{b: line}
	s.space()
	if !s.byte('{') {
		return fmt.Errorf("%w: not a JSON object", ErrMismatch)
	}
	s.space()
	if s.byte('}') {
		return nil
	}
	for {
		s.space()
		key, ok := s.str()
		if !ok {
			return fmt.Errorf("%w: bad key at byte %d", ErrMismatch, s.i)
		}
		s.space()
		if !s.byte(':') {
			return fmt.Errorf("%w: no ':' after key %q", ErrMismatch, key)
		}
		s.space()
		v, null, ok := s.value()
		if !ok {
			return fmt.Errorf("%w: bad value of key %q at byte %d", ErrMismatch, key, s.i)
		}
		if op := f.op(key); op != nil && !null && !dash(v) {
			switch {
			case op.env != "":
				if env != nil {
					env.Env = append(env.Env, EnvValue{Name: op.env, Value: v})
				}
			case !set(e, op.field, v):
				return fmt.Errorf("%w: %s %q", ErrValue, op, v)
			}
		}
		s.space()
		if s.byte(',') {
			continue
		}
		if s.byte('}') {
			break
		}
		return fmt.Errorf("%w: expected ',' or '}' at byte %d", ErrMismatch, s.i)
	}
	s.space()
	if s.i != len(s.b) {
		return fmt.Errorf("%w: %d bytes after the object", ErrMismatch, len(s.b)-s.i)
	}
	return nil
}

// jsonScanner reads one flat JSON object in place.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *jsonScanner) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// value reads a string, number, true, false or null; a number or literal
// comes back as its text.
func (s *jsonScanner) value() (v []byte, null, ok bool) {
	if s.i >= len(s.b) {
		return nil, false, false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		v, ok = s.str()
		return v, false, ok
	case c == 'n' || c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		start := s.i
		for s.i < len(s.b) && (s.b[s.i] >= 'a' && s.b[s.i] <= 'z' || s.b[s.i] >= '0' && s.b[s.i] <= '9' ||
			s.b[s.i] == '-' || s.b[s.i] == '+' || s.b[s.i] == '.' || s.b[s.i] == 'E') {
			s.i++
		}
		lit := s.b[start:s.i]
		switch string(lit) {
		case "null":
			return nil, true, true
		case "true", "false":
			return lit, false, true
		}
		if c == 'n' || c == 't' || c == 'f' {
			return nil, false, false
		}
		return lit, false, true
	}
	return nil, false, false
}

// str reads a string and unescapes it in place.
func (s *jsonScanner) str() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start, w := s.i, s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:w], true
		case c < 0x20:
			return nil, false
		case c != '\\':
			s.b[w] = c
			w++
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			return nil, false
		}
		esc := s.b[s.i+1]
		s.i += 2
		switch esc {
		case '"', '\\', '/':
			s.b[w] = esc
		case 'b':
			s.b[w] = '\b'
		case 'f':
			s.b[w] = '\f'
		case 'n':
			s.b[w] = '\n'
		case 'r':
			s.b[w] = '\r'
		case 't':
			s.b[w] = '\t'
		case 'u':
			if s.i+4 > len(s.b) {
				return nil, false
			}
			r, ok := hex4(s.b[s.i : s.i+4])
			if !ok {
				return nil, false
			}
			s.i += 4
			if utf16.IsSurrogate(r) {
				// A pair (\ud83d\ude00) is one rune of 4 bytes for the 12
				// read; a lone half is replaced.
				r2 := rune(-1)
				if s.i+6 <= len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					if lo, ok := hex4(s.b[s.i+2 : s.i+6]); ok {
						r2 = lo
					}
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					s.i += 6
				} else {
					r = utf8.RuneError
				}
			}
			w += utf8.EncodeRune(s.b[w:], r) // at most 4 bytes for the 6 or 12 read
			continue
		default:
			return nil, false
		}
		w++
	}
	return nil, false
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
