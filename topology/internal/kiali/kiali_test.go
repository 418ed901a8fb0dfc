package kiali

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRateString checks Kiali's rate formatting (cytoscape.rateToString).
func TestRateString(t *testing.T) {
	tests := []struct {
		v    float64
		prec int
		want string
	}{
		{50, 2, "50.00"},
		{1162, 2, "1162.00"},
		{0.5, 2, "0.50"},
		{0.05, 2, "0.05"},
		{0.005, 2, "0.005"},
		{0.0123, 2, "0.01"},
		{0.00123, 2, "0.001"},
		{0.000001, 2, "0.00000"},
		{0, 2, "0.00"},
		{33.333333, 1, "33.3"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, RateString(tt.prec, tt.v), "%v", tt.v)
	}
}

// TestIDs checks the hashes kiali-graph.md lists.
func TestIDs(t *testing.T) {
	assert.Equal(t, "a29d84c6", hash("wl_east_bookinfo_kiali-2412")[:8])
	assert.Equal(t, "65be8a76", hash("unknown_unknown_source")[:8])
	assert.Equal(t, "a57b9b85", hash("svc_unknown_unknown_unknown")[:8])
}
