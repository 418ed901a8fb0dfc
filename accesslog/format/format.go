package format

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Format is a compiled Envoy text format string: literal text and command
// operators, in order. It is immutable and safe for concurrent use.
type Format struct {
	src  string
	segs []segment
}

// segment is literal text or one command operator.
type segment struct {
	lit []byte
	op  *operator
}

// operator is one command operator, e.g. %REQ(X-REQUEST-ID)% or
// %DOWNSTREAM_REMOTE_ADDRESS%: its name, argument and field.
type operator struct {
	name  string // e.g. "REQ"
	arg   string // e.g. "X-REQUEST-ID"; "" without parentheses
	field field  // what it sets in an entry; fieldNone: read and ignored
	// env is the variable of %ENVIRONMENT(X)%, which callers read through
	// Values (a format may log the reporting pod's name and namespace).
	env string
}

func (o *operator) String() string {
	if o.arg == "" {
		return "%" + o.name + "%"
	}
	return "%" + o.name + "(" + o.arg + ")%"
}

// Errors of Compile and Parse.
var (
	// ErrFormat is a format string meshlens cannot compile.
	ErrFormat = errors.New("invalid access log format")
	// ErrMismatch is a line that does not have the format's shape.
	ErrMismatch = errors.New("line does not match the access log format")
	// ErrValue is a value an operator cannot take (a code that is not a
	// number, a response flag Envoy does not have).
	ErrValue = errors.New("invalid value in access log line")
)

// maxSegments bounds a format string's parts, so that a configured format
// cannot make matching a line costly.
const maxSegments = 256

// Compile parses an Envoy format string (the substitution format of
// envoy.extensions.access_loggers.file.v3.FileAccessLog, Istio's
// meshConfig.accessLogFormat). Two operators must be separated by literal
// text, which is how a line is split; %% is a literal percent sign; a final
// newline is the line's end. An
// operator meshlens does not read is matched and ignored.
func Compile(s string) (*Format, error) {
	f := &Format{src: s}
	// Lines are read without their line ending, which formats end with.
	s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	var lit strings.Builder
	flushLit := func() {
		if lit.Len() > 0 {
			f.segs = append(f.segs, segment{lit: []byte(lit.String())})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '%' {
			lit.WriteByte('%')
			i += 2
			continue
		}
		op, n, err := parseOperator(s[i:])
		if err != nil {
			return nil, fmt.Errorf("%w: at byte %d: %w", ErrFormat, i, err)
		}
		flushLit()
		if k := len(f.segs); k > 0 && f.segs[k-1].op != nil {
			return nil, fmt.Errorf("%w: %s follows %s with no text between them: a line could not be split", ErrFormat, op, f.segs[k-1].op)
		}
		f.segs = append(f.segs, segment{op: op})
		i += n
	}
	flushLit()
	if len(f.segs) > maxSegments {
		return nil, fmt.Errorf("%w: %d parts, at most %d", ErrFormat, len(f.segs), maxSegments)
	}
	return f, nil
}

// parseOperator reads %NAME%, %NAME(ARG)% or %NAME(ARG):LEN% at the start
// of s and returns it and its length.
func parseOperator(s string) (*operator, int, error) {
	i := 1
	for i < len(s) && (s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || s[i] == '_') {
		i++
	}
	name := s[1:i]
	if name == "" {
		return nil, 0, errors.New("'%' starts no operator (write %% for a percent sign)")
	}
	op := &operator{name: name}
	if i < len(s) && s[i] == '(' {
		end := strings.IndexByte(s[i:], ')')
		if end < 0 {
			return nil, 0, fmt.Errorf("%%%s( is not closed", name)
		}
		op.arg = s[i+1 : i+end]
		i += end + 1
	}
	if i < len(s) && s[i] == ':' { // a length limit
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if _, err := strconv.Atoi(s[i+1 : j]); err != nil {
			return nil, 0, fmt.Errorf("%%%s: bad length %q", name, s[i+1:j])
		}
		i = j
	}
	if i >= len(s) || s[i] != '%' {
		return nil, 0, fmt.Errorf("%%%s is not closed by '%%'", name)
	}
	op.field = fieldOf(op)
	if op.name == "ENVIRONMENT" {
		op.env = op.arg
	}
	return op, i + 1, nil
}

// String returns the format string it was compiled from.
func (f *Format) String() string { return f.src }

// Operators returns the operators of the format that set a field of an
// entry, and those it reads and ignores.
func (f *Format) Operators() (read, ignored []string) {
	for _, s := range f.segs {
		if s.op == nil {
			continue
		}
		if s.op.field == fieldNone && s.op.env == "" {
			ignored = append(ignored, s.op.String())
			continue
		}
		read = append(read, s.op.String())
	}
	return read, ignored
}
