//go:build linux

package evloop

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestAcceptBacksOffWithoutFileDescriptors: at the fd limit (EMFILE) the listening socket stays readable
// (level-triggered) and accept fails: a loop with no tick spins.
func TestAcceptBacksOffWithoutFileDescriptors(t *testing.T) {
	s, _ := serve(t, Config{Loops: 1, Tick: -1}, func() *recorder { return &recorder{} })
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	// Use up the fds.
	var fds []int
	for {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			break
		}
		fds = append(fds, fd)
		if len(fds) > 200000 {
			break
		}
	}
	_ = old
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	// Free two fds for the client's socket, then let the server's accept fail.
	_ = unix.Close(fds[len(fds)-1])
	fds = fds[:len(fds)-1]
	c, err := new(net.Dialer).DialContext(t.Context(), "tcp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	before := s.Stats().Wakeups
	time.Sleep(300 * time.Millisecond)
	w := s.Stats().Wakeups - before
	// free fds so the loop can accept and the test can end
	for _, fd := range fds[:10] {
		_ = unix.Close(fd)
	}
	fds = fds[10:]
	t.Logf("wake-ups in 300 ms with accept failing EMFILE: %d", w)
	require.Less(t, w, uint64(100), "the loop spins on a listening socket it cannot accept from")
}
