package hubextension

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/meshlens/meshlens/topology/api"
)

// AuthConfig protects the HTTP API, the page and /metrics. /healthz and
// /readyz stay open for probes. Without credentials the hub only binds to a
// loopback address.
type AuthConfig struct {
	// BearerToken, when set, is accepted as "Authorization: Bearer <token>".
	BearerToken configopaque.String `mapstructure:"bearer_token"`
	// Username and Password, when set, are accepted as HTTP basic auth.
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
}

func (a *AuthConfig) enabled() bool { return a.BearerToken != "" || a.Username != "" }

func (a *AuthConfig) validate(endpoint string) error {
	if (a.Username == "") != (a.Password == "") {
		return errors.New("api_auth: username and password must be set together")
	}
	if a.enabled() {
		return nil
	}
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("endpoint %q is not a loopback address: set api_auth.bearer_token or api_auth.username/password "+
		"(the API, the page and /metrics are only served without authentication on localhost)", endpoint)
}

// kialiSettings are what Kiali's UI is told of authentication: with basic
// auth the browser authenticates every request itself (Kiali's anonymous
// flow, under the basic user's name); a bearer token alone must be added
// by a proxy in front (Kiali's header strategy).
func (a *AuthConfig) kialiSettings() api.KialiSettings {
	switch {
	case a.Username != "":
		return api.KialiSettings{AuthStrategy: "anonymous", Username: a.Username}
	case a.BearerToken != "":
		return api.KialiSettings{AuthStrategy: "header"}
	}
	return api.KialiSettings{AuthStrategy: "anonymous"}
}

// secure wraps the hub's handler: security headers on every response, only
// GET and HEAD (the API is read-only), and authentication where configured.
func secure(auth AuthConfig, next http.Handler) http.Handler {
	token := sha256.Sum256([]byte(auth.BearerToken))
	user := sha256.Sum256([]byte(auth.Username))
	pass := sha256.Sum256([]byte(auth.Password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		// The one POST: Kiali's UI logs in (header strategy) by posting to
		// <web_root>/api/authenticate, which changes nothing.
		login := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/api/authenticate")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !login {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "meshlens's HTTP API is read-only", http.StatusMethodNotAllowed)
			return
		}
		if auth.enabled() && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && !authorized(r, auth, token, user, pass) {
			h.Set("WWW-Authenticate", `Bearer realm="meshlens", Basic realm="meshlens"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized compares hashes in constant time, so neither the credentials'
// content nor their length leaks through timing.
func authorized(r *http.Request, auth AuthConfig, token, user, pass [32]byte) bool {
	if auth.BearerToken != "" {
		// The scheme is case-insensitive (RFC 9110 §11.1): "bearer" too.
		if scheme, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			got := sha256.Sum256([]byte(v))
			if subtle.ConstantTimeCompare(got[:], token[:]) == 1 {
				return true
			}
		}
	}
	if auth.Username != "" {
		if u, p, ok := r.BasicAuth(); ok {
			gu, gp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
			if subtle.ConstantTimeCompare(gu[:], user[:])&subtle.ConstantTimeCompare(gp[:], pass[:]) == 1 {
				return true
			}
		}
	}
	return false
}
