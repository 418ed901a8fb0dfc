package envoystats

import "time"

// Expire removes the series whose last sample is older than TTL at now, and
// the nodes left without series and without news for TTL. It returns the
// number of series removed. now should not go backwards between calls.
func (s *Store) Expire(now time.Time) int {
	n := 0
	for ser := s.lru.next; ser != &s.lru; {
		if now.Sub(ser.lastSeen) <= s.cfg.TTL {
			break
		}
		next := ser.next
		s.remove(ser)
		n++
		ser = next
	}
	for id, ns := range s.nodes {
		if ns.n == 0 && now.Sub(ns.lastSeen) > s.cfg.TTL {
			delete(s.nodes, id)
		}
	}
	s.expired += uint64(n)
	return n
}

// touch marks ser as updated at now: it moves to the back of the expiry list.
func (s *Store) touch(ser *series, now time.Time) {
	ser.lastSeen = now
	if s.lru.prev == ser {
		return
	}
	ser.prev.next, ser.next.prev = ser.next, ser.prev
	s.pushBack(ser)
}

func (s *Store) pushBack(ser *series) {
	ser.prev, ser.next = s.lru.prev, &s.lru
	s.lru.prev.next = ser
	s.lru.prev = ser
}

// unlink removes ser from the expiry list and its node, not from its family.
func (s *Store) unlink(ser *series) {
	ser.prev.next, ser.next.prev = ser.next, ser.prev
	ser.prev, ser.next = nil, nil
	maps := &ser.node.flat
	if ser.labeled {
		maps = &ser.node.labeled
	}
	delete(maps[ser.kind], ser.key)
	ser.node.n--
	s.nseries--
	s.labelBytes -= ser.charge()
}

// remove deletes ser everywhere, and its family when it was the last series.
func (s *Store) remove(ser *series) {
	s.unlink(ser)
	fam := ser.fam
	delete(fam.index, ser.canon)
	last := len(fam.series) - 1
	fam.series[ser.idx] = fam.series[last]
	fam.series[ser.idx].idx = ser.idx
	fam.series[last] = nil
	fam.series = fam.series[:last]
	if len(fam.series) == 0 {
		s.dropFamily(fam)
	}
}
