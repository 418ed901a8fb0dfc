//go:build !linux

package alsreceiver

import (
	"context"
	"errors"
)

// startLoops: the event loops need Linux (epoll).
func (r *alsReceiver) startLoops(context.Context) error {
	r.metrics.unregister()
	return errors.New("event_loop needs Linux (epoll)")
}
