// Package rwtest is test support for remote-write encoders: it decodes
// WriteRequests with Prometheus's own types (prompb) into flat samples
// (series text → value) and native histograms, to compare with an
// exposition.
package rwtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/prometheus/prometheus/prompb"
)

// Decoded is what WriteRequests held.
type Decoded struct {
	// Samples by series, written name{label="value",...} with the labels
	// sorted and __name__ left out of the braces.
	Samples map[string]float64
	// Histograms by series, as Samples.
	Histograms map[string]prompb.Histogram
	// Timestamps seen, each once.
	Timestamps []int64
	// Problems found: a series whose labels are not sorted by name or hold
	// an empty value or a name twice, a series without exactly one sample
	// or histogram, a series sent twice.
	Problems []string
}

// Decode decodes WriteRequest bodies (uncompressed).
func Decode(bodies ...[]byte) (*Decoded, error) {
	d := &Decoded{Samples: map[string]float64{}, Histograms: map[string]prompb.Histogram{}}
	for _, body := range bodies {
		var req prompb.WriteRequest
		if err := req.Unmarshal(body); err != nil {
			return nil, fmt.Errorf("decode WriteRequest: %w", err)
		}
		for _, ts := range req.Timeseries {
			d.add(&ts)
		}
	}
	return d, nil
}

func (d *Decoded) add(ts *prompb.TimeSeries) {
	k := Key(ts.Labels)
	for i, l := range ts.Labels {
		if l.Value == "" {
			d.Problems = append(d.Problems, k+": empty value of "+l.Name)
		}
		if i > 0 && ts.Labels[i-1].Name >= l.Name {
			d.Problems = append(d.Problems, k+": labels not sorted or repeated at "+l.Name)
		}
	}
	if len(ts.Samples)+len(ts.Histograms) != 1 {
		d.Problems = append(d.Problems, fmt.Sprintf("%s: %d samples, %d histograms", k, len(ts.Samples), len(ts.Histograms)))
		return
	}
	var t int64
	if len(ts.Samples) == 1 {
		if _, dup := d.Samples[k]; dup {
			d.Problems = append(d.Problems, k+": sent twice")
		}
		d.Samples[k] = ts.Samples[0].Value
		t = ts.Samples[0].Timestamp
	} else {
		if _, dup := d.Histograms[k]; dup {
			d.Problems = append(d.Problems, k+": sent twice")
		}
		d.Histograms[k] = ts.Histograms[0]
		t = ts.Histograms[0].Timestamp
	}
	if !slices.Contains(d.Timestamps, t) {
		d.Timestamps = append(d.Timestamps, t)
	}
}

// Key writes a series as name{label="value",...}, the labels sorted.
func Key(ls []prompb.Label) string {
	ls = slices.Clone(ls)
	slices.SortFunc(ls, func(x, y prompb.Label) int { return strings.Compare(x.Name, y.Name) })
	var name string
	var b strings.Builder
	for _, l := range ls {
		if l.Name == "__name__" {
			name = l.Value
			continue
		}
		fmt.Fprintf(&b, "%s=%q,", l.Name, l.Value)
	}
	return name + "{" + b.String() + "}"
}

// ParseText parses a text exposition (format 0.0.4) with Prometheus's own
// parser (textparse) into its samples, keyed as Decoded.Samples: labels
// with an empty value left out, as a scrape leaves them out, and le and
// quantile values as written (2, 1.8e+06: Prometheus 3 would store 2.0,
// Prometheus 2 stores them as written). keep selects the series by metric
// name (nil: all).
func ParseText(b []byte, keep func(name string) bool) (map[string]float64, error) {
	out := map[string]float64{}
	// Without its TYPE lines, the parser leaves le and quantile as written.
	var lines bytes.Buffer
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(line, []byte("# TYPE ")) {
			lines.Write(line)
		}
	}
	p := textparse.NewPromParser(lines.Bytes(), labels.NewSymbolTable(), false)
	for {
		e, err := p.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse text exposition: %w", err)
		}
		if e != textparse.EntrySeries {
			continue
		}
		_, _, v := p.Series()
		var ls labels.Labels
		p.Labels(&ls)
		var pl []prompb.Label
		ls.Range(func(l labels.Label) {
			if l.Value != "" {
				pl = append(pl, prompb.Label{Name: l.Name, Value: l.Value})
			}
		})
		if keep != nil && !keep(ls.Get(model.MetricNameLabel)) {
			continue
		}
		k := Key(pl)
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parse text exposition: %s written twice", k)
		}
		out[k] = v
	}
}
