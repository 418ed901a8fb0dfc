package collector

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrowsable(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"host and port", "localhost:9102", "localhost:9102"},
		{"loopback", "127.0.0.1:9102", "127.0.0.1:9102"},
		{"no host", ":9102", "localhost:9102"},
		{"IPv4 any", "0.0.0.0:9102", "localhost:9102"},
		{"IPv6 any", "[::]:9102", "localhost:9102"},
		{"IPv6 loopback", "[::1]:9102", "[::1]:9102"},
		{"no port", "meshlens.example", "meshlens.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, browsable(tc.in))
		})
	}
}

// TestAnnouncePage: with --demo, once meshlens answers /readyz, one plain
// line says where the page is; nothing while it is not ready, and nothing
// when the run ends first.
func TestAnnouncePage(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	endpoint := strings.TrimPrefix(srv.URL, "http://")

	var out bytes.Buffer
	announcePage(t.Context(), &out, endpoint, time.Millisecond)
	assert.Equal(t, "\nmeshlens is running with a simulated Bookinfo mesh: open "+srv.URL+"/ for the live graph (metrics: "+
		srv.URL+"/metrics)\n\n", out.String())
	assert.EqualValues(t, 3, calls.Load(), "announced at the first ready answer")

	out.Reset()
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	announcePage(ctx, &out, "127.0.0.1:1", time.Millisecond) // nothing listens
	require.Empty(t, out.String())
}
