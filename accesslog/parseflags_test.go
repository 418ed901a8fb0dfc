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
	for _, bad := range []string{"XX", "UF,", ",UF", "uf", "UF URX"} {
		_, ok := ParseResponseFlags([]byte(bad))
		assert.False(t, ok, bad)
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
