package textgzip

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// compress writes in to a new Writer in writes of chunk bytes (all of it
// at once if chunk is 0) and returns the stream.
func compress(tb testing.TB, in []byte, chunk int) []byte {
	tb.Helper()
	var out bytes.Buffer
	z := NewWriter(&out)
	writeChunks(tb, z, in, chunk)
	require.NoError(tb, z.Close())
	return out.Bytes()
}

func writeChunks(tb testing.TB, w io.Writer, in []byte, chunk int) {
	tb.Helper()
	if chunk <= 0 {
		chunk = max(len(in), 1)
	}
	for p := in; len(p) > 0; {
		n := min(chunk, len(p))
		k, err := w.Write(p[:n])
		require.NoError(tb, err)
		require.Equal(tb, n, k)
		p = p[n:]
	}
}

// gunzip decompresses with the standard library, as Prometheus's scraper
// does, and fails on anything it rejects (a bad code, a bad CRC or size).
func gunzip(tb testing.TB, stream []byte) []byte {
	tb.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(stream))
	require.NoError(tb, err)
	zr.Multistream(false)
	got, err := io.ReadAll(zr)
	require.NoError(tb, err)
	require.NoError(tb, zr.Close())
	return got
}

// exposition is a text exposition of sets label sets of 25 labels, each
// with a counter and a histogram of 20 buckets, as the hub writes them.
func exposition(sets int) []byte {
	var b bytes.Buffer
	b.WriteString("# HELP istio_requests_total Total requests.\n# TYPE istio_requests_total counter\n")
	block := func(i int) string {
		var l strings.Builder
		l.WriteString(`{reporter="source"`)
		for j := range 24 {
			fmt.Fprintf(&l, `,label_%02d="value-%d-%d"`, j, j*i%7, i)
		}
		return l.String()
	}
	for i := range sets {
		fmt.Fprintf(&b, "istio_requests_total%s} %d\n", block(i), i*31)
	}
	b.WriteString("# HELP istio_request_duration_milliseconds Request duration.\n# TYPE istio_request_duration_milliseconds histogram\n")
	for i := range sets {
		lb := block(i)
		cum := 0
		for k, le := range []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1.8e+06", "3.6e+06", "+Inf"} {
			cum += (i + k) % 5
			fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket%s,le=%q} %d\n", lb, le, cum)
		}
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum%s} %g\n", lb, float64(cum)*12.5)
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_count%s} %d\n", lb, cum)
	}
	return b.Bytes()
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRoundTrip: whatever the input and however it is written, the stream
// decompresses to it byte for byte.
func TestRoundTrip(t *testing.T) {
	longLine := bytes.Repeat([]byte("x_total{a=\"0123456789abcdef\"} 1 "), 4000) // 128 KB, no newline
	farRepeat := append(append(append([]byte("far{a=\"repeated block of labels\"} 1\n"), randomBytes(40<<10, 2)...), '\n'),
		"far{a=\"repeated block of labels\"} 2\n"...) // same line beyond the window
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"one byte", []byte("x")},
		{"one newline", []byte("\n")},
		{"empty lines", bytes.Repeat([]byte("\n"), 100_000)},
		{"no newline at the end", []byte("up 1\nup{job=\"a\"} 1")},
		{"comments and unlabelled lines", []byte("# HELP up Up.\n# TYPE up gauge\nup 1\nup 1\n\n# EOF\n")},
		{"same line repeated", bytes.Repeat([]byte("a_total{x=\"y\"} 1\n"), 50_000)},
		{"braces without labels", bytes.Repeat([]byte("{{{}}}\n{\n}\n"), 10_000)},
		{"exposition", exposition(300)},
		{"exposition, CRLF", bytes.ReplaceAll(exposition(20), []byte("\n"), []byte("\r\n"))},
		{"line longer than the window and the buffer", append(longLine, longLine...)},
		{"long lines", bytes.Repeat(append(longLine[:40<<10:40<<10], '\n'), 20)},
		{"a line again beyond the window", farRepeat},
		{"binary", randomBytes(1<<20, 1)},
		{"binary with newlines", bytes.ReplaceAll(randomBytes(300<<10, 3), []byte{0}, []byte("\n"))},
		{"zeros", make([]byte, 1<<20)},
		{"skewed literals", skewed()},
	}
	for _, tc := range cases {
		for _, chunk := range []int{0, 1, 7, 4096, 32 << 10, 100_000} {
			if chunk == 1 && len(tc.in) > 64<<10 { // slow under -race, and 7 bytes a write covers it
				continue
			}
			t.Run(fmt.Sprintf("%s/chunk=%d", tc.name, chunk), func(t *testing.T) {
				stream := compress(t, tc.in, chunk)
				got := gunzip(t, stream)
				require.True(t, bytes.Equal(tc.in, got), "decompressed %d bytes, want %d", len(got), len(tc.in))
			})
		}
	}
}

// skewed is input whose literal counts follow the Fibonacci sequence, so
// that an optimal Huffman code would be longer than DEFLATE's 15 bits.
func skewed() []byte {
	var b []byte
	f0, f1 := 1, 1
	for c := range 26 {
		for range f0 {
			b = append(b, byte('A'+c), byte(c*7+100))
		}
		f0, f1 = f1, f0+f1
	}
	// No repeats for the matcher: shuffle.
	r := rand.New(rand.NewPCG(5, 5))
	r.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	return b
}

// TestCompresses: the exposition shrinks as a generic compressor shrinks it
// (the back-references to the line before work), binary input grows by
// less than 1 %.
func TestCompresses(t *testing.T) {
	in := exposition(1000)
	stream := compress(t, in, 32<<10)
	var std bytes.Buffer
	sw, err := gzip.NewWriterLevel(&std, gzip.BestSpeed)
	require.NoError(t, err)
	writeChunks(t, sw, in, 32<<10)
	require.NoError(t, sw.Close())
	t.Logf("exposition: %d bytes, %d compressed (%.0f×), compress/gzip BestSpeed %d", len(in), len(stream), float64(len(in))/float64(len(stream)), std.Len())
	assert.Less(t, len(stream)*25, len(in), "the exposition compresses 25× or more")
	assert.Less(t, len(stream), std.Len(), "smaller than compress/gzip at BestSpeed")

	bin := randomBytes(4<<20, 9)
	stream = compress(t, bin, 32<<10)
	assert.Less(t, len(stream), len(bin)+len(bin)/100, "random input grows by less than 1 %")
}

func TestHuffmanLimit(t *testing.T) {
	freq := make([]uint32, numLitLen)
	f0, f1 := uint32(1), uint32(1)
	for s := range 40 { // Fibonacci counts: an optimal code is 39 bits deep
		freq[s] = f0
		f0, f1 = f1, f0+f1
	}
	var b huffBuilder
	h := newHuffCode(numLitLen)
	b.build(freq, maxBits, &h)
	kraft := 0.0
	for s, l := range h.lens {
		if freq[s] == 0 {
			assert.Zero(t, l, "symbol %d", s)
			continue
		}
		require.NotZero(t, l, "symbol %d", s)
		assert.LessOrEqual(t, l, uint8(maxBits), "symbol %d", s)
		kraft += 1 / float64(uint(1)<<l)
	}
	assert.InDelta(t, 1.0, kraft, 1e-12, "a complete code")
}

type failingWriter struct{ n int }

var errWrite = errors.New("write failed")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errWrite
	}
	w.n--
	return len(p), nil
}

// TestErrors: a failed write of the underlying writer is returned by every
// later Write and by Close; a closed Writer refuses writes; Reset starts
// a new, valid stream.
func TestErrors(t *testing.T) {
	in := randomBytes(1<<20, 4)
	z := NewWriter(&failingWriter{n: 1})
	var err error
	for p := in; len(p) > 0 && err == nil; p = p[min(len(p), 4096):] {
		_, err = z.Write(p[:min(len(p), 4096)])
	}
	require.ErrorIs(t, err, errWrite)
	_, err = z.Write([]byte("more"))
	require.ErrorIs(t, err, errWrite)
	require.ErrorIs(t, z.Close(), errWrite)

	var out bytes.Buffer
	z.Reset(&out)
	writeChunks(t, z, []byte("up 1\n"), 0)
	require.NoError(t, z.Close())
	assert.Equal(t, []byte("up 1\n"), gunzip(t, out.Bytes()))
	require.ErrorIs(t, z.Close(), ErrClosed)
	_, err = z.Write([]byte("x"))
	require.ErrorIs(t, err, ErrClosed)

	// A reused writer gives the same stream as a new one.
	out.Reset()
	z.Reset(&out)
	writeChunks(t, z, in[:100_000], 4096)
	require.NoError(t, z.Close())
	assert.Equal(t, compress(t, in[:100_000], 4096), out.Bytes())
}

// FuzzWriter: any input, written in any pieces, decompresses to itself.
func FuzzWriter(f *testing.F) {
	f.Add([]byte("# HELP up Up.\n# TYPE up gauge\nup{job=\"a\"} 1\nup{job=\"a\"} 2\nup{job=\"b\"} 1\n"), uint16(0))
	f.Add(exposition(3), uint16(100))
	f.Add([]byte("{a}{a}{a}\n{a}{a}\n{\n\n"), uint16(1))
	f.Add(randomBytes(3000, 7), uint16(333))
	f.Add([]byte("s{n=\"d-8.ns/*\",c=\"u\"} 1\ns{n=\"d-9.ns/*\",c=\"u\"} 1\ns{n=\"d-10.ns/*\",c=\"v\"} 1\n"), uint16(5))
	z := NewWriter(io.Discard) // reused, as the hub reuses its writers
	var out bytes.Buffer
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		out.Reset()
		z.Reset(&out)
		writeChunks(t, z, in, int(chunk))
		require.NoError(t, z.Close())
		if got := gunzip(t, out.Bytes()); !bytes.Equal(in, got) {
			t.Fatalf("decompressed %q, want %q", got, in)
		}
	})
}

// BenchmarkWriter compresses a 1,000-set exposition (24 MB) in writes of
// 32 KiB, as the hub's buffer writes it: textgzip, then klauspost's gzip at
// BestSpeed is in collector/hubextension's BenchmarkScrapeMetrics.
func BenchmarkWriter(b *testing.B) {
	in := exposition(1000)
	z := NewWriter(io.Discard)
	var n countingWriter
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		n = 0
		z.Reset(&n)
		writeChunks(b, z, in, 32<<10)
		require.NoError(b, z.Close())
	}
	b.ReportMetric(float64(n), "wire-B")
}

type countingWriter int

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}
