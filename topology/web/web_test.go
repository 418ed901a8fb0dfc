package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequestWithContext(context.Background(), method, path, http.NoBody)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestIndex(t *testing.T) {
	h := Handler()
	resp, body := get(t, h, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.NotEmpty(t, resp.Header.Get("ETag"))
	assert.Contains(t, body, `<svg id="graph"`)

	// The hub's Content-Security-Policy allows no inline script, no inline
	// event handler and nothing from another origin.
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		assert.Regexp(t, `src="assets/[a-z]+\.js"`, m, "inline script")
	}
	assert.NotRegexp(t, `\son[a-z]+\s*=`, body, "inline event handler")
	assert.NotRegexp(t, `(src|href)="(https?:)?//`, body, "resource from another origin")

	head, hb := get(t, h, http.MethodHead, "/", nil)
	assert.Equal(t, http.StatusOK, head.StatusCode)
	assert.Empty(t, hb)

	cached, _ := get(t, h, http.MethodGet, "/", map[string]string{"If-None-Match": resp.Header.Get("ETag")})
	assert.Equal(t, http.StatusNotModified, cached.StatusCode)
}

// TestAssets serves every asset the page references, with its type.
func TestAssets(t *testing.T) {
	h := Handler()
	_, index := get(t, h, http.MethodGet, "/", nil)
	refs := regexp.MustCompile(`(?:src|href)="(assets/[^"]+)"`).FindAllStringSubmatch(index, -1)
	want := map[string]string{
		"assets/app.js":      "text/javascript; charset=utf-8",
		"assets/style.css":   "text/css; charset=utf-8",
		"assets/favicon.svg": "image/svg+xml",
	}
	seen := map[string]bool{}
	for _, r := range refs {
		seen[r[1]] = true
	}
	for name := range want {
		assert.True(t, seen[name], "index.html references %s", name)
	}
	for name := range seen {
		resp, body := get(t, h, http.MethodGet, "/"+name, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, name)
		assert.Equal(t, want[name], resp.Header.Get("Content-Type"), name)
		assert.NotEmpty(t, body, name)
	}
	_, js := get(t, h, http.MethodGet, "/assets/app.js", nil)
	assert.NotContains(t, js, "eval(", "the CSP forbids eval")
	assert.NotContains(t, js, "innerHTML", "the page builds its DOM from data: no HTML strings")
	assert.Contains(t, js, "api/v1/graph/stream")
}

func TestNotFound(t *testing.T) {
	h := Handler()
	for _, p := range []string{"/assets/nope.js", "/assets/", "/assets", "/index.html", "/ui/index.html", "/nope", "/assets/../ui/index.html"} {
		resp, _ := get(t, h, http.MethodGet, p, nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 {
			resp, _ = get(t, h, http.MethodGet, loc, nil) // the mux cleans the path
		}
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
	}
	resp, _ := get(t, h, http.MethodPost, "/", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}
