package hubextension

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

func do(t *testing.T, method, url string, set func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, strings.NewReader(""))
	require.NoError(t, err)
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp
}

func TestAuthAndHeaders(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	addr := freeAddr(t)
	cfg.HTTP.NetAddr.Endpoint = addr
	cfg.Auth = AuthConfig{BearerToken: "tok", Username: "u", Password: "p"}
	require.NoError(t, cfg.Validate())
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
	base := "http://" + addr

	tests := []struct {
		name   string
		method string
		path   string
		set    func(*http.Request)
		code   int
	}{
		{"probes stay open", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"no credentials", http.MethodGet, "/metrics", nil, http.StatusUnauthorized},
		{"wrong token", http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, http.StatusUnauthorized},
		{"right token", http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }, http.StatusOK},
		{"scheme in lower case", http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "bearer tok") }, http.StatusOK},
		{"scheme only", http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Bearer") }, http.StatusUnauthorized},
		{"other scheme", http.MethodGet, "/metrics", func(r *http.Request) { r.Header.Set("Authorization", "Token tok") }, http.StatusUnauthorized},
		{"wrong password", http.MethodGet, "/metrics", func(r *http.Request) { r.SetBasicAuth("u", "x") }, http.StatusUnauthorized},
		{"basic auth", http.MethodGet, "/metrics", func(r *http.Request) { r.SetBasicAuth("u", "p") }, http.StatusOK},
		{"read-only", http.MethodPost, "/metrics", func(r *http.Request) { r.SetBasicAuth("u", "p") }, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, tt.method, base+tt.path, tt.set)
			assert.Equal(t, tt.code, resp.StatusCode)
			assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
			assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "no CORS by default")
		})
	}
}
