// Package promql parses and renders the small part of PromQL that the
// global graph's configuration accepts: a list of label matchers
// (`job="meshlens", instance=~"meshlens-.*"`) added to every metric
// selector it queries.
package promql

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Matcher is one label matcher.
type Matcher struct {
	Name  string
	Op    string // =, !=, =~ or !~
	Value string
}

// String renders the matcher as PromQL.
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// Matchers is a list of label matchers.
type Matchers []Matcher

// String renders the matchers separated by commas, without braces.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ",")
}

// ParseMatchers parses comma-separated label matchers, optionally within
// braces. Values are quoted with double quotes, single quotes or backticks,
// as in PromQL; regular expressions must compile (RE2, as Prometheus's).
func ParseMatchers(s string) (Matchers, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		if !strings.HasSuffix(s, "}") {
			return nil, errors.New("unbalanced braces")
		}
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var out Matchers
	for s != "" {
		name := labelName(s)
		if name == "" {
			return nil, fmt.Errorf("expected a label name at %q", s)
		}
		s = strings.TrimSpace(s[len(name):])
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("expected =, !=, =~ or !~ after %q", name)
		}
		s = strings.TrimSpace(s[len(op):])
		val, rest, err := quoted(s)
		if err != nil {
			return nil, fmt.Errorf("value of %s: %w", name, err)
		}
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + val + ")$"); err != nil {
				return nil, fmt.Errorf("regular expression of %s: %w", name, err)
			}
		}
		out = append(out, Matcher{Name: name, Op: op, Value: val})
		s = strings.TrimSpace(rest)
		if s == "" {
			break
		}
		if s[0] != ',' {
			return nil, fmt.Errorf("expected ',' before %q", s)
		}
		s = strings.TrimSpace(s[1:])
	}
	return out, nil
}

func labelName(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9' {
			i++
			continue
		}
		break
	}
	return s[:i]
}

// quoted reads a quoted string at the start of s and returns its value and
// what follows.
func quoted(s string) (val, rest string, err error) {
	if s == "" {
		return "", "", errors.New("missing quoted value")
	}
	q := s[0]
	switch q {
	case '`':
		end := strings.IndexByte(s[1:], '`')
		if end < 0 {
			return "", "", errors.New("unterminated raw string")
		}
		return s[1 : 1+end], s[2+end:], nil
	case '"', '\'':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case q:
				lit := s[:i+1]
				if q == '\'' {
					lit = doubleQuoted(s[1:i])
				}
				v, err := strconv.Unquote(lit)
				if err != nil {
					return "", "", fmt.Errorf("bad string %s: %w", s[:i+1], err)
				}
				return v, s[i+1:], nil
			}
		}
		return "", "", errors.New("unterminated string")
	default:
		return "", "", fmt.Errorf("expected a quoted value at %q", s)
	}
}

// doubleQuoted turns the inside of a single-quoted PromQL string into a
// double-quoted Go literal with the same escapes.
func doubleQuoted(inner string) string {
	var b strings.Builder
	b.WriteByte('"')
	for j := 0; j < len(inner); j++ {
		switch c := inner[j]; {
		case c == '\\' && j+1 < len(inner):
			if inner[j+1] != '\'' {
				b.WriteByte('\\')
			}
			b.WriteByte(inner[j+1])
			j++
		case c == '"':
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
