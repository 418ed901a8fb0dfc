package accesslog

import "context"

// StreamLocal holds what consumers keep for one ALS stream across its
// batches: caches, each under a key of the consumer's choosing (a pointer
// it owns). The receiver attaches one to each stream's context; a stream's
// batches are consumed one after the other, so it is not safe for
// concurrent use and needs no lock.
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

type streamLocalKey struct{}

// WithStreamLocal returns ctx carrying a new StreamLocal.
func WithStreamLocal(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamLocalKey{}, new(StreamLocal))
}

// StreamLocalFrom returns the StreamLocal of ctx, or nil (consumers then
// keep nothing across batches).
func StreamLocalFrom(ctx context.Context) *StreamLocal {
	l, _ := ctx.Value(streamLocalKey{}).(*StreamLocal)
	return l
}
