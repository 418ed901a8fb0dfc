package hubref

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

type host map[component.ID]component.Component

func (h host) GetExtensions() map[component.ID]component.Component { return h }

type ext struct{}

func (ext) Start(context.Context, component.Host) error { return nil }
func (ext) Shutdown(context.Context) error              { return nil }

type other struct{ ext }

type sink interface{ Consume() }

func (other) Consume() {}

func TestFind(t *testing.T) {
	id, id2 := component.MustNewID("meshlens"), component.MustNewIDWithName("meshlens", "plain")
	h := host{id: other{}, id2: ext{}}
	s, err := Find[sink](h, id, "consume")
	require.NoError(t, err)
	assert.NotNil(t, s)
	_, err = Find[sink](h, id2, "consume access log records")
	require.EqualError(t, err, `extension "meshlens/plain" cannot consume access log records`)
	_, err = Find[sink](h, component.MustNewIDWithName("meshlens", "missing"), "consume")
	require.EqualError(t, err, `hub extension "meshlens/missing" is not configured: add it under extensions and service.extensions`)
}
