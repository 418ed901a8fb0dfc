package alsreceiver

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/meshlens/meshlens/accesslog"
)

// guardCreds wraps the server's transport credentials (TLS, or insecure
// when tls is not set): it counts failed TLS handshakes and hands gRPC
// each connection wrapped in a trackedConn, inside TLS, where the guard
// reads the client's HTTP/2 frames in clear.
type guardCreds struct {
	credentials.TransportCredentials
	g      *guard
	failed func(remote net.Addr, err error)
}

var _ credentials.TransportCredentials = guardCreds{}

// ServerHandshake runs the wrapped handshake. A connection closed before it
// completes (io.EOF: a TCP health check) is not a failure.
func (c guardCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		if !errors.Is(err, io.EOF) {
			c.failed(raw.RemoteAddr(), err)
		}
		return nil, nil, err
	}
	return newTrackedConn(conn, c.g), info, nil
}

// Clone keeps the wrapper.
func (c guardCreds) Clone() credentials.TransportCredentials {
	return guardCreds{TransportCredentials: c.TransportCredentials.Clone(), g: c.g, failed: c.failed}
}

// logLimiter lets through at most one log line per interval and says how
// many it held back: a flood of failed handshakes costs a counter, not a
// log line each.
type logLimiter struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many calls were held back
// since the last line.
func (l *logLimiter) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}

// handshakeFailed counts a failed TLS handshake and logs it, rate-limited.
func (r *alsReceiver) handshakeFailed(remote net.Addr, err error) {
	r.metrics.tlsHandshakeFailures.Inc()
	if ok, held := r.handshakeLog.allow(); ok {
		r.set.Logger.Warn("TLS handshake with a client failed (counted in meshlens_receiver_tls_handshake_failures_total; at most one line per minute)",
			zap.Stringer("remote", remote), zap.Error(err), zap.Int("failures_not_logged", held))
	}
}

// spiffeWorkload is the workload a client certificate's SPIFFE id names
// (spiffe://<trust domain>/ns/<namespace>/sa/<service account>, the form
// Istio and SPIRE's Kubernetes workload registrar issue).
type spiffeWorkload struct {
	namespace string
	account   string
	ok        bool // the certificate carries an id of that form
}

// peerWorkload reads the SPIFFE id of the stream's client certificate.
func peerWorkload(ctx context.Context) spiffeWorkload {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return spiffeWorkload{}
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || info.SPIFFEID == nil {
		return spiffeWorkload{}
	}
	parts := strings.Split(info.SPIFFEID.Path, "/") // "", "ns", <ns>, "sa", <sa>
	if len(parts) != 5 || parts[0] != "" || parts[1] != "ns" || parts[3] != "sa" || parts[2] == "" || parts[4] == "" {
		return spiffeWorkload{}
	}
	return spiffeWorkload{namespace: parts[2], account: parts[4], ok: true}
}

// matches reports whether a proxy's node identity is the certificate's
// workload: the same namespace and, when the node metadata names a service
// account (SERVICE_ACCOUNT), the same account.
func (w spiffeWorkload) matches(p *accesslog.Proxy) bool {
	return w.ok && p != nil && p.Workload.Namespace == w.namespace &&
		(p.ServiceAccount == "" || p.ServiceAccount == w.account)
}
