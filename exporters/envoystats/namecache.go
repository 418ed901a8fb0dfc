package envoystats

// extract returns the cached tag extraction of a flattened name, or nil when
// the name cannot be exposed.
func (s *Store) extract(raw string) *extracted {
	if ex := s.names.get(raw); ex != nil {
		return ex
	}
	s.extractions++
	ex, ok := extractTags(raw)
	if !ok {
		return nil
	}
	s.names.put(raw, ex)
	return ex
}

// nameCache is a bounded two-generation cache of tag extractions: lookups
// hit the current generation, then the previous one (promoting the entry);
// when the current one is full it becomes the previous one. It never holds
// more than 2*gen entries, and hot names survive rotation.
type nameCache struct {
	gen      int
	cur, old map[string]*extracted
}

func newNameCache(size int) nameCache {
	gen := max(size/2, 1)
	return nameCache{gen: gen, cur: make(map[string]*extracted)}
}

func (c *nameCache) get(name string) *extracted {
	if ex, ok := c.cur[name]; ok {
		return ex
	}
	if ex, ok := c.old[name]; ok {
		c.put(name, ex)
		return ex
	}
	return nil
}

func (c *nameCache) put(name string, ex *extracted) {
	if len(c.cur) >= c.gen {
		c.old, c.cur = c.cur, make(map[string]*extracted, c.gen)
	}
	c.cur[name] = ex
}

func (c *nameCache) len() int { return len(c.cur) + len(c.old) }
