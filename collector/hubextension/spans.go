package hubextension

import (
	"fmt"
	"sync/atomic"

	"github.com/meshlens/meshlens/accesslog"
)

// spanPipeline is the one span pipeline records of every ingest path are
// offered to, and the component that set it.
type spanPipeline struct {
	owner string
	offer func(recs []accesslog.Record) // never blocks (exporters/spans.Pipeline.Offer)
}

// SetSpans makes offer the span pipeline for the records other ingest paths
// hand the hub (OfferSpans): the envoyals receiver's, when its traces are
// on. There is one per hub, so that every span goes out through one traces
// pipeline with one set of meshlens_spans_* counters; a second owner is an
// error.
func (h *Hub) SetSpans(owner string, offer func([]accesslog.Record)) error {
	if !h.spans.CompareAndSwap(nil, &spanPipeline{owner: owner, offer: offer}) {
		return fmt.Errorf("hub %s: spans are already rebuilt by %s", h.set.ID, h.spans.Load().owner)
	}
	return nil
}

// ClearSpans removes owner's span pipeline; records offered afterwards are
// not rebuilt into spans. Call it before stopping the pipeline.
// The owner's ClearSpans is a no-op for another owner's pipeline.
func (h *Hub) ClearSpans(owner string) {
	if cur := h.spans.Load(); cur != nil && cur.owner == owner {
		h.spans.CompareAndSwap(cur, nil)
	}
}

// OfferSpans offers records an ingest path already consumed to the span
// pipeline, if one is set. It is what OpenTelemetry and file access logs
// call after ConsumeRecords; the envoyals receiver offers its own records
// to its pipeline directly.
func (h *Hub) OfferSpans(recs []accesslog.Record) {
	if cur := h.spans.Load(); cur != nil {
		cur.offer(recs)
	}
}

// spansRef is the hub's span pipeline (nil: none).
type spansRef = atomic.Pointer[spanPipeline]
