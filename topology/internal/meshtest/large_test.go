package meshtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLarge(t *testing.T) {
	calls := Large(1000, 10)
	require.Len(t, calls, 10000)
	type key struct{ from, svc string }
	seen := map[key]bool{}
	protocols := map[string]int{}
	for _, c := range calls {
		k := key{c.From.Name, c.Service.Name}
		require.False(t, seen[k], "duplicate edge %v", k)
		require.NotEqual(t, c.From.Name, c.To.Name)
		seen[k] = true
		protocols[c.Protocol.String()]++
	}
	assert.Equal(t, map[string]int{"http": 8500, "grpc": 1000, "tcp": 500}, protocols)
	assert.Len(t, LargeRecords(10, 3), 60)
}
