package envoystats

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Locked is a Store behind a mutex, for a gRPC server (one goroutine per
// stream) and a Prometheus registry (Collect on scrape) sharing it.
type Locked struct {
	mu    sync.Mutex
	store *Store
}

// NewLocked returns a Locked around New(cfg).
func NewLocked(cfg Config) *Locked { return &Locked{store: New(cfg)} }

// Observe calls [Store.Observe] under the lock.
func (l *Locked) Observe(node NodeIdentity, families []*dto.MetricFamily, now time.Time) (accepted, rejected int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Observe(node, families, now)
}

// Expire calls [Store.Expire] under the lock.
func (l *Locked) Expire(now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Expire(now)
}

// Stats calls [Store.Stats] under the lock.
func (l *Locked) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.store.Stats()
}

// Describe sends nothing (unchecked collector).
func (l *Locked) Describe(chan<- *prometheus.Desc) {}

// Collect builds the metrics under the lock and sends them after releasing
// it, so a slow scrape consumer never blocks Observe.
func (l *Locked) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	ms := make([]prometheus.Metric, 0, l.store.nseries)
	l.store.collect(func(m prometheus.Metric) { ms = append(ms, m) })
	l.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}
