package textgzip

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewSeriesResync: lines of new series, each differing from the line
// before in one label value, whose other values repeat within the line (as
// Istio's do: "unknown", the same app in source and destination). Each
// line after the first is aligned with the line before past the value that
// differs: a back-reference, a few literals, a back-reference to the end
// of the labels, the sample's value. The hash matcher alone takes the
// nearest repeat it has seen and breaks the line into more, shorter
// references.
func TestNewSeriesResync(t *testing.T) {
	var in bytes.Buffer
	const n = 2000
	for i := range n {
		fmt.Fprintf(&in, `istio_requests_total{reporter="source",source_workload="unknown",source_app="unknown",`+
			`destination_workload="w%d",destination_app="unknown",destination_version="unknown",`+
			`destination_service="unknown",request_protocol="http",response_code="200"} %d`+"\n", i, i*7)
	}
	var out bytes.Buffer
	z := NewWriter(&out)
	_, err := z.Write(in.Bytes())
	require.NoError(t, err)
	require.NoError(t, z.Close())
	size := out.Len()
	r, err := gzip.NewReader(&out)
	require.NoError(t, err)
	back, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, in.Bytes(), back)
	perLine := float64(size) / n
	t.Logf("%d bytes in, %d out: %.1f a line", in.Len(), size, perLine)
	// Measured: 5.6 bytes a line resynchronised, 6.3 with the hash
	// matcher alone (the output is deterministic).
	assert.Less(t, perLine, 6.0, "a line is a few references and its values")
}
