package hubextension

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
)

const testInline = `!function(){window.booted=1}()`

// fakeKialiBuild writes a build shaped like @kiali/kiali-ui's.
func fakeKialiBuild(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "static", "js"), 0o755))
	index := `<!doctype html><html><head><base href="/"/><script src="./env.js"></script></head><body><script>` + testInline +
		`</script><script src="./static/js/main.js"></script></body></html>`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.html"), []byte(index), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "env.js"), []byte("// empty\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "static", "js", "main.js"), []byte("console.log(1)\n"), 0o644))
	return dir
}

func getBody(t *testing.T, method, url string, set func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, url, http.NoBody)
	require.NoError(t, err)
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestKialiUI checks how the hub serves a Kiali UI build (kiali::ui_dir)
// under its web root, as Kiali's server does: the base rewritten, env.js
// with the web root, the build's files, index.html for the UI's routes,
// the API under the web root, the inline script allowed by its hash only,
// the login POST and no other.
func TestKialiUI(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	addr := freeAddr(t)
	cfg.HTTP.NetAddr.Endpoint = addr
	cfg.Kiali.UIDir = fakeKialiBuild(t)
	cfg.Auth = AuthConfig{BearerToken: "tok"}
	require.NoError(t, cfg.Validate())
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()
	base := "http://" + addr
	auth := func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") }
	sum := sha256.Sum256([]byte(testInline))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"

	for _, tc := range []struct {
		name, method, path string
		code               int
		contains           string
	}{
		{"index", http.MethodGet, "/kiali/", 200, `<base href="/kiali/"/>`},
		{"a route of the UI", http.MethodGet, "/kiali/console/graph/namespaces?namespaces=default", 200, `<base href="/kiali/"/>`},
		{"env.js", http.MethodGet, "/kiali/env.js", 200, "window.WEB_ROOT='/kiali';"},
		{"a file of the build", http.MethodGet, "/kiali/static/js/main.js", 200, "console.log(1)"},
		{"the API under the web root", http.MethodGet, "/kiali/api/auth/info", 200, `"strategy":"header"`},
		{"the API at its own root", http.MethodGet, "/api/auth/info", 200, `"strategy":"header"`},
		{"the header strategy's login", http.MethodPost, "/kiali/api/authenticate", 200, `"username":"anonymous"`},
		{"no other POST", http.MethodPost, "/kiali/api/namespaces", 405, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := getBody(t, tc.method, base+tc.path, auth)
			assert.Equal(t, tc.code, resp.StatusCode, body)
			assert.Contains(t, body, tc.contains)
			if strings.HasPrefix(tc.path, "/kiali/") && !strings.Contains(tc.path, "/api/") {
				csp := resp.Header.Get("Content-Security-Policy")
				assert.Contains(t, csp, "script-src 'self' "+hash+";")
				assert.NotContains(t, strings.Split(strings.SplitAfter(csp, "script-src")[1], ";")[0], "unsafe", "inline scripts only by hash")
			}
		})
	}
	resp, _ := getBody(t, http.MethodGet, base+"/kiali/", nil)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the UI is behind api_auth too")
}

// TestKialiUIPaths checks that no request path, however it is written,
// reads a file outside the build.
func TestKialiUIPaths(t *testing.T) {
	dir := fakeKialiBuild(t)
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(dir), "secret"), []byte("secret"), 0o644))
	u, err := newKialiUI(dir, "/kiali")
	require.NoError(t, err)
	for _, p := range []string{"/kiali/../secret", "/kiali/static/../../secret", "/kiali//../secret", "/kiali/..%2fsecret"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", http.NoBody)
		req.URL.Path = p
		u.ServeHTTP(rec, req)
		assert.NotContains(t, rec.Body.String(), "secret", p)
	}
}

func TestKialiConfig(t *testing.T) {
	for _, tc := range []struct{ webRoot, metrics, want string }{
		{"/kiali", "/metrics", ""},
		{"/mesh/kiali", "/metrics", ""},
		{"kiali", "/metrics", `web_root "kiali"`},
		{"/kiali/", "/metrics", `web_root "/kiali/"`},
		{"/api", "/metrics", "collides with the hub's route /api"},
		{"/kiali", "/kiali/metrics", `metrics_path "/kiali/metrics" collides with kiali::web_root`},
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.Kiali.WebRoot, cfg.MetricsPath = tc.webRoot, tc.metrics
		err := cfg.Validate()
		if tc.want == "" {
			require.NoError(t, err, tc.webRoot)
			continue
		}
		require.Error(t, err, tc.webRoot)
		assert.Contains(t, err.Error(), tc.want)
	}
	cfg := createDefaultConfig().(*Config)
	cfg.Kiali.UIDir = t.TempDir() // no index.html
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	cfg.HTTP.NetAddr.Endpoint = freeAddr(t)
	require.ErrorContains(t, h.Start(context.Background(), componenttest.NewNopHost()), "is not a Kiali UI build")
	require.NoError(t, h.Shutdown(context.Background()))
}
