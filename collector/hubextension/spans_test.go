package hubextension

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
)

// TestOneSpanPipeline: records offered reach the one span pipeline set; a
// second owner is refused, another owner's clear is a no-op, and after
// its owner clears it nothing is offered.
func TestOneSpanPipeline(t *testing.T) {
	h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), time.Now)
	require.NoError(t, err)
	recs := make([]accesslog.Record, 3)
	h.OfferSpans(recs) // none set: nothing happens

	var got, other int
	require.NoError(t, h.SetSpans("envoyals", func(r []accesslog.Record) { got += len(r) }))
	require.ErrorContains(t, h.SetSpans("envoyals/2", func(r []accesslog.Record) { other += len(r) }), "already rebuilt by envoyals")
	h.OfferSpans(recs)
	h.ClearSpans("envoyals/2")
	h.OfferSpans(recs)
	assert.Equal(t, 6, got)
	assert.Zero(t, other)

	h.ClearSpans("envoyals")
	h.OfferSpans(recs)
	assert.Equal(t, 6, got, "cleared: nothing offered")
	require.NoError(t, h.SetSpans("envoyals/2", func(r []accesslog.Record) { other += len(r) }), "free again")
	h.OfferSpans(recs)
	assert.Equal(t, 3, other)
}
