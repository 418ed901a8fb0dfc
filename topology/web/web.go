// Package web is meshlens's graph page: plain HTML, CSS and JavaScript (no
// build step, no bundler, no framework, no third-party code) embedded in the
// binary and served by the hub at "/". The page draws the live graph of
// topology/api in SVG and follows its server-sent event stream:
//
//	GET /                 the page (ui/index.html)
//	GET /assets/<name>    its script modules, style sheet and icon (ui/assets/)
//
// The script is a set of native ES modules, one concern each: index.html
// loads the entry module (assets/app.js), which imports the others, all in
// ui/assets itself (an asset's name is one path segment: files in its
// subfolders are not served). Everything is same-origin and external files
// only, so that the page works under the hub's Content-Security-Policy
// (default-src 'self'; no inline script). The API is reached with relative
// URLs ("api/v1/graph/stream") and the modules import each other with
// relative URLs ("./layout.js"), so the page also works behind a reverse
// proxy that adds a path prefix. Besides the stream, the node panel of a
// workload reads its proxies' telemetry completeness from api/v1/proxies
// (every 5 s while the node is selected): per proxy, the entries meshlens
// received against what its Envoy says it wrote and dropped, and a warning
// below the alert rule's 99 %.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed ui
var files embed.FS

// contentTypes are the types of the embedded files, by extension; a file
// with another extension is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// asset is one embedded file, read once.
type asset struct {
	name        string
	body        []byte
	contentType string
	etag        string
}

// Handler serves the page at "/" and its assets under "/assets/"; any other
// path is 404. Mount it at "/" on the hub's mux: the more specific routes
// (/api/, /metrics, /healthz, /readyz) keep precedence.
func Handler() http.Handler {
	index := mustLoad("ui/index.html")
	assets := map[string]*asset{}
	err := fs.WalkDir(files, "ui/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if _, ok := contentTypes[path.Ext(p)]; ok {
			assets[strings.TrimPrefix(p, "ui/assets/")] = mustLoad(p)
		}
		return nil
	})
	if err != nil {
		panic("web: " + err.Error()) // the files are embedded: cannot fail
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", index)
	mux.HandleFunc("GET /assets/{name}", func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.PathValue("name")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		a.ServeHTTP(w, r)
	})
	return mux
}

func mustLoad(name string) *asset {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: " + err.Error()) // the files are embedded: cannot fail
	}
	sum := sha256.Sum256(b)
	return &asset{
		name: path.Base(name), body: b, contentType: contentTypes[path.Ext(name)],
		etag: `"` + hex.EncodeToString(sum[:8]) + `"`,
	}
}

// ServeHTTP serves the file with its content type and an ETag
// (conditional and range requests are handled by http.ServeContent).
func (a *asset) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
