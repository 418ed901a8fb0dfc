package promsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meshlens/meshlens/topology"
)

// ErrUpstream means the query endpoint failed: unreachable, slow, an error
// answer or an answer that is not an instant vector. Source.Snapshot wraps
// every such failure in it.
var ErrUpstream = errors.New("prometheus query failed")

// MaxResponseBytes bounds one query answer.
const MaxResponseBytes = 256 << 20

// Client queries a Prometheus-compatible HTTP API (POST /api/v1/query).
type Client struct {
	endpoint string
	hc       *http.Client
	tr       *http.Transport
	auth     func(*http.Request)
	maxBytes int
}

// NewClient returns a client for cfg (which must have been validated).
func NewClient(cfg topology.GlobalConfig) (*Client, error) {
	u, err := url.Parse(cfg.PrometheusURL)
	if err != nil {
		return nil, fmt.Errorf("prometheus_url: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/query"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 8
	c := &Client{endpoint: u.String(), hc: &http.Client{Transport: tr}, tr: tr, maxBytes: MaxResponseBytes}
	switch {
	case cfg.BearerToken != "":
		token := string(cfg.BearerToken)
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	case cfg.Username != "":
		user, pass := cfg.Username, string(cfg.Password)
		c.auth = func(r *http.Request) { r.SetBasicAuth(user, pass) }
	}
	return c, nil
}

// Close closes the idle connections.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// apiResponse is the envelope of Prometheus's HTTP API.
type apiResponse struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string         `json:"resultType"`
		Result     []vectorSample `json:"result"`
	} `json:"data"`
}

type vectorSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant query evaluated at at.
func (c *Client) Query(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	form := url.Values{}
	form.Set("query", query)
	form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left > time.Millisecond {
			form.Set("timeout", strconv.FormatInt(left.Milliseconds(), 10)+"ms")
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.auth != nil {
		c.auth(req)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", c.endpoint, err)
	}
	if len(body) > c.maxBytes {
		return nil, fmt.Errorf("answer from %s larger than %d bytes", c.endpoint, c.maxBytes)
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s answered HTTP %d with no Prometheus API JSON: %s", c.endpoint, resp.StatusCode, excerpt(body))
	}
	if r.Status != "success" || resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s answered HTTP %d: %s: %s", c.endpoint, resp.StatusCode, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", r.Data.ResultType)
	}
	out := make([]Sample, 0, len(r.Data.Result))
	for _, vs := range r.Data.Result {
		str, ok := vs.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("bad sample value %v", vs.Value[1])
		}
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("bad sample value %q: %w", str, err)
		}
		out = append(out, Sample{Metric: vs.Metric, Value: v})
	}
	return out, nil
}

func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}
