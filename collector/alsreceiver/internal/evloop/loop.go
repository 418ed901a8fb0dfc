//go:build linux

package evloop

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Session is one connection's protocol state, implemented by the protocol
// core (consumer-side interface).
type Session interface {
	// Feed takes every byte read from the connection, in order. An error
	// closes the connection once Output is written (as far as the socket
	// takes it without waiting).
	Feed(p []byte, now time.Time) error
	// Output is what is to be written; Written(n) says n bytes of it were.
	Output() []byte
	Written(n int)
	// Expire is called about every Config.Housekeeping, for timeouts; an
	// error closes the connection as Feed's does.
	Expire(now time.Time) error
	// Closed: the connection is gone (peer closed, error, or shutdown).
	Closed(now time.Time)
}

// Config sets the loops.
type Config struct {
	// Loops is the number of event loops (default GOMAXPROCS).
	Loops int
	// Tick is how long a loop sleeps after each wake-up before waiting
	// again (0: 10 ms; negative: no sleep): what a connection's message may wait, and
	// what lets one wake-up serve many connections. A wake-up with a read
	// of half ReadSize or more is not followed by a sleep.
	Tick time.Duration
	// ReadSize is the most read from a connection at once (default 64 KiB).
	ReadSize int
	// MaxOutput closes a connection whose Session has more than this to
	// write after the socket took what it would (default 1 MiB): a peer
	// that does not read.
	MaxOutput int
	// MaxConns refuses (accepts and closes at once) connections beyond it,
	// over all loops (default 0: no limit).
	MaxConns int
	// Housekeeping is how often Expire is called (default 1 s).
	Housekeeping time.Duration
}

func (c *Config) defaults() {
	if c.Loops <= 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.Tick < 0 {
		c.Tick = 0
	} else if c.Tick == 0 {
		c.Tick = 10 * time.Millisecond
	}
	if c.ReadSize <= 0 {
		c.ReadSize = 64 << 10
	}
	if c.MaxOutput <= 0 {
		c.MaxOutput = 1 << 20
	}
	if c.Housekeeping <= 0 {
		c.Housekeeping = time.Second
	}
}

// busyFor is how many ticks a loop does not sleep after a read of half
// its buffer or more: a busy sender's next reads may be small (it waits
// for window), but it is still busy.
const busyFor = 8

// Stats are the loops' counters, summed.
type Stats struct {
	Wakeups  uint64 // returns from epoll_wait with events
	Reads    uint64 // reads that returned bytes
	Accepted uint64
	Refused  uint64 // connections closed at accept (MaxConns)
	// AcceptErrors: accepts that failed for want of resources (EMFILE...),
	// each followed by a pause.
	AcceptErrors uint64
	Open         int64 // connections open now
}

// Server is a listening socket served by Config.Loops event loops.
type Server struct {
	cfg        Config
	lfd        int
	addr       net.Addr
	newSession func(remote net.Addr) Session
	loops      []*loop
	wg         sync.WaitGroup
	closeOnce  sync.Once
	mu         sync.Mutex // guards served and closed
	served     bool
	closed     bool
	open       atomic.Int64
	accepted   atomic.Uint64
	refused    atomic.Uint64
}

// Listen opens a TCP listening socket on addr ("host:port") for Serve.
func Listen(ctx context.Context, addr string, cfg Config, newSession func(remote net.Addr) Session) (*Server, error) {
	cfg.defaults()
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close() // the loops accept on a duplicate
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return nil, fmt.Errorf("listening socket: %w", err)
	}
	lfd, err := unix.Dup(int(f.Fd()))
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("listening socket: %w", err)
	}
	unix.CloseOnExec(lfd)
	if err := unix.SetNonblock(lfd, true); err != nil {
		_ = unix.Close(lfd)
		return nil, fmt.Errorf("listening socket: %w", err)
	}
	s := &Server{cfg: cfg, lfd: lfd, addr: ln.Addr(), newSession: newSession}
	for range cfg.Loops {
		l, err := newLoop(s)
		if err != nil {
			s.closeLoops()
			_ = unix.Close(lfd)
			return nil, err
		}
		s.loops = append(s.loops, l)
	}
	return s, nil
}

// Addr is the address listened on.
func (s *Server) Addr() net.Addr { return s.addr }

// Serve runs the loops until Close; it returns once every loop has ended
// and closed its connections (at once if Close came first).
func (s *Server) Serve() {
	s.mu.Lock()
	if s.closed || s.served {
		s.mu.Unlock()
		return
	}
	s.served = true
	s.wg.Add(len(s.loops))
	s.mu.Unlock()
	for _, l := range s.loops {
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	s.wg.Wait()
}

// Close stops the loops (each closes its connections, calling Closed) and
// the listening socket, and waits for the loops to end if Serve runs.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		served := s.served
		s.mu.Unlock()
		for _, l := range s.loops {
			l.stop()
		}
		if served {
			s.wg.Wait()
		}
		s.closeLoops()
		_ = unix.Close(s.lfd)
	})
	return nil
}

func (s *Server) closeLoops() {
	for _, l := range s.loops {
		_ = unix.Close(l.epfd)
		_ = unix.Close(l.efd)
		_ = unix.Close(l.sleepfd)
	}
}

// Stats sums the loops' counters. Safe at any time.
func (s *Server) Stats() Stats {
	st := Stats{Accepted: s.accepted.Load(), Refused: s.refused.Load(), Open: s.open.Load()}
	for _, l := range s.loops {
		st.Wakeups += l.wakeups.Load()
		st.Reads += l.reads.Load()
		st.AcceptErrors += l.acceptErrors.Load()
	}
	return st
}

// loop is one event loop: its epoll instance, the eventfd that wakes it to
// stop, and the connections it accepted.
type loop struct {
	s    *Server
	epfd int
	efd  int
	// sleepfd: an epoll instance of the listening socket and efd alone,
	// waited on during a tick's sleep, so that a connection is accepted
	// (and gets our SETTINGS) at once while the loop's reads wait.
	sleepfd  int
	conns    map[int32]*conn
	stopping atomic.Bool
	// busyUntil: no sleep until then, since a read took half the buffer
	// or more.
	busyUntil time.Time
	// acceptPausedUntil: the listening socket is not watched until then
	// (accept failed for want of resources); acceptBackoff the pause.
	acceptPausedUntil time.Time
	acceptBackoff     time.Duration
	acceptErrors      atomic.Uint64
	wakeups           atomic.Uint64
	reads             atomic.Uint64
}

// conn is a connection of a loop.
type conn struct {
	fd      int
	session Session
	polling uint32 // the events registered
}

func newLoop(s *Server) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	sleepfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(efd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l := &loop{s: s, epfd: epfd, efd: efd, sleepfd: sleepfd, conns: map[int32]*conn{}}
	if err := unix.EpollCtl(sleepfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	// Every loop waits on the listening socket; EPOLLEXCLUSIVE wakes one.
	if err := l.watchListener(unix.EPOLL_CTL_ADD); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return l, nil
}

// watchListener adds the listening socket to (or removes it from) both of
// the loop's epoll instances; EPOLLEXCLUSIVE wakes one waiter of many.
func (l *loop) watchListener(op int) error {
	var ev *unix.EpollEvent
	if op == unix.EPOLL_CTL_ADD {
		ev = &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(l.s.lfd)}
	}
	return errors.Join(unix.EpollCtl(l.epfd, op, l.s.lfd, ev), unix.EpollCtl(l.sleepfd, op, l.s.lfd, ev))
}

// sleep waits d for the loop's connections to gather more to read,
// accepting new connections meanwhile; it returns early when the loop is
// stopped.
func (l *loop) sleep(d time.Duration) {
	var evs [2]unix.EpollEvent
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		n, err := unix.EpollWait(l.sleepfd, evs[:], int((left+time.Millisecond-1)/time.Millisecond))
		if err != nil && !errors.Is(err, unix.EINTR) {
			time.Sleep(left)
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			if ev.Fd == int32(l.efd) {
				return
			}
			l.accept()
		}
	}
}

func (l *loop) closeFds() {
	_ = unix.Close(l.epfd)
	_ = unix.Close(l.efd)
	_ = unix.Close(l.sleepfd)
}

func (l *loop) stop() {
	l.stopping.Store(true)
	var one [8]byte
	one[0] = 1
	_, _ = unix.Write(l.efd, one[:])
}

func (l *loop) run() {
	cfg := &l.s.cfg
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, cfg.ReadSize)
	nextHousekeeping := time.Now().Add(cfg.Housekeeping)
	defer l.closeAll()
	for !l.stopping.Load() {
		if !l.acceptPausedUntil.IsZero() && !time.Now().Before(l.acceptPausedUntil) {
			l.acceptPausedUntil = time.Time{}
			_ = l.watchListener(unix.EPOLL_CTL_ADD)
		}
		wait := time.Until(nextHousekeeping)
		if !l.acceptPausedUntil.IsZero() {
			wait = min(wait, time.Until(l.acceptPausedUntil))
		}
		n, err := unix.EpollWait(l.epfd, events, max(int(wait/time.Millisecond), 0)+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return // the epoll instance is gone
		}
		woke := time.Now()
		if n > 0 {
			l.wakeups.Add(1)
		}
		for _, ev := range events[:max(n, 0)] {
			switch ev.Fd {
			case int32(l.s.lfd):
				l.accept()
			case int32(l.efd):
				return
			default:
				if c := l.conns[ev.Fd]; c != nil {
					l.serve(c, ev.Events, buf)
				}
			}
		}
		if now := time.Now(); !now.Before(nextHousekeeping) {
			nextHousekeeping = now.Add(cfg.Housekeeping)
			for _, c := range l.conns {
				if err := c.session.Expire(now); err != nil {
					l.flush(c)
					l.close(c)
					continue
				}
				l.flush(c)
			}
		}
		// No sleep for busyFor ticks after a read of half the buffer or
		// more: a connection that sends more than sparse small messages
		// (Envoy flushes at most 16 KiB a worker a second by default) is
		// read as fast as it sends, not a flow-control window a tick.
		if n > 0 && cfg.Tick > 0 && woke.After(l.busyUntil) {
			l.sleep(cfg.Tick - time.Since(woke))
		}
	}
}

func (l *loop) accept() {
	for {
		fd, sa, err := unix.Accept4(l.s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ECONNABORTED):
				// Another loop took it, none is left, or the peer left.
			default:
				// Out of file descriptors or memory (EMFILE, ENFILE,
				// ENOBUFS): the listening socket stays readable, so stop
				// watching it for a while (5 ms doubling to 1 s, as
				// net/http and grpc-go back off) instead of spinning.
				l.acceptBackoff = min(max(2*l.acceptBackoff, 5*time.Millisecond), time.Second)
				l.acceptPausedUntil = time.Now().Add(l.acceptBackoff)
				_ = l.watchListener(unix.EPOLL_CTL_DEL)
				l.acceptErrors.Add(1)
			}
			return
		}
		l.acceptBackoff = 0
		// No sleep after a wake-up that accepted: clients connecting one
		// after another (each waits for our SETTINGS) are not held a tick
		// each.
		if now := time.Now(); l.busyUntil.Before(now) {
			l.busyUntil = now
		}
		if limit := l.s.cfg.MaxConns; limit > 0 && l.s.open.Load() >= int64(limit) {
			l.s.refused.Add(1)
			_ = unix.Close(fd)
			continue
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &conn{fd: fd, polling: unix.EPOLLIN | unix.EPOLLRDHUP}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: c.polling, Fd: int32(fd)}); err != nil {
			_ = unix.Close(fd)
			continue
		}
		l.s.accepted.Add(1)
		l.s.open.Add(1)
		c.session = l.s.newSession(sockaddr(sa))
		l.conns[int32(fd)] = c
		l.flush(c) // what the protocol sends first (SETTINGS)
	}
}

// serve reads a ready connection once and writes what its session answers.
func (l *loop) serve(c *conn, events uint32, buf []byte) {
	if events&unix.EPOLLOUT != 0 {
		if !l.flush(c) {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	n, err := unix.Read(c.fd, buf)
	if n > 0 {
		l.reads.Add(1)
		if n >= len(buf)/2 {
			l.busyUntil = time.Now().Add(busyFor * l.s.cfg.Tick)
		}
		ferr := c.session.Feed(buf[:n], time.Now())
		if !l.flush(c) {
			return
		}
		if ferr != nil {
			l.close(c)
		}
		return
	}
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
		return
	}
	l.close(c) // 0: the peer closed; or an error
}

// flush writes the session's output as far as the socket takes it, polls
// for writability while some is left, and closes the connection (false)
// when the peer does not read or the socket failed.
func (l *loop) flush(c *conn) bool {
	for out := c.session.Output(); len(out) > 0; out = c.session.Output() {
		n, err := unix.Write(c.fd, out)
		if n > 0 {
			c.session.Written(n)
			continue
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if !errors.Is(err, unix.EAGAIN) {
			l.close(c)
			return false
		}
		if len(out) > l.s.cfg.MaxOutput {
			l.close(c)
			return false
		}
		l.poll(c, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT)
		return true
	}
	l.poll(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	return true
}

func (l *loop) poll(c *conn, events uint32) {
	if c.polling == events {
		return
	}
	c.polling = events
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.fd)})
}

func (l *loop) close(c *conn) {
	if _, ok := l.conns[int32(c.fd)]; !ok {
		return
	}
	delete(l.conns, int32(c.fd))
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	_ = unix.Close(c.fd)
	l.s.open.Add(-1)
	c.session.Closed(time.Now())
}

func (l *loop) closeAll() {
	for _, c := range l.conns {
		l.flush(c)
		l.close(c)
	}
}

// sockaddr is the peer's address as a net.Addr.
func sockaddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return &net.TCPAddr{}
}
