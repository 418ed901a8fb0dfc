// Package discover finds the services meshlens has seen, from meshlens's own
// /metrics or from a Prometheus that scrapes it, so that the generator can
// emit a dashboard with one row per service.
package discover

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// Service is a destination service meshlens has seen.
type Service struct {
	// Name is the destination_service label: the service FQDN, or the host
	// for services outside the mesh.
	Name string
	// HTTP is set when it served HTTP or gRPC requests
	// (istio_requests_total), TCP when it had TCP connections
	// (istio_tcp_connections_opened_total).
	HTTP, TCP bool
}

// Source says where to discover from.
type Source string

// Sources.
const (
	// Auto asks the URL for Prometheus's build information and uses
	// Prometheus if it answers, meshlens's /metrics otherwise.
	Auto       Source = "auto"
	Meshlens   Source = "meshlens"
	Prometheus Source = "prometheus"
)

// ParseSource checks a --discover-from value.
func ParseSource(s string) (Source, error) {
	switch Source(s) {
	case Auto, Meshlens, Prometheus:
		return Source(s), nil
	}
	return "", fmt.Errorf("unknown discovery source %q (want auto, meshlens or prometheus)", s)
}

const (
	httpMetric = "istio_requests_total"
	tcpMetric  = "istio_tcp_connections_opened_total"
	label      = "destination_service"
)

// skip are destination_service values that name no service: a client
// that could not tell where its request went.
var skip = map[string]bool{"": true, "unknown": true}

// Discover returns the services seen, sorted by name.
func Discover(ctx context.Context, c *http.Client, base string, from Source) ([]Service, error) {
	base = strings.TrimSuffix(base, "/")
	if from == Auto {
		from = Meshlens
		if isPrometheus(ctx, c, base) {
			from = Prometheus
		}
	}
	if from == Prometheus {
		return fromPrometheus(ctx, c, base)
	}
	body, err := get(ctx, c, base+"/metrics", "text/plain;version=0.0.4")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return FromMetrics(body)
}

func get(ctx context.Context, c *http.Client, u, accept string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discover: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("discover: GET %s: %s: %s", u, resp.Status, strings.TrimSpace(string(b)))
	}
	return resp.Body, nil
}

// isPrometheus says whether base answers Prometheus's build information API.
func isPrometheus(ctx context.Context, c *http.Client, base string) bool {
	body, err := get(ctx, c, base+"/api/v1/status/buildinfo", "application/json")
	if err != nil {
		return false
	}
	defer body.Close()
	var r struct{ Status string }
	return json.NewDecoder(body).Decode(&r) == nil && r.Status == "success"
}

func fromPrometheus(ctx context.Context, c *http.Client, base string) ([]Service, error) {
	seen := map[string]*Service{}
	for _, metric := range []string{httpMetric, tcpMetric} {
		q := "group by (" + label + ") (" + metric + ")"
		body, err := get(ctx, c, base+"/api/v1/query?query="+url.QueryEscape(q), "application/json")
		if err != nil {
			return nil, err
		}
		var r struct {
			Status string
			Error  string
			Data   struct {
				ResultType string
				Result     []struct {
					Metric map[string]string
				}
			}
		}
		err = json.NewDecoder(body).Decode(&r)
		body.Close()
		if err != nil {
			return nil, fmt.Errorf("discover: decode Prometheus answer to %q: %w", q, err)
		}
		if r.Status != "success" || r.Data.ResultType != "vector" {
			return nil, fmt.Errorf("discover: Prometheus answered %q (%s) to %q", r.Status, r.Error, q)
		}
		for _, s := range r.Data.Result {
			add(seen, s.Metric[label], metric)
		}
	}
	return sorted(seen), nil
}

func add(seen map[string]*Service, name, metric string) {
	if skip[name] {
		return
	}
	s := seen[name]
	if s == nil {
		s = &Service{Name: name}
		seen[name] = s
	}
	if metric == httpMetric {
		s.HTTP = true
	} else {
		s.TCP = true
	}
}

func sorted(seen map[string]*Service) []Service {
	out := make([]Service, 0, len(seen))
	for _, s := range seen {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ErrMalformed is returned for an exposition line that cannot be parsed.
var ErrMalformed = errors.New("malformed exposition line")

// FromMetrics reads a Prometheus text exposition (meshlens's /metrics) and
// returns the services of its Istio series. It reads line by line and
// parses only the lines of the two Istio metrics it needs, so a large
// exposition streams through.
func FromMetrics(r io.Reader) ([]Service, error) {
	seen := map[string]*Service{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		for _, metric := range []string{httpMetric, tcpMetric} {
			rest, ok := strings.CutPrefix(line, metric+"{")
			if !ok {
				continue
			}
			ls, err := parseLabels(rest)
			if err != nil {
				return nil, fmt.Errorf("discover: line %d: %w", n, err)
			}
			add(seen, ls[label], metric)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("discover: read exposition: %w", err)
	}
	return sorted(seen), nil
}

// parseLabels parses `name="value",…}` (the text after the opening brace)
// with the text format's escapes (\\, \", \n).
func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, fmt.Errorf("%w: %q", ErrMalformed, s)
		}
		name := strings.TrimSpace(s[:eq])
		var v strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					v.WriteByte('\n')
				default:
					v.WriteByte(s[i])
				}
				continue
			}
			v.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, fmt.Errorf("%w: unterminated value of %s", ErrMalformed, name)
		}
		out[name] = v.String()
		s = s[i+1:]
	}
}
