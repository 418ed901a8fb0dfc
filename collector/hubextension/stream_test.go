package hubextension

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
)

// TestStreamOutlivesWriteTimeout: the graph's push stream is not cut by the
// HTTP server's write_timeout (nor read_timeout), which are for ordinary
// requests: an event published after the timeout still reaches the client
// on the same connection.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	recs := captureRecords(t, "envoy-ingress.json", "envoy-ingress2sidecar.json")
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = freeAddr(t)
	cfg.HTTP.WriteTimeout = 500 * time.Millisecond
	cfg.HTTP.ReadTimeout = 500 * time.Millisecond
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+cfg.HTTP.NetAddr.Endpoint+"/api/v1/graph/stream", http.NoBody)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	events := make(chan string, 16)
	go func() {
		defer close(events)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				events <- name
			}
		}
	}()
	next := func() string {
		select {
		case ev, ok := <-events:
			if !ok {
				return "(stream closed)"
			}
			return ev
		case <-time.After(10 * time.Second):
			return "(no event)"
		}
	}
	require.Equal(t, "snapshot", next())
	time.Sleep(3 * cfg.HTTP.WriteTimeout) // well past both timeouts
	require.NoError(t, h.ConsumeRecords(t.Context(), new(accesslog.StreamLocal), recs))
	require.Equal(t, "change", next(), "the stream is still open after write_timeout")
}
