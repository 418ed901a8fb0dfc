package collector

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap"
)

func TestMemoryLimitFromConfig(t *testing.T) {
	pipelines := map[string]any{"traces": map[string]any{"receivers": []any{"envoyals", "envoyals/b", "otlp"}}}
	tests := []struct {
		name      string
		receivers map[string]any
		want      int64 // bytes set; 0: not set
		wantErr   string
	}{
		{name: "none", receivers: map[string]any{"envoyals": map[string]any{}}},
		{name: "zero", receivers: map[string]any{"envoyals": map[string]any{"memory_limit_mib": 0}}},
		{name: "one", receivers: map[string]any{"envoyals": map[string]any{"memory_limit_mib": 256}}, want: 256 << 20},
		{name: "largest of the used ones", receivers: map[string]any{
			"envoyals":        map[string]any{"memory_limit_mib": 100},
			"envoyals/b":      map[string]any{"memory_limit_mib": "300"},
			"envoyals/unused": map[string]any{"memory_limit_mib": 900},
			"otlp":            map[string]any{"memory_limit_mib": 1000},
		}, want: 300 << 20},
		{
			name: "not a number", receivers: map[string]any{"envoyals": map[string]any{"memory_limit_mib": "lots"}},
			wantErr: `receivers::envoyals::memory_limit_mib: "lots" is not a whole number`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var set []int64
			m := &memoryLimit{set: func(v int64) int64 { set = append(set, v); return 42 }}
			conf := confmap.NewFromStringMap(map[string]any{"receivers": tt.receivers, "service": map[string]any{"pipelines": pipelines}})
			err := m.Convert(context.Background(), conf)
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.want == 0 {
				assert.Empty(t, set)
				m.restore()
				assert.Empty(t, set, "nothing to restore")
				return
			}
			assert.Equal(t, []int64{tt.want}, set)
			m.restore()
			assert.Equal(t, []int64{tt.want, 42}, set, "restore puts back the process's limit")
		})
	}
}
