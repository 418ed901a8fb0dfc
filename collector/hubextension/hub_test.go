package hubextension

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/goleak"

	"github.com/meshlens/meshlens/accesslog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

type countingConsumer struct{ n int }

func (c *countingConsumer) ConsumeRecords(recs []accesslog.Record, _ *accesslog.StreamLocal, _ time.Time) {
	c.n += len(recs)
}

func (c *countingConsumer) Expire(time.Time) int { return 0 }

func TestHubServesHealthReadyMetrics(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	addr := freeAddr(t)
	cfg.HTTP.NetAddr.Endpoint = addr
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	cc := &countingConsumer{}
	h.aggs = append(h.aggs, cc)
	require.NoError(t, h.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, h.Shutdown(context.Background())) }()

	code, body := get(t, "http://"+addr+"/healthz")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "ok\n", body)

	code, body = get(t, "http://"+addr+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "no receiver yet")
	assert.Contains(t, body, "no receiver")
	h.SetReady("envoyals", false)
	code, body = get(t, "http://"+addr+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "not ready: envoyals")
	h.SetReady("envoyals", true)
	code, _ = get(t, "http://"+addr+"/readyz")
	assert.Equal(t, http.StatusOK, code)

	require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), make([]accesslog.Record, 3)))
	assert.Equal(t, 3, cc.n)
	code, body = get(t, "http://"+addr+"/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "meshlens_hub_records_total 3")
	assert.Contains(t, body, "go_goroutines")
}

func TestHubLifecycle(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	h, err := newHub(cfg, extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	require.NoError(t, h.Shutdown(context.Background()), "shutdown without start")
	cfg.HTTP.NetAddr.Endpoint = "256.0.0.1:1"
	require.Error(t, h.Start(context.Background(), componenttest.NewNopHost()), "a bad endpoint fails Start")
}

func newRegistryWith(c prometheus.Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}
