// Package rwtest is test support for remote-write encoders: it decodes
// WriteRequests with Prometheus's own types (prompb) into flat samples
// (series text → value) and native histograms, to compare with an
// exposition.
package rwtest

import (
	"fmt"
	"slices"
	"strings"

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
