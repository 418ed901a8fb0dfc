package spans

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshlens/meshlens/accesslog"
)

// TestSpanMetricsLabelBytes: the series' label-set bytes (service_name and
// span_name, escaped) stay within MaxLabelBytes: records of a series that
// would pass it go to the overflow series, counted in Overflowed as over
// MaxSeries, and the bytes come back when series expire.
func TestSpanMetricsLabelBytes(t *testing.T) {
	base := edgeRecords()[0] // a client report: service "web"
	host := func(i int, n int) accesslog.Record {
		r := base
		r.Service.Host = fmt.Sprintf("h%d.", i) + strings.Repeat(`"`, n)
		return r
	}
	// One series of "web" and a host of 100 quotes, escaped: 3 + 3 + 2 ×
	// 100 + len(":8080/*") bytes.
	one := int64(len("web")+len("h1.")+2*100) + int64(len(":8080/*"))
	tests := []struct {
		name       string
		budget     int64
		recs       []accesslog.Record
		series     int // besides the overflow series
		overflowed uint64
	}{
		{"within the budget", 3 * one, []accesslog.Record{host(1, 100), host(2, 100), host(3, 100)}, 3, 0},
		{"over it", 3*one - 1, []accesslog.Record{host(1, 100), host(2, 100), host(3, 100), host(3, 100)}, 2, 2},
		{"a short one still fits", 3*one - 1, []accesslog.Record{host(1, 100), host(2, 100), host(3, 100), host(4, 10)}, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMetrics(MetricsConfig{MaxLabelBytes: tc.budget, TTL: time.Minute})
			t0 := time.Unix(1000, 0)
			m.Observe(tc.recs, t0)
			got := seriesByKey(m)
			series := 0
			for k := range got {
				if k[0] != OverflowLabel {
					series++
				}
			}
			assert.Equal(t, tc.series, series)
			assert.Equal(t, tc.overflowed, m.Overflowed)
			assert.LessOrEqual(t, m.LabelBytes(), tc.budget)
			m.Observe(nil, t0.Add(2*time.Minute))
			assert.Zero(t, m.LabelBytes(), "given back on expiry")
			m.Observe(tc.recs[len(tc.recs)-1:], t0.Add(2*time.Minute))
			assert.Equal(t, tc.overflowed, m.Overflowed, "room again")
		})
	}
}

// TestSpanMetricsExpositionBound: span metrics filled to their budgets with
// the longest label values records can give (a 512-byte service name and a
// 256-byte span name, all double quotes, which escape to twice that) write,
// in the text format and in OpenMetrics, no more than ExpositionBound of
// their series and label-set bytes, and so no more than
// MaxExpositionBytes.
func TestSpanMetricsExpositionBound(t *testing.T) {
	cfg := MetricsConfig{MaxSeries: 100, MaxLabelBytes: 64 << 10, TTL: time.Hour}
	now := time.Unix(1000, 0)
	s := NewLocked(cfg, func() time.Time { return now })
	quotes := strings.Repeat(`"`, MaxNameLen)
	var recs []accesslog.Record
	for i := range 200 {
		for _, rep := range []accesslog.Reporter{accesslog.ReporterSource, accesslog.ReporterDestination} {
			r := edgeRecords()[0]
			r.Reporter = rep
			r.Source.CanonicalService = fmt.Sprint(i) + quotes + quotes
			r.Destination.CanonicalService = r.Source.CanonicalService
			r.Service.Host = fmt.Sprint(i) + quotes
			r.DurationNanos = 1 << 62
			if i%2 == 0 {
				r.ResponseCode = 503
			}
			recs = append(recs, r)
		}
	}
	s.ConsumeRecords(recs, nil, now)
	m := s.m
	require.Positive(t, m.Overflowed)
	assert.LessOrEqual(t, m.LabelBytes(), cfg.MaxLabelBytes)
	bound := cfg.ExpositionBound(m.Len(), m.LabelBytes())
	assert.LessOrEqual(t, bound, cfg.MaxExpositionBytes())
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, format := range []expfmt.Format{expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics)} {
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, format)
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "traces_span_metrics_") {
				require.NoError(t, enc.Encode(mf))
			}
		}
		assert.LessOrEqual(t, int64(b.Len()), bound, "%s", format)
		t.Logf("%s: %d series, %d label-set bytes: %d bytes written, bound %d (%.0f%%)", format, m.Len(), m.LabelBytes(), b.Len(), bound, 100*float64(b.Len())/float64(bound))
	}
}
