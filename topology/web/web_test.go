package web

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
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
	var all strings.Builder
	for name, js := range modules(t, h, index) {
		assert.NotContains(t, js, "eval(", "%s: the CSP forbids eval", name)
		assert.NotContains(t, js, "innerHTML", "%s: the page builds its DOM from data: no HTML strings", name)
		all.WriteString(js)
	}
	assert.Contains(t, all.String(), "api/v1/graph/stream")
}

var (
	// moduleScriptRE matches the module scripts of the page.
	moduleScriptRE = regexp.MustCompile(`<script type="module" src="([^"]+)"></script>`)
	// importRE matches the specifiers of static imports and re-exports
	// (`import … from "x"`, `import "x"`, `export … from "x"`, also across
	// lines) and of dynamic imports (`import("x")`).
	importRE = regexp.MustCompile(`(?m)^\s*(?:import|export)\s+(?:[^'"` + "`" + `;]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)`)
)

// modules fetches the entry modules of the page (index) and every module
// they import, transitively, and returns their sources by path ("assets/…"),
// failing the test if one is not served as JavaScript.
func modules(t *testing.T, h http.Handler, index string) map[string]string {
	t.Helper()
	base, err := url.Parse("http://meshlens.test/")
	require.NoError(t, err)
	var queue []*url.URL
	for _, m := range moduleScriptRE.FindAllStringSubmatch(index, -1) {
		u, err := base.Parse(m[1])
		require.NoError(t, err)
		queue = append(queue, u)
	}
	require.NotEmpty(t, queue, "index.html loads a module script")
	srcs := map[string]string{}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		name := strings.TrimPrefix(u.Path, "/")
		if _, ok := srcs[name]; ok {
			continue
		}
		resp, js := get(t, h, http.MethodGet, u.Path, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "module %s", name)
		require.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"), "module %s", name)
		require.NotEmpty(t, js, "module %s", name)
		srcs[name] = js
		for _, m := range importRE.FindAllStringSubmatch(js, -1) {
			spec := m[1] + m[2]
			// Relative, so that the page works behind a path prefix and
			// without an import map.
			require.Regexp(t, `^\.\.?/`, spec, "%s imports %q", name, spec)
			ref, err := u.Parse(spec)
			require.NoError(t, err, "%s imports %q", name, spec)
			require.Equal(t, base.Host, ref.Host, "%s imports %q", name, spec)
			queue = append(queue, ref)
		}
	}
	return srcs
}

// TestModules serves the page's entry module and every module it imports,
// transitively, as JavaScript: a missing or misnamed module fails here.
func TestModules(t *testing.T) {
	h := Handler()
	_, index := get(t, h, http.MethodGet, "/", nil)
	assert.Contains(t, index, `<script type="module" src="assets/app.js"></script>`)
	srcs := modules(t, h, index)
	assert.Contains(t, srcs, "assets/app.js")
	assert.Greater(t, len(srcs), 1, "app.js imports the other modules")
	t.Logf("%d modules: %v", len(srcs), slices.Sorted(maps.Keys(srcs)))
	for name := range srcs {
		assert.True(t, strings.HasPrefix(name, "assets/"), "%s: under assets/", name)
	}
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
