package e2e

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"

	"github.com/meshlens/meshlens/internal/alstest"
)

// TestE2ETransportFloor splits meshlens's CPU per entry into what the gRPC
// transport alone costs on this machine and what is left for meshlens's own
// work, in one run: it sends the throughput benchmark's traffic to the
// meshlens binary flat out, then the same traffic the same way to a bare
// grpc-go ALS server in a process of its own (same grpc-go version, 4 MiB
// message limit, insecure), which receives every message and drops it
// unread, at meshlens's rate (a server that is faster than its sender reads
// less per system call and wakes up more often, so the floor depends on the
// rate) and flat out. Run it with `make loadtest` (it is skipped unless
// MESHLENS_LOADTEST is set).
//
// The bare server uses gRPC's default buffer pool, which clears each
// frame's buffer before reading into it; meshlens's receiver does not
// (ADR 0002): the floor is ~2 % of meshlens's CPU above what meshlens's own
// transport settings give.
func TestE2ETransportFloor(t *testing.T) {
	if os.Getenv("MESHLENS_LOADTEST") == "" {
		t.Skip("set MESHLENS_LOADTEST=1 (make loadtest) to run the transport floor benchmark")
	}
	if raceEnabled {
		// The bare server is this test binary: with -race it would be
		// instrumented and meshlens not.
		t.Skip("the transport floor is measured without -race")
	}
	lt := newLoadtest()
	ml := lt.runMeshlens(t, 0)
	mlRate := lt.total / ml.wall.Seconds()
	atRate := lt.runDiscard(t, mlRate)
	flatOut := lt.runDiscard(t, 0)
	perEntry := func(r loadtestRun) float64 { return r.cpu / lt.total * 1e9 }
	report := fmt.Sprintf("entries: %.0f (%d streams on %d connections, %.1f MB)\n"+
		"meshlens: %.0f entries/s, %.0f ns of CPU per entry\n"+
		"bare gRPC server at meshlens's rate: %.0f entries/s, %.0f ns of CPU per entry (the transport floor)\n"+
		"bare gRPC server flat out: %.0f entries/s, %.0f ns of CPU per entry\n"+
		"meshlens's own work (meshlens − floor): %.0f ns of CPU per entry; "+
		"1,000,000 entries per CPU-second would leave it %.0f ns\n",
		lt.total, len(lt.traffic.Streams), ml.conns, float64(ml.sent.Bytes)/1e6,
		mlRate, perEntry(ml),
		lt.total/atRate.wall.Seconds(), perEntry(atRate),
		lt.total/flatOut.wall.Seconds(), perEntry(flatOut),
		perEntry(ml)-perEntry(atRate), 1000-perEntry(atRate))
	t.Log("\n" + report)

	// Bars (BENCHMARKS.md; about half of what was measured, see
	// minThroughput). The paced run is the floor only if it ran at
	// meshlens's rate.
	assert.InEpsilon(t, mlRate, lt.total/atRate.wall.Seconds(), maxPaceError, "the floor's run paced to meshlens's rate")
	assert.Less(t, perEntry(atRate), perEntry(ml), "the bare transport costs less than meshlens")
	assert.LessOrEqual(t, perEntry(ml), maxCPUPerEntry, "ns of meshlens CPU per entry")
	assert.LessOrEqual(t, perEntry(ml)-perEntry(atRate), maxOwnWork, "ns of CPU per entry of meshlens's own work (meshlens − floor)")
	assert.LessOrEqual(t, perEntry(atRate), maxFloor, "ns of CPU per entry of the bare server at meshlens's rate")
	assert.GreaterOrEqual(t, lt.total/flatOut.wall.Seconds(), minFloorFlatOut, "entries/s of the bare server flat out")
}

// Bars of TestE2ETransportFloor, in ns of CPU per entry unless noted
// (session 4, BENCHMARKS.md).
const (
	// maxOwnWork is about twice meshlens's own work measured with the cores
	// shared (848–950 ns; 994–1,540 pinned).
	maxOwnWork = 2_000.0
	// maxFloor is about twice the floor at meshlens's rate (453–721 ns).
	maxFloor = 1_500.0
	// minFloorFlatOut is half of the lowest rate of the bare server flat out
	// (1,575,000–3,114,000 entries/s; 1,999,000–2,302,000 pinned).
	minFloorFlatOut = 800_000.0
	// maxPaceError is how far the paced run's rate may be from meshlens's.
	maxPaceError = 0.2
)

// runDiscard starts this test binary as a bare gRPC ALS server
// (TestDiscardServer) and sends it the traffic, flat out (rate 0) or at rate
// entries/s; Send returns when the server has closed every stream, after
// receiving its last message. Then it stops the server.
func (lt loadtest) runDiscard(t *testing.T, rate float64) loadtestRun {
	t.Helper()
	addr, p := startFloorServer(t, floorServers[0])
	defer stopLogged(t, floorServers[0].name, p)
	return lt.run(t, p, addr, rate, func() {})
}

// discardServerEnv carries the address TestDiscardServer listens on when
// TestE2ETransportFloor starts this test binary as the server process.
const discardServerEnv = "MESHLENS_E2E_DISCARD_SERVER"

// TestDiscardServer is the server process of TestE2ETransportFloor, not a
// test of its own: a bare grpc-go AccessLogService that receives every
// message and drops it, until SIGTERM.
func TestDiscardServer(t *testing.T) {
	addr := os.Getenv(discardServerEnv)
	if addr == "" {
		t.Skip("the server process of TestE2ETransportFloor")
	}
	// Stop on SIGTERM, which may come as soon as the port accepts.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	lis, err := new(net.ListenConfig).Listen(t.Context(), "tcp", addr)
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.ForceServerCodecV2(discardCodec{}), grpc.MaxRecvMsgSize(4<<20))
	alstest.RegisterRaw(srv, func() any { return new(discarded) }, func() {})
	go func() {
		<-stop
		srv.Stop()
	}()
	require.NoError(t, srv.Serve(lis))
}

// discarded is what discardCodec receives into and sends: nothing.
type discarded struct{}

// discardCodec leaves every received message unread and encodes every sent
// one as the empty message.
type discardCodec struct{}

func (discardCodec) Name() string { return "proto" }

func (discardCodec) Marshal(any) (mem.BufferSlice, error) { return nil, nil }

// Unmarshal does nothing: gRPC frees data when it returns.
func (discardCodec) Unmarshal(mem.BufferSlice, any) error { return nil }

// waitTCP waits until addr accepts TCP connections.
func waitTCP(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(t.Context(), "tcp", addr)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
