package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/meshlens/meshlens/topology"
)

// subscriber is one stream client.
type subscriber struct {
	q   query
	key string
	// events carries encoded SSE events. When it is full the event is
	// dropped and the client is resynchronised with a full snapshot.
	events chan []byte
	// What the client has: encoded nodes and edges by id; nil after a drop.
	nodes, edges map[string][]byte
}

// changeEvent is the data of a "change" event: what differs from the
// previous event of the stream.
type changeEvent struct {
	Time    time.Time         `json:"time"`
	Windows []topology.Window `json:"windows"`
	Nodes   changes           `json:"nodes"`
	Edges   changes           `json:"edges"`
	Stats   topology.Stats    `json:"stats"`
}

type changes struct {
	Added   []json.RawMessage `json:"added,omitempty"`
	Updated []json.RawMessage `json:"updated,omitempty"`
	Removed []string          `json:"removed,omitempty"`
}

func (c *changes) empty() bool { return len(c.Added)+len(c.Updated)+len(c.Removed) == 0 }

func encodeMap[T any](items []T, id func(*T) string) (map[string][]byte, []string, error) {
	m := make(map[string][]byte, len(items))
	order := make([]string, 0, len(items))
	for i := range items {
		b, err := json.Marshal(&items[i])
		if err != nil {
			return nil, nil, err
		}
		k := id(&items[i])
		m[k] = b
		order = append(order, k)
	}
	return m, order, nil
}

func diff(prev, cur map[string][]byte, order []string) changes {
	var c changes
	for _, k := range order {
		old, found := prev[k]
		switch {
		case !found:
			c.Added = append(c.Added, cur[k])
		case !bytes.Equal(old, cur[k]):
			c.Updated = append(c.Updated, cur[k])
		}
	}
	for k := range prev {
		if _, found := cur[k]; !found {
			c.Removed = append(c.Removed, k)
		}
	}
	slices.Sort(c.Removed)
	return c
}

func sseEvent(name string, data []byte) []byte {
	out := make([]byte, 0, len(data)+len(name)+16)
	out = append(out, "event: "...)
	out = append(out, name...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// update computes the event that brings s from what it has to snap: a full
// "snapshot" event after a drop, a "change" event otherwise, or nil when
// nothing changed.
func (s *subscriber) update(snap *topology.Snapshot) ([]byte, error) {
	nodes, nodeOrder, err := encodeMap(snap.Nodes, func(n *topology.Node) string { return n.ID })
	if err != nil {
		return nil, err
	}
	edges, edgeOrder, err := encodeMap(snap.Edges, func(e *topology.Edge) string { return e.ID })
	if err != nil {
		return nil, err
	}
	if s.nodes == nil {
		b, err := json.Marshal(snap)
		if err != nil {
			return nil, err
		}
		s.nodes, s.edges = nodes, edges
		return sseEvent("snapshot", b), nil
	}
	ev := changeEvent{
		Time: snap.Time, Windows: snap.Windows, Stats: snap.Stats,
		Nodes: diff(s.nodes, nodes, nodeOrder), Edges: diff(s.edges, edges, edgeOrder),
	}
	s.nodes, s.edges = nodes, edges
	if ev.Nodes.empty() && ev.Edges.empty() {
		return nil, nil
	}
	b, err := json.Marshal(&ev)
	if err != nil {
		return nil, err
	}
	return sseEvent("change", b), nil
}

// subscribe registers a stream client and returns its first event (a full
// snapshot). It starts the publisher with the first client.
func (l *Live) subscribe(q query, now func() time.Time) (*subscriber, []byte, error) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	if len(l.subs) >= l.opts.MaxStreamClients {
		return nil, nil, ErrTooManyClients
	}
	s := &subscriber{q: q, key: q.key(), events: make(chan []byte, 4)}
	snap, err := l.Snapshot(now(), q.snap)
	if err != nil {
		return nil, nil, err
	}
	first, err := s.update(snap)
	if err != nil {
		return nil, nil, fmt.Errorf("encode snapshot: %w", err)
	}
	l.subs[s] = struct{}{}
	if !l.started {
		l.started = true
		l.wg.Add(1)
		go l.publisher(now)
	}
	return s, first, nil
}

func (l *Live) unsubscribe(s *subscriber) {
	l.subMu.Lock()
	delete(l.subs, s)
	l.subMu.Unlock()
}

// publisher sends changes to the stream clients at most once per publish
// interval: when records arrived (one-slot channel) or, without records,
// once per refresh period so that sliding windows and expiry show.
func (l *Live) publisher(now func() time.Time) {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.PublishInterval)
	defer t.Stop()
	refresh := l.refreshPeriod()
	last := now()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		n := now()
		select {
		case <-l.changed:
		default:
			if n.Sub(last) < refresh {
				continue
			}
		}
		last = n
		l.publish(n)
	}
}

// refreshPeriod is the slot width of the shortest window: without new
// records, rates only change when a slot leaves a window.
func (l *Live) refreshPeriod() time.Duration {
	cfg := l.g.Config()
	return max(cfg.Windows[0]/time.Duration(cfg.SlotsPerWindow), l.opts.PublishInterval)
}

func (l *Live) publish(now time.Time) {
	l.subMu.Lock()
	defer l.subMu.Unlock()
	snaps := map[string]*topology.Snapshot{}
	for s := range l.subs {
		snap, found := snaps[s.key]
		if !found {
			var err error
			if snap, err = l.Snapshot(now, s.q.snap); err != nil {
				continue // options were validated at subscribe
			}
			snaps[s.key] = snap
		}
		ev, err := s.update(snap)
		if err != nil || ev == nil {
			continue
		}
		select {
		case s.events <- ev:
		default: // slow client: drop and resend everything next time
			s.nodes, s.edges = nil, nil
		}
	}
}
