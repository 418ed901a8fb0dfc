package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshlens/meshlens/loadgen"

	"github.com/stretchr/testify/require"
)

// need returns the path of an external program, skipping the test when it
// is missing outside CI and failing it in CI.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed: .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// meshlensBinary builds cmd/meshlens once per test run.
func meshlensBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "meshlens-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "meshlens")
		// Built once for every test of the run, so not tied to one test's context.
		cmd := exec.CommandContext(context.Background(), "go", "build", "-o", binPath, "../cmd/meshlens")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// process is an external program run by a test.
type process struct {
	cmd  *exec.Cmd
	log  *os.File
	done chan error
}

func startProcess(t *testing.T, name string, env []string, bin string, args ...string) *process {
	t.Helper()
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	require.NoError(t, err)
	// Not t.Context(): it is cancelled before the cleanups run, which would
	// kill the process instead of letting stop shut it down with SIGTERM.
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	p := &process{cmd: cmd, log: logf, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if err := p.stop(t, 20*time.Second); err != nil {
			t.Logf("%s: stop: %v", name, err)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
	return p
}

// stop sends SIGTERM and waits; it kills the process after timeout.
func (p *process) stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("did not stop within %s", timeout)
	}
}

func waitHTTP(t *testing.T, rawURL string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := httpGet(rawURL, "")
		if err == nil && code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %s (last: %d %v)", rawURL, timeout, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(rawURL, accept string) (int, string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, rawURL, http.NoBody)
	if err != nil {
		return 0, "", err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// meshlens is a running meshlens binary.
type meshlens struct {
	*process
	GRPC, HTTP string
}

// pinned returns the command line and environment that run bin on the
// CPUs MESHLENS_E2E_CPUS lists (taskset, GOMAXPROCS to match), or bin as it
// is when the variable is unset. Load tests put the process they measure on
// its own CPUs that way and the generator, in this process, on the others
// (make loadtest-pinned).
func pinned(bin string, args, env []string) (string, []string, []string) {
	cpus := os.Getenv("MESHLENS_E2E_CPUS")
	if cpus == "" {
		return bin, args, env
	}
	return "taskset", append([]string{"-c", cpus, bin}, args...),
		append(env, fmt.Sprintf("GOMAXPROCS=%d", len(strings.Split(cpus, ","))))
}

// eventLoopArgs turns the receiver's event loops on (event_loop::enabled,
// ADR 0014) when MESHLENS_E2E_EVENT_LOOP is set (to "1", or to the loops'
// tick), with MESHLENS_E2E_LOOPS loops if set, unless args configure TLS,
// which the event loops do not serve: the suite runs on either transport.
func eventLoopArgs(args []string) []string {
	v := os.Getenv("MESHLENS_E2E_EVENT_LOOP")
	if v == "" || strings.Contains(strings.Join(args, " "), "tls::") {
		return nil
	}
	out := []string{"--set=receivers::envoyals::event_loop::enabled=true"}
	if v != "1" {
		out = append(out, "--set=receivers::envoyals::event_loop::tick="+v)
	}
	if n := os.Getenv("MESHLENS_E2E_LOOPS"); n != "" {
		out = append(out, "--set=receivers::envoyals::event_loop::loops="+n)
	}
	return out
}

// startMeshlens runs the binary with its embedded default config, on free
// ports, and waits until /readyz answers.
func startMeshlens(t *testing.T, args ...string) *meshlens {
	t.Helper()
	m := &meshlens{GRPC: freePort(t), HTTP: freePort(t)}
	env := []string{"MESHLENS_GRPC_ENDPOINT=" + m.GRPC, "MESHLENS_HTTP_ENDPOINT=" + m.HTTP}
	args = append(eventLoopArgs(args), args...)
	bin, args, env := pinned(meshlensBinary(t), args, env)
	m.process = startProcess(t, "meshlens", env, bin, args...)
	waitHTTP(t, "http://"+m.HTTP+"/readyz", 30*time.Second)
	return m
}

// metric returns the value of one sample line of meshlens's /metrics, by
// exact series text (e.g. `meshlens_receiver_entries_received_total`); 0
// when the series is absent. It fails the test: call it from the test's
// goroutine only, and use tryMetrics in a require.Eventually condition.
func (m *meshlens) metric(t *testing.T, series string) float64 {
	t.Helper()
	v, err := m.tryMetrics(series)
	require.NoError(t, err)
	return v[0]
}

// tryMetrics scrapes /metrics once and returns the value of each series (0
// when absent). It never fails the test, so that a condition polled by
// require.Eventually (on a goroutine of its own) can use it: a scrape that
// fails under load is an error, and the condition just returns false.
func (m *meshlens) tryMetrics(series ...string) ([]float64, error) {
	code, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: status %d", code)
	}
	out := make([]float64, len(series))
	for _, line := range strings.Split(body, "\n") {
		for i, s := range series {
			if rest, ok := strings.CutPrefix(line, s+" "); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
				if err != nil {
					return nil, fmt.Errorf("series %s: %w", s, err)
				}
				out[i] = v
			}
		}
	}
	return out, nil
}

// sumSeries sums the samples of a metric in an exposition: every series
// of it, or those whose labels contain every one given.
func sumSeries(body, name string, labels ...string) (float64, error) {
	total := 0.0
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		keep := true
		for _, l := range labels {
			keep = keep && strings.Contains(rest[:i], l)
		}
		if !keep {
			continue
		}
		v, err := strconv.ParseFloat(rest[i+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", line, err)
		}
		total += v
	}
	return total, nil
}

// accounting scrapes /metrics once and returns the entries received and
// the entries processed, rejected and dropped (every reason summed): equal
// once meshlens has handled what it received. It never fails the test.
func (m *meshlens) accounting() (received, handled float64, err error) {
	code, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	if err != nil {
		return 0, 0, err
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: status %d", code)
	}
	var errs [4]error
	received, errs[0] = sumSeries(body, "meshlens_receiver_entries_received_total")
	var parts [3]float64
	for i, name := range []string{"meshlens_receiver_entries_processed_total", "meshlens_receiver_entries_rejected_total", "meshlens_receiver_entries_dropped_total"} {
		parts[i], errs[i+1] = sumSeries(body, name)
	}
	return received, parts[0] + parts[1] + parts[2], errors.Join(errs[:]...)
}

// prometheus is a running Prometheus server scraping meshlens every second.
type prometheus struct {
	*process
	URL string
}

func startPrometheus(t *testing.T, targets ...string) *prometheus {
	t.Helper()
	return startPrometheusAt(t, freePort(t), "meshlens", targets...)
}

// startPrometheusAt runs Prometheus on addr (chosen before a meshlens that
// queries it is started), scraping targets every second under job, with
// exemplar storage on.
func startPrometheusAt(t *testing.T, addr, job string, targets ...string) *prometheus {
	t.Helper()
	return startPrometheusWith(t, addr, job, nil, targets...)
}

// startPrometheusWith is startPrometheusAt with more command-line flags
// (e.g. --web.enable-remote-write-receiver).
func startPrometheusWith(t *testing.T, addr, job string, flags []string, targets ...string) *prometheus {
	t.Helper()
	bin := need(t, "prometheus")
	dir := t.TempDir()
	var quoted []string
	for _, tg := range targets {
		quoted = append(quoted, strconv.Quote(tg))
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: %s
  scrape_interval: 1s
  scrape_timeout: 900ms
  static_configs:
  - targets: [%s]
`, job, strings.Join(quoted, ", "))
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	p := &prometheus{URL: "http://" + addr}
	args := append([]string{
		"--config.file=" + cfgPath,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--enable-feature=exemplar-storage",
	}, flags...)
	p.process = startProcess(t, "prometheus", nil, bin, args...)
	waitHTTP(t, p.URL+"/-/ready", 60*time.Second)
	return p
}

// sample is one element of an instant-vector result.
type sample struct {
	Metric map[string]string
	Value  float64
	Time   time.Time
}

// query runs an instant PromQL query.
func (p *prometheus) query(t *testing.T, q string, at time.Time) []sample {
	t.Helper()
	u := p.URL + "/api/v1/query?query=" + url.QueryEscape(q)
	if !at.IsZero() {
		// RFC 3339 keeps the exact millisecond; a float would round.
		u += "&time=" + url.QueryEscape(at.UTC().Format(time.RFC3339Nano))
	}
	code, body, err := httpGet(u, "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code, body)
	var resp struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &resp), body)
	require.Equal(t, "success", resp.Status, body)
	var out []sample
	for _, r := range resp.Data.Result {
		ts := r.Value[0].(float64)
		v, err := strconv.ParseFloat(r.Value[1].(string), 64)
		require.NoError(t, err)
		out = append(out, sample{Metric: r.Metric, Value: v, Time: time.UnixMilli(int64(ts * 1000))})
	}
	return out
}

// requests runs a query summing istio_requests_total by reporter, source
// and destination workload and response code, and returns its samples by
// the load generator's ledger key.
func (p *prometheus) requests(t *testing.T, q string, at time.Time) map[loadgen.RequestKey]float64 {
	t.Helper()
	got := map[loadgen.RequestKey]float64{}
	for _, s := range p.query(t, q, at) {
		got[loadgen.RequestKey{
			Reporter: loadgen.Reporter(s.Metric["reporter"]), Source: s.Metric["source_workload"],
			Destination: s.Metric["destination_workload"], ResponseCode: s.Metric["response_code"],
		}] = s.Value
	}
	return got
}

// waitScrapes waits until Prometheus has scraped the target (host:port)
// successfully at least a second after `after`, and returns the timestamp
// of that scrape: every series of the target has a sample at exactly that
// time.
func (p *prometheus) waitScrapes(t *testing.T, target string, after time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	// timestamp() of a plain selector is the sample's own time (of an
	// expression it would be the evaluation time).
	q := fmt.Sprintf(`timestamp(up{instance=%q})`, target)
	for time.Now().Before(deadline) {
		res := p.query(t, q, time.Time{})
		if len(res) == 1 && res[0].Value > float64(after.Add(time.Second).UnixMilli())/1000 {
			return time.UnixMilli(int64(math.Round(res[0].Value * 1000)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("Prometheus did not scrape meshlens in time")
	return time.Time{}
}
