package collector

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"
)

// memoryLimit applies the Go runtime's soft memory limit, process-wide
// state that belongs to the process rather than to a component: each
// envoyals receiver's memory_limit_mib makes that receiver hold and drop
// entries above it (its own affair), and the process sets the runtime's
// limit to the largest memory_limit_mib of the envoyals receivers its
// pipelines use, so that the garbage collector works to stay under it.
//
// It is a confmap converter: it sees the configuration once resolved
// (files, --set, environment), before any component starts, and again on
// every reload. restore puts back the limit the process started with.
type memoryLimit struct {
	set   func(int64) int64 // debug.SetMemoryLimit; tests replace it
	prev  int64
	saved bool
}

func newMemoryLimit() *memoryLimit { return &memoryLimit{set: debug.SetMemoryLimit} }

func (m *memoryLimit) factory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter { return m })
}

// Convert implements confmap.Converter; it does not change conf.
func (m *memoryLimit) Convert(_ context.Context, conf *confmap.Conf) error {
	mib, err := receiversMemoryLimitMiB(conf)
	if err != nil {
		return err
	}
	if mib <= 0 {
		return nil
	}
	limit := int64(math.MaxInt64)
	if mib <= math.MaxInt64>>20 {
		limit = mib << 20
	}
	prev := m.set(limit)
	if !m.saved {
		m.prev, m.saved = prev, true
	}
	return nil
}

// restore puts back the limit the process had before Convert changed it.
func (m *memoryLimit) restore() {
	if m.saved {
		m.set(m.prev)
		m.saved = false
	}
}

// receiversMemoryLimitMiB is the largest memory_limit_mib of the envoyals
// receivers that a pipeline uses (0: none set).
func receiversMemoryLimitMiB(conf *confmap.Conf) (int64, error) {
	used := map[string]bool{}
	pipelines, _ := conf.Get("service::pipelines").(map[string]any)
	for _, p := range pipelines {
		pm, _ := p.(map[string]any)
		list, _ := pm["receivers"].([]any)
		for _, id := range list {
			if s, ok := id.(string); ok {
				used[s] = true
			}
		}
	}
	receivers, _ := conf.Get("receivers").(map[string]any)
	var mib int64
	for id, v := range receivers {
		if typ, _, _ := strings.Cut(id, "/"); typ != "envoyals" || !used[id] {
			continue
		}
		rm, _ := v.(map[string]any)
		raw, ok := rm["memory_limit_mib"]
		if !ok || raw == nil {
			continue
		}
		n, err := toInt64(raw)
		if err != nil {
			return 0, fmt.Errorf("receivers::%s::memory_limit_mib: %w", id, err)
		}
		mib = max(mib, n)
	}
	return mib, nil
}

func toInt64(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64>>20 {
			return 0, fmt.Errorf("%d is too large", x)
		}
		return int64(x), nil
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt64>>20 || x < math.MinInt64>>20 {
			return 0, fmt.Errorf("%v is not a whole number of MiB", x)
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a whole number", x)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}
