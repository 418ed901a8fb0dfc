package format

import (
	"bytes"
	"fmt"

	"github.com/meshlens/meshlens/accesslog/entry"
)

// Values holds what a line's %ENVIRONMENT(...)% operators said (a format
// may log the reporting pod's POD_NAME and POD_NAMESPACE). The values
// alias the line.
type Values struct {
	Env []EnvValue
}

// EnvValue is one %ENVIRONMENT(Name)% value.
type EnvValue struct {
	Name  string
	Value []byte
}

// Get returns the value of environment variable name, nil when absent.
func (v *Values) Get(name string) []byte {
	for _, kv := range v.Env {
		if kv.Name == name {
			return kv.Value
		}
	}
	return nil
}

// Parse reads one line (without its newline) into e, which it resets; the
// entry's bytes alias line. env, when not nil, is reset and receives the
// %ENVIRONMENT(...)% values. An operator's value runs to the first
// occurrence of the literal text that follows it in the format, so a value
// that contains that text (a user agent with `" "` in Istio's default
// format) shifts the fields after it: the line is then read wrong or
// rejected, as any positional reader would. It does not allocate.
func (f *Format) Parse(line []byte, e *entry.Entry, env *Values) error {
	*e = entry.Entry{HasCommon: true}
	if env != nil {
		env.Env = env.Env[:0]
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	pos := 0
	for i := 0; i < len(f.segs); i++ {
		s := &f.segs[i]
		if s.op == nil {
			if !bytes.HasPrefix(line[pos:], s.lit) {
				return fmt.Errorf("%w: expected %q at byte %d", ErrMismatch, s.lit, pos)
			}
			pos += len(s.lit)
			continue
		}
		end := len(line)
		if i+1 < len(f.segs) {
			next := f.segs[i+1].lit
			j := bytes.Index(line[pos:], next)
			if j < 0 {
				return fmt.Errorf("%w: no %q after %s", ErrMismatch, next, s.op)
			}
			end = pos + j
		}
		v := line[pos:end]
		pos = end
		if dash(v) {
			continue
		}
		if s.op.env != "" && env != nil {
			env.Env = append(env.Env, EnvValue{Name: s.op.env, Value: v})
			continue
		}
		if !set(e, s.op.field, v) {
			return fmt.Errorf("%w: %s %q", ErrValue, s.op, v)
		}
	}
	if pos != len(line) {
		return fmt.Errorf("%w: %d bytes left after the last field", ErrMismatch, len(line)-pos)
	}
	return nil
}

// IstioDefault is Istio's default text format (meshConfig.accessLogFormat
// unset; istio/istio pkg/config/mesh and the Envoy bootstrap it renders).
const IstioDefault = `[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ` +
	`%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ` +
	`"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ` +
	`%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ` +
	`"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ` +
	`%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %ROUTE_NAME%` + "\n"
