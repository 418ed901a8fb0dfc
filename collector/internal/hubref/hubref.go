// Package hubref finds, for a collector component, the meshlens hub
// extension it names in its configuration (its `hub` key), as the
// consumer-side interface the component needs.
package hubref

import (
	"fmt"

	"go.opentelemetry.io/collector/component"
)

// Find returns the extension id of host as a T, or an error that says
// what is missing: the extension is not configured, or it does not do
// what (e.g. "consume access log records").
func Find[T any](host component.Host, id component.ID, what string) (T, error) {
	var zero T
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return zero, fmt.Errorf("hub extension %q is not configured: add it under extensions and service.extensions", id)
	}
	t, ok := ext.(T)
	if !ok {
		return zero, fmt.Errorf("extension %q cannot %s", id, what)
	}
	return t, nil
}
