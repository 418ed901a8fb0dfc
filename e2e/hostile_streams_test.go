package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/loadgen"
)

// boundStreamBytes is S in the bound docs/operations.md states for N open
// streams ("Limits"), for streams that have sent no whole message and
// whose handlers are not busy (both attacks below):
//
//	RSS ≤ baseline + 2 × (B + N × S)
//
// B the receive budget, S what an open stream costs before its first
// message; the factor 2 is the Go heap's headroom over what is live
// (GOGC=100).
const boundStreamBytes = 16 << 10

func streamsBoundMiB(budgetMiB float64, streams int) float64 {
	if eventLoopArgs(nil) != nil {
		// On the event loops a message in progress is assembled in a
		// buffer that doubles as it grows: B counts twice.
		budgetMiB *= 2
	}
	return 2 * (budgetMiB + float64(streams*boundStreamBytes)/(1<<20))
}

// metricSum scrapes /metrics and sums every sample of a metric whose labels
// include all of the given label pairs (`service="als"`).
func metricSum(t *testing.T, m *meshlens, name string, labels ...string) float64 {
	t.Helper()
	code, body, err := httpGet("http://"+m.HTTP+"/metrics", "")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, code)
	total, err := sumSeries(body, name, labels...)
	require.NoError(t, err)
	return total
}

// checkStreamAccounting asserts entries received = processed + rejected +
// dropped, and that every ALS stream opened has ended (by some reason) or
// is open.
func checkStreamAccounting(t *testing.T, m *meshlens) {
	t.Helper()
	recv := metricSum(t, m, "meshlens_receiver_entries_received_total")
	proc := metricSum(t, m, "meshlens_receiver_entries_processed_total")
	rej := metricSum(t, m, "meshlens_receiver_entries_rejected_total")
	drop := metricSum(t, m, "meshlens_receiver_entries_dropped_total")
	assert.InDelta(t, recv, proc+rej+drop, 0, "received %v = processed %v + rejected %v + dropped %v", recv, proc, rej, drop)
	opened := metricSum(t, m, "meshlens_receiver_streams_total", `service="als"`)
	ended := metricSum(t, m, "meshlens_receiver_streams_ended_total", `service="als"`)
	active := metricSum(t, m, "meshlens_receiver_active_streams", `service="als"`)
	assert.InDelta(t, opened, ended+active, 0, "streams opened %v = ended %v + open %v", opened, ended, active)
}

// rssWatch samples a process's RSS every 50 ms until stopped and returns
// the largest sample.
func rssWatch(t *testing.T, pid int) (stop func() float64) {
	t.Helper()
	done := make(chan struct{})
	peak := make(chan float64, 1)
	go func() {
		p := 0.0
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if cur, _ := readRSS(pid); cur > p {
				p = cur
			}
			select {
			case <-done:
				peak <- p
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 { close(done); return <-peak }
}

// readRSS is procRSS without the test: it may run on another goroutine.
func readRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.Fields(v)[0], 64)
			return kb / 1024, err
		}
	}
	return 0, io.ErrUnexpectedEOF
}

// stallingCalls opens ALS calls over real HTTP/2 (net/http's, which
// honours flow control and opens connections as max_concurrent_streams
// requires) that send the first send bytes of a message announced as
// announce bytes long, and then nothing, until stop.
type stallingCalls struct {
	tr   *http.Transport
	url  string
	body []byte
	wg   sync.WaitGroup
	stop chan struct{}
}

func newStallingCalls(t *testing.T, addr string, maxSend int) *stallingCalls {
	t.Helper()
	c := &stallingCalls{
		url:  "http://" + addr + "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs",
		body: bytes.Repeat([]byte{'x'}, maxSend),
		stop: make(chan struct{}),
	}
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC clients speak it
	c.tr = &http.Transport{Protocols: protocols}
	t.Cleanup(c.close)
	return c
}

func (c *stallingCalls) close() {
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.wg.Wait()
	c.tr.CloseIdleConnections()
}

func (c *stallingCalls) open(announce, send int) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		var prefix [5]byte
		binary.BigEndian.PutUint32(prefix[1:], uint32(announce))
		if _, err := pw.Write(prefix[:]); err == nil {
			_, _ = pw.Write(c.body[:send])
		}
		<-c.stop
		cancel()
		_ = pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	go func() {
		defer c.wg.Done()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, pr)
		if err != nil {
			return
		}
		req.Header.Set("content-type", "application/grpc")
		req.Header.Set("te", "trailers")
		resp, err := c.tr.RoundTrip(req)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}()
}

// TestE2EHostileStalledMessages: 200 streams (over two connections, at the
// default 100 streams per connection) each announce a 4 MiB message, send
// all of it but its last byte and stall, against a meshlens with
// memory_limit_mib 256 (receive budget 64 MiB). Unbounded, that held
// ~830 MB. RSS stays under the documented bound, the streams with the
// oldest unfinished messages are ended and counted (receive_budget,
// message_timeout), a real client is served meanwhile, and the accounting
// adds up.
func TestE2EHostileStalledMessages(t *testing.T) {
	const n, size = 200, 4 << 20
	m := startMeshlens(t, "--set", "receivers::envoyals::memory_limit_mib=256",
		"--set", "receivers::envoyals::message_timeout=5s")
	pid := m.cmd.Process.Pid
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 500})
	_, err := loadgen.Send(context.Background(), dial(t, m.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, m, float64(tr.EntryCount()))
	base, _ := procRSS(t, pid)

	watch := rssWatch(t, pid)
	attack := newStallingCalls(t, m.GRPC, size)
	for range n {
		attack.open(size, size-1)
	}
	// The attack goes on: streams are ended, the attacker's others keep
	// pushing, for a few seconds.
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_streams_ended_total{reason="receive_budget",service="als"}`)
		return err == nil && v[0] >= 20
	}, 20*time.Second, 100*time.Millisecond)
	receiving := metricSum(t, m, "meshlens_receiver_receiving_bytes")
	assert.LessOrEqual(t, receiving, float64(64<<20), "bytes being received stay within the budget")

	// A real client is served while the attack goes on.
	start := time.Now()
	_, err = loadgen.Send(context.Background(), dial(t, m.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, m, float64(2*tr.EntryCount()))
	t.Logf("a real client's %d entries processed in %s during the attack", tr.EntryCount(), time.Since(start))

	// Whatever the budget has not ended, message_timeout (5 s) does.
	require.Eventually(t, func() bool {
		return metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="receive_budget"`)+
			metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="message_timeout"`) >= n
	}, 15*time.Second, 100*time.Millisecond)
	peak := watch()
	bound := streamsBoundMiB(64, n)
	t.Logf("RSS: %.0f MiB before the attack, peak %.0f MiB during it; bound baseline + %.0f MiB; ended by budget %v, by message_timeout %v",
		base, peak, bound, metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="receive_budget"`),
		metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="message_timeout"`))
	assert.Less(t, peak, base+bound, "RSS under the documented bound")
	attack.close()
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_active_streams{service="als"}`)
		return err == nil && v[0] == 0
	}, 10*time.Second, 100*time.Millisecond)
	checkStreamAccounting(t, m)
}

// TestE2EHostileIdleStreams: 10,000 streams that never send a byte (100
// connections of 100), against a meshlens with memory_limit_mib 256 and
// stream_idle_timeout 15s. Unbounded, they cost 740–877 MB and made every
// real Envoy be refused. RSS stays under the documented bound; once they
// have been quiet 10 s a real client's streams take their places
// (idle_evicted) and are served; at 15 s the rest are ended
// (idle_timeout); everything is counted.
func TestE2EHostileIdleStreams(t *testing.T) {
	const conns, perConn = 100, 100
	m := startMeshlens(t, "--set", "receivers::envoyals::memory_limit_mib=256",
		"--set", "receivers::envoyals::stream_idle_timeout=15s")
	pid := m.cmd.Process.Pid
	base, _ := procRSS(t, pid)
	watch := rssWatch(t, pid)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := time.Now()
	var streams []alsv3.AccessLogService_StreamAccessLogsClient
	for range conns {
		client := alsv3.NewAccessLogServiceClient(dial(t, m.GRPC))
		for range perConn {
			s, err := client.StreamAccessLogs(ctx)
			require.NoError(t, err)
			streams = append(streams, s)
		}
	}
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_active_streams{service="als"}`)
		return err == nil && v[0] == conns*perConn
	}, 20*time.Second, 100*time.Millisecond, "10,000 streams open: max_streams is full")
	t.Logf("%d idle streams open after %s", len(streams), time.Since(opened).Round(time.Millisecond))

	// Once the idle streams have been quiet for 10 s, a real client's
	// streams take their places.
	time.Sleep(time.Until(opened.Add(11 * time.Second)))
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 4, Requests: 500})
	_, err := loadgen.Send(context.Background(), dial(t, m.GRPC), tr, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, m, float64(tr.EntryCount()))
	// On the event loops an evicted stream ends at its loop's next
	// check (within a second), not as the new stream opens.
	require.Eventually(t, func() bool {
		return metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="idle_evicted"`) > 0
	}, 5*time.Second, 50*time.Millisecond, "idle streams evicted")
	assert.InDelta(t, 0, metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="stream_limit"`), 0, "no real stream refused")

	// At stream_idle_timeout, the rest are ended.
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_active_streams{service="als"}`)
		return err == nil && v[0] == 0
	}, 15*time.Second, 100*time.Millisecond)
	peak := watch()
	bound := streamsBoundMiB(64, conns*perConn)
	evicted := metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="idle_evicted"`)
	t.Logf("RSS: %.0f MiB before, peak %.0f MiB with %d idle streams; bound baseline + %.0f MiB; idle_evicted %v, idle_timeout %v",
		base, peak, conns*perConn, bound, evicted, metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="idle_timeout"`))
	assert.Less(t, peak, base+bound, "RSS under the documented bound")
	assert.InDelta(t, conns*perConn, evicted+metricSum(t, m, "meshlens_receiver_streams_ended_total", `reason="idle_timeout"`), 0,
		"every idle stream ended, counted")
	checkStreamAccounting(t, m)
}
