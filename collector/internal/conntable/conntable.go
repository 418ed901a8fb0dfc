package conntable

import (
	"sync"
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// Locked is a ConnTable safe for concurrent use; it implements
// accesslog.ConnTracker.
type Locked struct {
	mu sync.Mutex
	t  *accesslog.ConnTable
}

// New returns a table of at most maxConns connections, each forgotten ttl
// after its last entry.
func New(maxConns int, ttl time.Duration) *Locked {
	return &Locked{t: accesslog.NewConnTable(maxConns, ttl)}
}

// Track implements accesslog.ConnTracker.
func (l *Locked) Track(key accesslog.ConnKey, sent, received uint64, final bool, now time.Time) (uint64, uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Track(key, sent, received, final, now)
}

// Overflow is the connections not tracked because the table was full.
func (l *Locked) Overflow() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return float64(l.t.Overflow)
}

// Len is the connections tracked.
func (l *Locked) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.t.Len()
}

// Expire forgets the connections idle for the ttl.
func (l *Locked) Expire(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Expire(now)
}
