package accesslog

// StreamLocal is the per-stream handle of the ingest contract (Consumer):
// what consumers keep for one stream across its batches, each value under a
// key of the consumer's choosing (a pointer it owns). The ingest path
// creates one per stream (new(StreamLocal)) and passes it with every batch;
// a stream's batches are consumed one after the other, so it is not safe
// for concurrent use and needs no lock. A nil *StreamLocal holds nothing
// (Load returns nil); Store needs a non-nil one.
type StreamLocal struct {
	vals map[any]any
}

// Load returns the value stored under key, or nil.
func (l *StreamLocal) Load(key any) any {
	if l == nil {
		return nil
	}
	return l.vals[key]
}

// Store stores v under key.
func (l *StreamLocal) Store(key, v any) {
	if l.vals == nil {
		l.vals = make(map[any]any, 2)
	}
	l.vals[key] = v
}
