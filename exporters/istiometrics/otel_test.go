package istiometrics

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/meshlens/meshlens/exporters/internal/otelconv/oteltest"
	"github.com/meshlens/meshlens/loadgen"
)

// TestOTelReaderEqualsWriteText: what the reader emits, flattened as
// Prometheus remote write flattens it, is sample for sample the scrape of
// WriteText (HTTP, gRPC and TCP series, every histogram bucket), in batches
// of at most the batch size; start times are the reader's creation for
// the first read's series and stay across reads.
func TestOTelReaderEqualsWriteText(t *testing.T) {
	a := New(DefaultConfig())
	start := now.Add(-time.Minute)
	r := a.NewOTelReader(start)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 2000, TCPPeriodic: true}))

	var text bytes.Buffer
	require.NoError(t, a.WriteText(&text, FormatText))
	want := oteltest.FromExposition(parseText(t, text.Bytes(), FormatText))
	emit, got := oteltest.Collect()
	require.NoError(t, r.Read(now, 100, emit))
	samples, points := oteltest.FromOTel(*got)
	assert.Equal(t, want, samples)
	assert.Greater(t, len(*got), points/100, "emitted in batches")
	for _, ms := range *got {
		assert.LessOrEqual(t, points1(ms), 100+6, "a batch ends after the series that reaches the batch size")
	}
	forEachPoint(*got, func(s, ts pcommon.Timestamp) {
		assert.Equal(t, pcommon.NewTimestampFromTime(start), s)
		assert.Equal(t, pcommon.NewTimestampFromTime(now), ts)
	})

	// A second read: the same series keep their start; a new series starts
	// at the previous read.
	later := now.Add(15 * time.Second)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 4, Requests: 10}))
	emit, got = oteltest.Collect()
	require.NoError(t, r.Read(later, 1<<20, emit))
	require.Len(t, *got, 1)
	forEachPoint(*got, func(s, _ pcommon.Timestamp) {
		assert.Contains(t, []pcommon.Timestamp{pcommon.NewTimestampFromTime(start), pcommon.NewTimestampFromTime(now)}, s)
	})
}

func points1(ms pmetric.MetricSlice) int {
	_, n := oteltest.FromOTel([]pmetric.MetricSlice{ms})
	return n
}

func forEachPoint(batches []pmetric.MetricSlice, f func(start, ts pcommon.Timestamp)) {
	for _, ms := range batches {
		for i := range ms.Len() {
			m := ms.At(i)
			switch m.Type() {
			case pmetric.MetricTypeSum:
				for j := range m.Sum().DataPoints().Len() {
					f(m.Sum().DataPoints().At(j).StartTimestamp(), m.Sum().DataPoints().At(j).Timestamp())
				}
			case pmetric.MetricTypeHistogram:
				for j := range m.Histogram().DataPoints().Len() {
					f(m.Histogram().DataPoints().At(j).StartTimestamp(), m.Histogram().DataPoints().At(j).Timestamp())
				}
			}
		}
	}
}

// TestOTelReaderRestartsExpiredSeries: a series that expired and came back
// is a new series: it starts at the read before the one that sees it, so a
// consumer sees the reset.
func TestOTelReaderRestartsExpiredSeries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SeriesTTL = time.Minute
	a := New(cfg)
	r := a.NewOTelReader(now)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 5, Requests: 50})
	replay(t, a, tr)
	emit, _ := oteltest.Collect()
	require.NoError(t, r.Read(now.Add(time.Second), 1000, emit))
	require.Positive(t, a.Expire(now.Add(time.Hour)))
	require.NoError(t, r.Read(now.Add(time.Hour), 1000, emit)) // nothing left
	assert.Zero(t, r.httpStart.Len()+r.tcpStart.Len(), "forgotten once expired")
	replay(t, a, tr) // the same label sets again, as new series
	emit, got := oteltest.Collect()
	read := now.Add(time.Hour + time.Second)
	require.NoError(t, r.Read(read, 1000, emit))
	require.NotEmpty(t, *got)
	forEachPoint(*got, func(s, _ pcommon.Timestamp) {
		assert.Equal(t, pcommon.NewTimestampFromTime(now.Add(time.Hour)), s)
	})
}

// TestOTelReaderFailingConsumerHoldsNoExpiredSeries: while every read
// fails (the consumer is down), series that expire are still forgotten and
// the series not emitted keep their start times.
func TestOTelReaderFailingConsumerHoldsNoExpiredSeries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SeriesTTL = time.Minute
	a := New(cfg)
	r := a.NewOTelReader(now)
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 5, Requests: 200})
	replay(t, a, tr)
	failing := func(pmetric.MetricSlice) error { return errors.New("consumer down") }
	require.Error(t, r.Read(now.Add(time.Second), 1, failing))
	held := r.httpStart.Len() + r.tcpStart.Len()
	assert.Equal(t, a.Stats().HTTPSeries+a.Stats().TCPSeries, int64(held), "every live series keeps its start, emitted or not")
	require.Positive(t, a.Expire(now.Add(time.Hour)))
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 6, Requests: 20})) // a few new series
	require.Error(t, r.Read(now.Add(time.Hour), 1, failing))
	live := a.Stats().HTTPSeries + a.Stats().TCPSeries
	require.Less(t, live, int64(held))
	assert.Equal(t, live, int64(r.httpStart.Len()+r.tcpStart.Len()), "expired series forgotten although the read failed")
}
