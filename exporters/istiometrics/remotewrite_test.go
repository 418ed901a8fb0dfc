package istiometrics

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/exporters/internal/otelconv/oteltest"
	"github.com/meshlens/meshlens/exporters/remotewrite"
	"github.com/meshlens/meshlens/exporters/remotewrite/rwtest"
	"github.com/meshlens/meshlens/loadgen"
)

var rwExternal = []remotewrite.Label{{Name: "job", Value: "meshlens"}, {Name: "instance", Value: "pod-1"}, {Name: "zone", Value: ""}}

// pushRW reads a's series once with r at ts into requests of at most
// maxBytes (plus a label set's series) and returns their bodies.
func pushRW(t testing.TB, r *RemoteWriteReader, ts int64, maxBytes int) [][]byte {
	t.Helper()
	var bodies [][]byte
	b := &remotewrite.Batch{MaxBytes: maxBytes, Emit: func(body []byte, _, _ int) error {
		bodies = append(bodies, bytes.Clone(body))
		return nil
	}}
	require.NoError(t, r.Read(ts, b))
	require.NoError(t, b.Flush())
	return bodies
}

// withoutExternal checks that every decoded series carries the external
// labels (job, instance; the empty zone left out) and returns the samples
// without them.
func withoutExternal(t *testing.T, samples map[string]float64) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for k, v := range samples {
		rest, ok := strings.CutSuffix(k, "}")
		require.True(t, ok, k)
		require.Contains(t, rest, `instance="pod-1",`, k)
		require.Contains(t, rest, `job="meshlens",`, k)
		require.NotContains(t, rest, `zone=`, k)
		k = strings.Replace(strings.Replace(k, `instance="pod-1",`, "", 1), `job="meshlens",`, "", 1)
		out[k] = v
	}
	return out
}

// TestRemoteWriteEqualsWriteText: decoded with Prometheus's own types, a
// push is sample for sample the scrape of WriteText (HTTP, gRPC and TCP
// series, every bucket with le as the exposition writes it), plus the
// external labels, every series once with sorted labels and the push's
// timestamp, in requests cut at the batch's size; with the overrides'
// removed labels and disabled metrics too.
func TestRemoteWriteEqualsWriteText(t *testing.T) {
	for _, tt := range []struct {
		name      string
		overrides []Override
		maxBytes  int
	}{
		{name: "defaults", maxBytes: 1 << 20},
		{name: "small requests", maxBytes: 4096},
		{name: "labels removed", overrides: []Override{remove("", "source_principal", "destination_principal", "response_code")}, maxBytes: 1 << 20},
		{name: "metrics disabled", overrides: []Override{disable("REQUEST_SIZE", ""), disable("REQUEST_COUNT", "CLIENT"), disable("TCP_SENT_BYTES", "")}, maxBytes: 1 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Overrides = tt.overrides
			require.NoError(t, cfg.Validate())
			a := New(cfg)
			r, err := a.NewRemoteWriteReader(rwExternal)
			require.NoError(t, err)
			replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 2000, TCPPeriodic: true}))
			var text bytes.Buffer
			require.NoError(t, a.WriteText(&text, FormatText))
			want := oteltest.FromExposition(parseText(t, text.Bytes(), FormatText))

			const ts = 1_795_000_000_123
			bodies := pushRW(t, r, ts, tt.maxBytes)
			d, err := rwtest.Decode(bodies...)
			require.NoError(t, err)
			assert.Empty(t, d.Problems)
			assert.Empty(t, d.Histograms, "native histograms are off")
			assert.Equal(t, []int64{ts}, d.Timestamps)
			assert.Equal(t, want, withoutExternal(t, d.Samples))
			for _, body := range bodies[:len(bodies)-1] {
				// A request ends after the label set that filled it: at
				// most ~70 series of ~1 KB beyond.
				assert.Less(t, len(body), tt.maxBytes+80_000)
			}
			if tt.maxBytes < 1<<20 {
				assert.Greater(t, len(bodies), 10)
			}
		})
	}
}

// TestRemoteWriteNative: with native histograms on, the three histograms
// go as native histograms only, each the protobuf exposition's native
// histogram (schema, zero bucket, spans, deltas, count, sum); the counters
// are the text exposition's; a label set is a handful of series.
func TestRemoteWriteNative(t *testing.T) {
	a := New(nativeConfig())
	r, err := a.NewRemoteWriteReader(rwExternal)
	require.NoError(t, err)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 8, Requests: 3000, TCPPeriodic: true}))
	var pb, text bytes.Buffer
	require.NoError(t, a.WriteProtobuf(&pb))
	require.NoError(t, a.WriteText(&text, FormatText))
	_, fams := readProtobuf(t, pb.Bytes())
	d, err := rwtest.Decode(pushRW(t, r, 1_795_000_000_000, 1<<20)...)
	require.NoError(t, err)
	assert.Empty(t, d.Problems)

	wantHists := map[string]prompb.Histogram{}
	for _, name := range []string{RequestDuration, RequestBytes, ResponseBytes} {
		for _, m := range fams[name].GetMetric() {
			l := map[string]string{"job": "meshlens", "instance": "pod-1"}
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != "" {
					l[lp.GetName()] = lp.GetValue()
				}
			}
			ls := []prompb.Label{{Name: "__name__", Value: name}}
			for n, v := range l {
				ls = append(ls, prompb.Label{Name: n, Value: v})
			}
			h := m.GetHistogram()
			require.NotNil(t, h.Schema, "native on: every histogram has native buckets")
			w := prompb.Histogram{
				Count: &prompb.Histogram_CountInt{CountInt: h.GetSampleCount()}, Sum: h.GetSampleSum(),
				Schema: h.GetSchema(), ZeroThreshold: h.GetZeroThreshold(),
				ZeroCount:      &prompb.Histogram_ZeroCountInt{ZeroCountInt: h.GetZeroCount()},
				PositiveDeltas: h.GetPositiveDelta(), Timestamp: 1_795_000_000_000,
			}
			for _, s := range h.GetPositiveSpan() {
				w.PositiveSpans = append(w.PositiveSpans, prompb.BucketSpan{Offset: s.GetOffset(), Length: s.GetLength()})
			}
			wantHists[rwtest.Key(ls)] = w
		}
	}
	require.NotEmpty(t, wantHists)
	assert.Equal(t, wantHists, d.Histograms)

	// The counters: the text exposition's samples but the histograms'.
	want := map[string]float64{}
	for k, v := range oteltest.FromExposition(parseText(t, text.Bytes(), FormatText)) {
		if !strings.HasPrefix(k, RequestDuration) && !strings.HasPrefix(k, RequestBytes) && !strings.HasPrefix(k, ResponseBytes) {
			want[k] = v
		}
	}
	assert.Equal(t, want, withoutExternal(t, d.Samples))
	sets := a.Stats().HTTPSeries
	perSet := float64(len(d.Samples)+len(d.Histograms)-int(a.Stats().TCPSeries)*4) / float64(sets)
	t.Logf("%d HTTP label sets: %.1f series each", sets, perSet)
	assert.LessOrEqual(t, perSet, 6.0)
}

// TestRemoteWriteLabelsEncodedOnce: a series' labels are encoded at its
// first push and kept; a later push of the same series allocates nothing.
func TestRemoteWriteLabelsEncodedOnce(t *testing.T) {
	a := New(DefaultConfig())
	r, err := a.NewRemoteWriteReader(rwExternal)
	require.NoError(t, err)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 500, TCPPeriodic: true}))
	pushRW(t, r, 1, 1<<20)
	kept := map[*httpSeries]*byte{}
	for i := range a.shards {
		for _, s := range a.shards[i].http {
			require.False(t, s.rw.IsZero())
			kept[s] = &s.rw.Bytes()[0]
		}
	}
	b := &remotewrite.Batch{MaxBytes: 64 << 10, Emit: func([]byte, int, int) error { return nil }}
	require.NoError(t, r.Read(2, b)) // grow the buffers
	allocs := testing.AllocsPerRun(5, func() {
		if err := r.Read(3, b); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "a push of known series allocates nothing")
	for s, p := range kept {
		assert.Same(t, p, &s.rw.Bytes()[0], "the labels of a series are encoded once")
	}
}

// TestRemoteWriteReaderExternalLabelsFixed: the series keep one encoding
// of the external labels; a reader with others is refused, one with the
// same (in any order) is not.
func TestRemoteWriteReaderExternalLabelsFixed(t *testing.T) {
	a := New(DefaultConfig())
	_, err := a.NewRemoteWriteReader(rwExternal)
	require.NoError(t, err)
	rev := slices.Clone(rwExternal)
	slices.Reverse(rev)
	_, err = a.NewRemoteWriteReader(rev)
	require.NoError(t, err)
	_, err = a.NewRemoteWriteReader([]remotewrite.Label{{Name: "job", Value: "other"}})
	require.ErrorIs(t, err, ErrRemoteWriteLabels)
}

// TestRemoteWriteEmitErrorStopsTheRead: the first error of Emit ends the
// read at once, and no lock is held (ingest goes on).
func TestRemoteWriteEmitErrorStopsTheRead(t *testing.T) {
	a := New(DefaultConfig())
	r, err := a.NewRemoteWriteReader(nil)
	require.NoError(t, err)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 2000}))
	calls := 0
	down := errors.New("remote down")
	b := &remotewrite.Batch{MaxBytes: 1000, Emit: func([]byte, int, int) error { calls++; return down }}
	require.ErrorIs(t, r.Read(1, b), down)
	assert.Equal(t, 1, calls)
	replay(t, a, loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 4, Requests: 10})) // no lock left held
}
