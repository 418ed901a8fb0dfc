package istiometrics

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/loadgen"
)

func nativeConfig() Config {
	cfg := DefaultConfig()
	cfg.NativeHistograms.Enabled = true
	return cfg
}

// readProtobuf decodes a protobuf exposition: its MetricFamily messages
// in order, and the families merged by name (a family may come as several
// messages, one per chunk).
func readProtobuf(t testing.TB, b []byte) (msgs []*dto.MetricFamily, fams map[string]*dto.MetricFamily) {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(b))
	fams = map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := protodelim.UnmarshalFrom(r, mf)
		if errors.Is(err, io.EOF) {
			return msgs, fams
		}
		require.NoError(t, err)
		msgs = append(msgs, mf)
		if f := fams[mf.GetName()]; f != nil {
			require.Equal(t, f.GetType(), mf.GetType(), mf.GetName())
			require.Equal(t, f.GetHelp(), mf.GetHelp(), mf.GetName())
			f.Metric = append(f.Metric, mf.Metric...)
			continue
		}
		fams[mf.GetName()] = mf
	}
}

// nativeBuckets expands a histogram's native positive buckets into counts
// by bucket index.
func nativeBuckets(h *dto.Histogram) map[int32]uint64 {
	out := map[int32]uint64{}
	idx, count := int32(0), int64(0)
	d := 0
	for _, sp := range h.GetPositiveSpan() {
		idx += sp.GetOffset()
		for range sp.GetLength() {
			count += h.GetPositiveDelta()[d]
			d++
			if count != 0 {
				out[idx] = uint64(count)
			}
			idx++
		}
	}
	return out
}

// TestWriteProtobufEqualsText: the protobuf exposition carries exactly the
// text exposition's series (labels, counters, classic buckets, sums and
// counts), native histograms on or off, and, with them on, native
// histograms whose count and sum equal the classic ones and whose buckets
// hold every observation.
func TestWriteProtobufEqualsText(t *testing.T) {
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 3, Requests: 3000, TCPPeriodic: true, Start: now.Add(-time.Hour)})
	for _, native := range []bool{false, true} {
		cfg := DefaultConfig()
		cfg.NativeHistograms.Enabled = native
		a := New(cfg)
		replay(t, a, tr)

		var text, pb bytes.Buffer
		require.NoError(t, a.WriteText(&text, FormatText))
		require.NoError(t, a.WriteProtobuf(&pb))
		want := parseText(t, text.Bytes(), FormatText)
		_, got := readProtobuf(t, pb.Bytes())
		require.Len(t, got, len(want))
		nativeSeries := 0
		for name, w := range want {
			g := got[name]
			require.NotNil(t, g, name)
			for _, m := range g.Metric {
				slices.SortFunc(m.Label, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetName(), y.GetName()) })
				if h := m.GetHistogram(); h != nil {
					// The text has the +Inf bucket; protobuf leaves it to
					// the count.
					if last := h.Bucket[len(h.Bucket)-1]; !math.IsInf(last.GetUpperBound(), 1) {
						h.Bucket = append(h.Bucket, &dto.Bucket{CumulativeCount: proto.Uint64(h.GetSampleCount()), UpperBound: proto.Float64(math.Inf(1))})
					}
					if native {
						require.NotZero(t, h.GetZeroThreshold(), "a native histogram")
						var n uint64
						for _, c := range nativeBuckets(h) {
							n += c
						}
						require.Equal(t, h.GetSampleCount(), n+h.GetZeroCount(), "native buckets hold every observation")
						nativeSeries++
					}
					h.Schema, h.ZeroThreshold, h.ZeroCount, h.PositiveSpan, h.PositiveDelta = nil, nil, nil, nil, nil
					for _, b := range h.Bucket {
						b.Exemplar = nil
					}
				}
			}
			slices.SortFunc(g.Metric, func(x, y *dto.Metric) int { return strings.Compare(x.String(), y.String()) })
			g.Help = nil
			assert.Equal(t, w.String(), g.String(), "native %v family %s", native, name)
		}
		if native {
			assert.Positive(t, nativeSeries)
		}
	}
}

// TestNativeMatchesClientGolang: the native buckets meshlens serves for a
// series are those client_golang's own native histogram (bucket factor
// 1.1: schema 3, no bucket limit) gives the same observations, for
// durations, sizes with zeros and values on bucket boundaries.
func TestNativeMatchesClientGolang(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name   string
		values []float64 // milliseconds (duration) and bytes (sizes)
	}{
		{"lognormal", func() []float64 {
			v := make([]float64, 5000)
			for i := range v {
				v[i] = math.Round(math.Exp(rng.NormFloat64()*1.5+3)*1e6) / 1e6 // ms, at ns resolution
			}
			return v
		}()},
		{"with zeros", []float64{0, 0, 1, 0, 3, 1e6, 0.000001}},
		{"boundaries", []float64{0.5, 1, 2, 4, 1024, 1 << 20, math.Exp2(0.125), math.Exp2(0.25), math.Exp2(-0.125)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := nativeConfig()
			cfg.NativeHistograms.MaxBuckets = maxNativeMaxBuckets // as unlimited as client_golang's
			a := New(cfg)
			ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", NativeHistogramBucketFactor: 1.1})
			recs := make([]accesslog.Record, len(c.values))
			for i, v := range c.values {
				recs[i] = accesslog.Record{
					Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterDestination, Protocol: accesslog.ProtocolHTTP,
					Final: true, ResponseCode: 200, DurationNanos: int64(math.Round(v * 1e6)), RequestBytes: uint64(v), ResponseBytes: uint64(v),
				}
				ref.Observe(float64(recs[i].DurationNanos) / 1e6)
			}
			a.ConsumeRecords(recs, nil, now)
			var pb bytes.Buffer
			require.NoError(t, a.WriteProtobuf(&pb))
			_, fams := readProtobuf(t, pb.Bytes())
			var want dto.Metric
			require.NoError(t, ref.Write(&want))
			got := fams[RequestDuration].Metric[0].GetHistogram()
			wh := want.GetHistogram()
			assert.Equal(t, wh.GetSchema(), got.GetSchema())
			assert.Equal(t, wh.GetZeroCount(), got.GetZeroCount())
			assert.Equal(t, wh.GetSampleCount(), got.GetSampleCount())
			assert.InDelta(t, wh.GetSampleSum(), got.GetSampleSum(), 1e-6*math.Abs(wh.GetSampleSum()))
			assert.Equal(t, nativeBuckets(wh), nativeBuckets(got))

			// The size histograms, on integer bytes.
			ref = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ref", NativeHistogramBucketFactor: 1.1})
			for i := range recs {
				ref.Observe(float64(recs[i].RequestBytes))
			}
			want.Reset()
			require.NoError(t, ref.Write(&want))
			got = fams[RequestBytes].Metric[0].GetHistogram()
			assert.Equal(t, want.GetHistogram().GetZeroCount(), got.GetZeroCount())
			assert.Equal(t, nativeBuckets(want.GetHistogram()), nativeBuckets(got))
		})
	}
}

// TestNativeReductionOrderFree: a histogram whose values span more than
// max_buckets halves its resolution until they fit; the schema and buckets
// it ends with are those of observing the same values at that schema from
// the start, whatever their order, so a series' native histogram does not
// depend on arrival order.
func TestNativeReductionOrderFree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := make([]float64, 2000)
	for i := range values {
		values[i] = math.Exp(rng.Float64()*40 - 10) // e^-10 .. e^30: 58 powers of two
	}
	values = append(values, 0, 0)
	const maxBuckets = minNativeMaxBuckets
	var first nhist
	for trial := range 20 {
		rng.Shuffle(len(values), func(i, j int) { values[i], values[j] = values[j], values[i] })
		h := nhist{schema: DefaultNativeSchema}
		for _, v := range values {
			h.observe(v, maxBuckets)
		}
		lo, hi := h.populated()
		require.LessOrEqual(t, int(hi-lo)+1, maxBuckets)
		require.LessOrEqual(t, len(h.counts), maxBuckets, "the run, headroom included, stays within max_buckets")
		if trial == 0 {
			first = h
			assert.Less(t, h.schema, int32(DefaultNativeSchema), "the span forced a reduction")
			// Observed at the final schema from the start, no limit.
			direct := nhist{schema: h.schema}
			for _, v := range values {
				direct.observe(v, 1<<20)
			}
			assert.Equal(t, bucketsOf(&direct), bucketsOf(&h))
			assert.Equal(t, uint64(2), h.zero)
			continue
		}
		assert.Equal(t, first.schema, h.schema, "trial %d", trial)
		assert.Equal(t, bucketsOf(&first), bucketsOf(&h), "trial %d", trial)
	}
}

func bucketsOf(h *nhist) map[int32]uint64 {
	out := map[int32]uint64{}
	for i, c := range h.counts {
		if c != 0 {
			out[h.lo+int32(i)] = c //nolint:gosec // a test
		}
	}
	return out
}

// TestNativeKeyBoundaries: bucket i holds (2^((i-1)/2^s), 2^(i/2^s)] at
// every schema: a value at an upper bound is in the bucket, the next float
// above it in the next.
func TestNativeKeyBoundaries(t *testing.T) {
	for s := int32(minNativeSchema); s <= maxNativeSchema; s++ {
		for _, i := range []int32{-37, -1, 0, 1, 5, 40} {
			ub := math.Exp2(float64(i) * math.Exp2(-float64(s)))
			if s > 0 && nativeKey(ub, s) != i {
				// Exp2 of a fraction may round to a neighbour of the
				// table's bound: the next float up must still be i+1.
				require.Equal(t, i+1, nativeKey(math.Nextafter(ub, math.Inf(1)), s), "schema %d index %d", s, i)
				continue
			}
			require.Equal(t, i, nativeKey(ub, s), "schema %d: the upper bound of bucket %d", s, i)
			require.Equal(t, i+1, nativeKey(math.Nextafter(ub, math.Inf(1)), s), "schema %d: above bucket %d", s, i)
		}
	}
}

// TestWriteProtobufStreamsInChunks: the protobuf exposition is written a
// chunk at a time, each chunk a MetricFamily message of its own.
func TestWriteProtobufStreamsInChunks(t *testing.T) {
	a := syntheticAggregator(3000)
	var w writeSizes
	var buf bytes.Buffer
	require.NoError(t, a.WriteProtobuf(io.MultiWriter(&w, &buf)))
	require.Greater(t, w.total, 10<<20)
	largest := 0
	for _, n := range w.sizes {
		largest = max(largest, n)
	}
	assert.LessOrEqual(t, largest, ChunkBytes+22*1200)
	msgs, fams := readProtobuf(t, buf.Bytes())
	assert.Greater(t, len(msgs), 2*len(fams), "families come in several messages")
	assert.Len(t, fams[RequestsTotal].Metric, 3000)
}

func TestNativeConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		n    NativeHistograms
		err  string
	}{
		{"defaults", DefaultConfig().NativeHistograms, ""},
		{"schema too fine", NativeHistograms{Schema: 9, MaxBuckets: 160}, "schema must be between -4 and 8"},
		{"schema too coarse", NativeHistograms{Schema: -5, MaxBuckets: 160}, "schema must be between -4 and 8"},
		{"too few buckets", NativeHistograms{Schema: 3, MaxBuckets: 10}, "max_buckets must be between 33 and 65536"},
		{"too many buckets", NativeHistograms{Schema: 3, MaxBuckets: 1 << 17}, "max_buckets must be between 33 and 65536"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.NativeHistograms = c.n
			require.NoError(t, cfg.Validate(), "off: not checked")
			cfg.NativeHistograms.Enabled = true
			err := cfg.Validate()
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, c.err)
		})
	}
}

// TestNativeKeyMatchesSearch: the table-driven key equals client_golang's
// computation (math.Frexp, then a search of the schema's bounds) at every
// schema, over values from subnormals to 1e300.
func TestNativeKeyMatchesSearch(t *testing.T) {
	ref := func(v float64, s int32) int32 {
		frac, exp := math.Frexp(v)
		if s > 0 {
			bounds := nativeBounds[s]
			return int32(sort.SearchFloat64s(bounds, frac) + (exp-1)*len(bounds))
		}
		key := exp
		if frac == 0.5 {
			key--
		}
		return int32((key + (1 << -s) - 1) >> -s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	values := []float64{math.SmallestNonzeroFloat64, 1e-310, 1, 2, 0.5, 3, math.MaxFloat64}
	for range 200_000 {
		values = append(values, math.Exp(rng.Float64()*1400-700))
	}
	for _, b := range nativeBounds[maxNativeSchema] {
		values = append(values, b, math.Nextafter(b, 0), math.Nextafter(b, 1), b*8, b/1024)
	}
	for s := int32(minNativeSchema); s <= maxNativeSchema; s++ {
		for _, v := range values {
			if got, want := nativeKey(v, s), ref(v, s); got != want {
				t.Fatalf("schema %d, value %v: key %d, want %d", s, v, got, want)
			}
		}
	}
}

// TestProtobufExemplars: the protobuf exposition carries the exemplars the
// OpenMetrics one does, bucket by bucket, the +Inf bucket's included.
func TestProtobufExemplars(t *testing.T) {
	a := New(nativeConfig())
	mk := func(ms int64, id byte) accesslog.Record {
		r := accesslog.Record{
			Kind: accesslog.KindHTTP, Reporter: accesslog.ReporterDestination, Protocol: accesslog.ProtocolHTTP,
			Final: true, ResponseCode: 200, DurationNanos: ms * 1e6,
		}
		r.Trace.Format = accesslog.TraceW3C
		r.Trace.TraceID[0], r.Trace.SpanID[0] = id, id
		return r
	}
	a.ConsumeRecords([]accesslog.Record{mk(3, 0xaa), mk(70, 0xcc), mk(7_200_000, 0xbb)}, nil, now)

	var om, pb bytes.Buffer
	require.NoError(t, a.WriteText(&om, FormatOpenMetrics))
	require.NoError(t, a.WriteProtobuf(&pb))
	want := map[string]string{} // le -> trace id
	for _, line := range strings.Split(om.String(), "\n") {
		rest, ok := strings.CutPrefix(line, RequestDuration+"_bucket{")
		if !ok || !strings.Contains(rest, " # {trace_id=") {
			continue
		}
		le := rest[strings.Index(rest, `le="`)+4:]
		le = le[:strings.IndexByte(le, '"')]
		tid := rest[strings.Index(rest, `trace_id="`)+10:]
		want[le] = tid[:32]
	}
	require.Len(t, want, 3)
	_, fams := readProtobuf(t, pb.Bytes())
	got := map[string]string{}
	for _, b := range fams[RequestDuration].Metric[0].GetHistogram().GetBucket() {
		if ex := b.GetExemplar(); ex != nil {
			le := strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
			if math.IsInf(b.GetUpperBound(), 1) {
				le = "+Inf"
			}
			for _, l := range ex.GetLabel() {
				if l.GetName() == "trace_id" {
					got[le] = l.GetValue()
				}
			}
		}
	}
	assert.Equal(t, want, got)
}
