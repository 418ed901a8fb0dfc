package otelconv

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAddBlock(t *testing.T) {
	for _, tt := range []struct {
		block string
		want  map[string]any
		ok    bool
	}{
		{`{a="1",b="",c="x\"y\\z\nw"`, map[string]any{"a": "1", "c": "x\"y\\z\nw"}, true},
		{`{reporter="source"`, map[string]any{"reporter": "source"}, true},
		{`{`, map[string]any{}, true},
		{`{a="1",b=2`, map[string]any{"a": "1"}, false},
		{`{a="unterminated`, map[string]any{}, false},
	} {
		var a Attrs
		assert.Equal(t, tt.ok, a.AddBlock([]byte(tt.block)), tt.block)
		m := pcommon.NewMap()
		a.To(m)
		assert.Equal(t, tt.want, m.AsRaw(), tt.block)
		// A second map is a copy of the first.
		m2 := pcommon.NewMap()
		a.To(m2)
		assert.Equal(t, tt.want, m2.AsRaw(), tt.block)
	}
}

func TestStarts(t *testing.T) {
	t0 := time.Unix(100, 0)
	s := NewStarts[int](t0)
	ts := func(sec int64) pcommon.Timestamp { return pcommon.NewTimestampFromTime(time.Unix(sec, 0)) }
	assert.Equal(t, ts(100), s.Of(1))
	s.End(ts(115))
	assert.Equal(t, ts(100), s.Of(1), "kept")
	assert.Equal(t, ts(115), s.Of(2), "new: the previous read")
	s.End(ts(130))
	s.End(ts(145)) // neither seen: forgotten
	assert.Zero(t, s.Len())
	assert.Equal(t, ts(145), s.Of(1), "back: starts again")
}
