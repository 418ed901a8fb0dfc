package hubextension

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
)

// KialiConfig serves a build of Kiali's web UI in front of meshlens's
// Kiali API (docs/kiali.md).
type KialiConfig struct {
	// UIDir is a Kiali UI build (the build/ folder of the npm package
	// @kiali/kiali-ui): index.html, env.js, static/. Empty: no UI.
	UIDir string `mapstructure:"ui_dir"`
	// WebRoot is where the UI and its API are served, as Kiali's
	// server.web_root (default /kiali): the UI calls <web_root>/api/….
	WebRoot string `mapstructure:"web_root"`
}

// DefaultKialiWebRoot is Kiali's default web root.
const DefaultKialiWebRoot = "/kiali"

var webRootRE = regexp.MustCompile(`^(/[a-z0-9][a-z0-9._-]*)+$`)

// Validate checks the web root: an absolute, clean path of lowercase
// letters, digits and . _ -, without a trailing '/', none of the hub's
// routes.
func (c *KialiConfig) Validate() error {
	if !webRootRE.MatchString(c.WebRoot) {
		return fmt.Errorf("web_root %q: want an absolute path of lowercase letters, digits and . _ - without a trailing '/', e.g. /kiali", c.WebRoot)
	}
	for _, r := range []string{"/api", "/assets", "/healthz", "/readyz"} {
		if c.WebRoot == r || strings.HasPrefix(c.WebRoot, r+"/") {
			return fmt.Errorf("web_root %q collides with the hub's route %s", c.WebRoot, r)
		}
	}
	return nil
}

// kialiUI serves a Kiali UI build under a web root as Kiali's server does
// (kiali/kiali handlers/root.go): index.html with <base href> set to the
// web root, env.js setting window.WEB_ROOT, the build's files, and
// index.html for every other path (the UI's own routes, /console/…).
type kialiUI struct {
	root    string
	files   fs.FS
	index   []byte
	envJS   []byte
	csp     string
	fileSrv http.Handler
}

var inlineScriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)

// newKialiUI reads the build in dir.
func newKialiUI(dir, webRoot string) (*kialiUI, error) {
	files := os.DirFS(dir)
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("kiali::ui_dir %q is not a Kiali UI build: %w", dir, err)
	}
	const base = `<base href="/"`
	if !bytes.Contains(index, []byte(base)) {
		return nil, errors.New("kiali::ui_dir: index.html has no <base href=\"/\">: not a Kiali UI build")
	}
	index = bytes.Replace(index, []byte(base), []byte(`<base href="`+webRoot+`/"`), 1)
	// The build's inline bootstrap script is allowed by its hash, nothing
	// else inline.
	scripts := []string{"'self'"}
	for _, m := range inlineScriptRE.FindAllSubmatch(index, -1) {
		sum := sha256.Sum256(m[1])
		scripts = append(scripts, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
	}
	u := &kialiUI{
		root: webRoot, files: files, index: index,
		envJS:   []byte("window.WEB_ROOT='" + webRoot + "';\n"),
		fileSrv: http.StripPrefix(webRoot, http.FileServerFS(files)),
		csp: "default-src 'self'; script-src " + strings.Join(scripts, " ") +
			"; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; frame-ancestors 'none'",
	}
	return u, nil
}

func (u *kialiUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", u.csp)
	rel := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, u.root), "/")
	switch rel = path.Clean("/" + rel)[1:]; rel {
	case "env.js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(u.envJS)
		return
	case "", "index.html":
		u.serveIndex(w)
		return
	}
	if st, err := fs.Stat(u.files, rel); err == nil && !st.IsDir() {
		u.fileSrv.ServeHTTP(w, r)
		return
	}
	u.serveIndex(w)
}

func (u *kialiUI) serveIndex(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(u.index)
}
