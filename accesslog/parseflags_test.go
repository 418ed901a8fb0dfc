package accesslog

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseResponseFlagsRoundTrip: every set of flags reads back from the
// label String writes (what an access-log line's %RESPONSE_FLAGS% shows).
func TestParseResponseFlagsRoundTrip(t *testing.T) {
	for _, f := range []ResponseFlags{0, 1 << 2, 1<<6 | 1<<16, 1<<1 | 1<<13 | 1<<28, (1<<29 - 1) &^ 1} {
		got, ok := ParseResponseFlags([]byte(f.String()))
		require.True(t, ok, f.String())
		assert.Equal(t, f, got, f.String())
	}
	for _, bad := range []string{"UF,", ",UF", "UF,,URX"} {
		_, ok := ParseResponseFlags([]byte(bad))
		assert.False(t, ok, bad)
	}
	// Codes a newer Envoy writes are skipped; the known ones count.
	for in, want := range map[string]ResponseFlags{"DO": 0, "UF,DO": 1 << 6, "XX,URX": 1 << 16, "uf": 0} {
		got, ok := ParseResponseFlags([]byte(in))
		require.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
}

func TestMethodNumber(t *testing.T) {
	for i, name := range methodNames {
		if name == "" {
			continue
		}
		assert.Equal(t, uint32(i), MethodNumber([]byte(name)), name) //nolint:gosec // < 10
	}
	assert.Zero(t, MethodNumber([]byte("BREW")))
	assert.Zero(t, MethodNumber([]byte("get")))
}
