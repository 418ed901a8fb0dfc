package hubextension

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/zap"

	"github.com/meshlens/meshlens/collector/hubextension/internal/textgzip"
	"github.com/meshlens/meshlens/exporters/istiometrics"
)

var (
	formatText  = expfmt.NewFormat(expfmt.TypeTextPlain)
	formatOM    = expfmt.NewFormat(expfmt.TypeOpenMetrics)
	formatProto = expfmt.NewFormat(expfmt.TypeProtoDelim)
)

// metricsBufferBytes is the buffer between the exposition's encoders and
// the response (or its gzip writer): with the Istio writer's chunk
// (istiometrics.ChunkBytes) and the gzip writer's state, what a scrape
// holds besides the client_golang families of one registry.
const metricsBufferBytes = 32 << 10

// compressor is a pooled gzip writer: klauspost's gzip.Writer or a
// textgzip.Writer.
type compressor interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// The gzip writers are reused across scrapes: each holds ~0.7-1 MB of state
// that every scrape would otherwise allocate. A writer in a pool is Reset
// to io.Discard, so it holds no response. The text expositions go through
// textgzip, which compresses them with ~half the CPU of klauspost's gzip at
// BestSpeed (1.7× faster than the standard library's), ~the same size
// (docs/adr/0012, BENCHMARKS.md); the protobuf one, which has no lines,
// through klauspost's.
var (
	textGzipWriters = sync.Pool{New: func() any { return textgzip.NewWriter(io.Discard) }}
	gzipWriters     = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
		return w
	}}
)

// serveMetrics streams /metrics: the families of the hub's client_golang
// registries (its own metrics, then span metrics, then envoy_*), one
// registry gathered at a time, then the Istio series written by the
// aggregator as it renders them. Nothing holds the whole body: the
// response is written through a bounded buffer, gzip-compressed when the
// scraper accepts it (Prometheus always does), in the format the scraper
// asked for (OpenMetrics carries exemplars, else text 0.0.4, or the
// protobuf exposition: classic buckets, and native ones when on; it costs
// under half a text scrape's CPU, gzip included, BENCHMARKS.md). A write that
// fails (the scraper went away or timed out) ends the scrape; it is
// counted once in meshlens_metrics_scrapes_failed_total.
func (h *Hub) serveMetrics(w http.ResponseWriter, r *http.Request) {
	// Protobuf is last: a scraper that accepts anything ("*/*") gets
	// OpenMetrics; Prometheus asks for protobuf first when its native
	// histograms are on (or its scrape_protocols say so).
	offered := []expfmt.Format{formatOM, formatText, formatProto}
	format := expfmt.NegotiateAccept(r.Header, offered...)
	switch format.FormatType() {
	case expfmt.TypeOpenMetrics, expfmt.TypeProtoDelim:
	default:
		format = formatText
	}
	// The first registry is gathered before answering, so that a failure
	// can still be a 500.
	fams, err := h.gatherers[0].Gather()
	if err != nil && len(fams) == 0 {
		http.Error(w, "gather metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", string(format))
	hdr.Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	var gz compressor
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hdr.Set("Content-Encoding", "gzip")
		pool := &textGzipWriters
		if format.FormatType() == expfmt.TypeProtoDelim {
			pool = &gzipWriters
		}
		gz = pool.Get().(compressor)
		gz.Reset(w)
		defer func() {
			gz.Reset(io.Discard)
			pool.Put(gz)
		}()
		out = gz
	}
	bw := bufio.NewWriterSize(out, metricsBufferBytes)
	err = h.writeMetrics(bw, format, fams)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && gz != nil {
		err = gz.Close()
	}
	if err != nil {
		h.scrapesFailed.Inc()
		h.set.Logger.Debug("scrape of the metrics path ended early", zap.String("remote", r.RemoteAddr), zap.Error(err))
	}
}

// writeMetrics writes the exposition: fams (the first registry's), then
// every other registry's, gathered one at a time so that only one
// registry's families are held at once, then the Istio series.
func (h *Hub) writeMetrics(w io.Writer, format expfmt.Format, fams []*dto.MetricFamily) error {
	enc := expfmt.NewEncoder(w, format)
	for i := range h.gatherers {
		if i > 0 {
			// A registry that fails entirely is left out, as
			// client_golang's handler would leave out a failing collector.
			fams, _ = h.gatherers[i].Gather()
		}
		for _, f := range fams {
			if err := enc.Encode(f); err != nil {
				return fmt.Errorf("encode %s: %w", f.GetName(), err)
			}
		}
		fams = nil
	}
	if format.FormatType() == expfmt.TypeProtoDelim {
		return h.agg.WriteProtobuf(w)
	}
	om := format.FormatType() == expfmt.TypeOpenMetrics
	f := istiometrics.FormatText
	if om {
		f = istiometrics.FormatOpenMetrics
	}
	if err := h.agg.WriteText(w, f); err != nil {
		return err
	}
	if om {
		if _, err := expfmt.FinalizeOpenMetrics(w); err != nil {
			return fmt.Errorf("finish OpenMetrics: %w", err)
		}
	}
	return nil
}

// acceptsGzip reports whether an Accept-Encoding header value accepts gzip
// (RFC 9110 §12.5.3): named with a q-value above 0 ("gzip", "x-gzip",
// "gzip;q=0.5"), not "gzip;q=0". "*" is not taken as gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && !strings.EqualFold(coding, "x-gzip") {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// registerSelfMetrics registers the aggregations' own metrics and the
// API's and the metrics path's, which the hub owns.
func (h *Hub) registerSelfMetrics() {
	h.reg.MustRegister(h.agg.SelfMetrics()...)
	h.scrapesFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meshlens_metrics_scrapes_failed_total",
		Help: "Scrapes of the metrics path ended early by a failed write (the scraper went away or timed out); one per scrape.",
	})
	h.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "meshlens_api_bad_requests_total", Help: "Graph API requests answered 400: bad or over-limit query parameters.",
		}, func() float64 { return float64(h.graph.BadQueries()) }),
		h.scrapesFailed,
	)
}
