// Package oteltest is test support for the OpenTelemetry readers: it turns
// what a reader emitted and what the exposition holds into the same flat
// samples (Prometheus series text → value), so a test can compare them.
package oteltest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func key(name string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for n, v := range labels {
		if v != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(name + "{")
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q,", n, labels[n])
	}
	return b.String() + "}"
}

func le(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func attrs(m pcommon.Map, extra ...string) map[string]string {
	out := map[string]string{}
	m.Range(func(k string, v pcommon.Value) bool { out[k] = v.Str(); return true })
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

// FromOTel flattens metrics as Prometheus remote write does: a counter or
// gauge is one sample, a histogram its cumulative _bucket samples (le as
// the exposition writes it), _sum and _count, a summary its quantiles,
// _sum and _count. It also returns the number of data points.
func FromOTel(batches []pmetric.MetricSlice) (map[string]float64, int) {
	out := map[string]float64{}
	n := 0
	for _, ms := range batches {
		for i := range ms.Len() {
			m := ms.At(i)
			switch m.Type() {
			case pmetric.MetricTypeSum:
				for j := range m.Sum().DataPoints().Len() {
					dp := m.Sum().DataPoints().At(j)
					out[key(m.Name(), attrs(dp.Attributes()))] = dp.DoubleValue()
					n++
				}
			case pmetric.MetricTypeGauge:
				for j := range m.Gauge().DataPoints().Len() {
					dp := m.Gauge().DataPoints().At(j)
					out[key(m.Name(), attrs(dp.Attributes()))] = dp.DoubleValue()
					n++
				}
			case pmetric.MetricTypeHistogram:
				for j := range m.Histogram().DataPoints().Len() {
					dp := m.Histogram().DataPoints().At(j)
					var cum uint64
					for k := range dp.BucketCounts().Len() {
						cum += dp.BucketCounts().At(k)
						bound := "+Inf"
						if k < dp.ExplicitBounds().Len() {
							bound = le(dp.ExplicitBounds().At(k))
						}
						out[key(m.Name()+"_bucket", attrs(dp.Attributes(), "le", bound))] = float64(cum)
					}
					out[key(m.Name()+"_sum", attrs(dp.Attributes()))] = dp.Sum()
					out[key(m.Name()+"_count", attrs(dp.Attributes()))] = float64(dp.Count())
					n++
				}
			case pmetric.MetricTypeSummary:
				for j := range m.Summary().DataPoints().Len() {
					dp := m.Summary().DataPoints().At(j)
					for k := range dp.QuantileValues().Len() {
						q := dp.QuantileValues().At(k)
						out[key(m.Name(), attrs(dp.Attributes(), "quantile", le(q.Quantile())))] = q.Value()
					}
					out[key(m.Name()+"_sum", attrs(dp.Attributes()))] = dp.Sum()
					out[key(m.Name()+"_count", attrs(dp.Attributes()))] = float64(dp.Count())
					n++
				}
			default:
				panic("unexpected metric type " + m.Type().String())
			}
		}
	}
	return out, n
}

// FromExposition flattens metric families as a Prometheus scrape stores
// them (labels with empty values left out).
func FromExposition(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			with := func(k, v string) map[string]string {
				c := map[string]string{k: v}
				for a, b := range l {
					c[a] = b
				}
				return c
			}
			switch {
			case m.Counter != nil:
				out[key(name, l)] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key(name, l)] = m.GetGauge().GetValue()
			case m.Untyped != nil:
				out[key(name, l)] = m.GetUntyped().GetValue()
			case m.Histogram != nil:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					out[key(name+"_bucket", with("le", le(b.GetUpperBound())))] = float64(b.GetCumulativeCount())
				}
				if n := len(h.GetBucket()); n == 0 || h.GetBucket()[n-1].GetUpperBound() < 1e308 {
					out[key(name+"_bucket", with("le", "+Inf"))] = float64(h.GetSampleCount())
				}
				out[key(name+"_sum", l)] = h.GetSampleSum()
				out[key(name+"_count", l)] = float64(h.GetSampleCount())
			case m.Summary != nil:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					out[key(name, with("quantile", le(q.GetQuantile())))] = q.GetValue()
				}
				out[key(name+"_sum", l)] = s.GetSampleSum()
				out[key(name+"_count", l)] = float64(s.GetSampleCount())
			}
		}
	}
	return out
}

// Collect returns an emit function for a reader that keeps every batch,
// and the batches it kept.
func Collect() (func(pmetric.MetricSlice) error, *[]pmetric.MetricSlice) {
	var got []pmetric.MetricSlice
	return func(ms pmetric.MetricSlice) error { got = append(got, ms); return nil }, &got
}
