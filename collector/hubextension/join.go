package hubextension

import (
	"sync"
	"time"

	"github.com/meshlens/meshlens/accesslog"
)

// joinShards splits the two-reporter join so that streams on different
// cores rarely wait for each other.
const joinShards = 16

// shardedJoiner is the join's adapter: the core Joiner (which takes no
// lock) split into shards by hop key, each behind its own mutex. It is safe
// for concurrent use.
type shardedJoiner struct {
	shards [joinShards]joinShard
}

type joinShard struct {
	mu sync.Mutex
	j  *accesslog.Joiner
	_  [48]byte // separate cache lines
}

func newShardedJoiner(cfg JoinConfig) *shardedJoiner {
	s := new(shardedJoiner)
	for i := range s.shards {
		s.shards[i].j = accesslog.NewJoiner((cfg.MaxPending+joinShards-1)/joinShards, cfg.TTL)
	}
	return s
}

// observe joins the records of a batch that need it, in place.
func (s *shardedJoiner) observe(recs []accesslog.Record, now time.Time) {
	for i := range recs {
		if !accesslog.NeedsJoin(&recs[i]) {
			continue
		}
		if key, ok := accesslog.HopKey(&recs[i]); ok {
			sh := &s.shards[key%joinShards]
			sh.mu.Lock()
			sh.j.ObserveKey(&recs[i], key, now)
			sh.mu.Unlock()
		}
	}
}

// expire drops the hops that waited longer than the join's TTL.
func (s *shardedJoiner) expire(now time.Time) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		sh.j.Expire(now)
		sh.mu.Unlock()
	}
}

// stats sums the shards' counters.
func (s *shardedJoiner) stats() (joined, overflow uint64, pending int) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		joined += sh.j.Joined
		overflow += sh.j.Overflow
		pending += sh.j.Len()
		sh.mu.Unlock()
	}
	return joined, overflow, pending
}
