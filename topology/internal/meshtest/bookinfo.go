package meshtest

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/meshlens/meshlens/accesslog"
)

// BookinfoDir is the directory of the Bookinfo captures under the real
// Envoy captures: tests pass captures.Dir(t, BookinfoDir...) to
// ReplayBookinfo (see internal/captures for where the captures come from).
var BookinfoDir = []string{"als", "skywalking", "clean-json"}

// BookinfoFiles are the four real captures of one Bookinfo page load (in
// BookinfoDir), in the order their proxies finished: gateway (client side),
// productpage (server side), productpage → details (client side), reviews
// (server side).
var BookinfoFiles = []string{
	"envoy-ingress.json",
	"envoy-ingress2sidecar.json",
	"envoy-mesh-client-sidecar.json",
	"envoy-mesh-server-sidecar.json",
}

// DecodeALS decodes a StreamAccessLogsMessage in protojson with the real
// normaliser, as the receiver would decode its binary form.
func DecodeALS(path string, now time.Time) ([]accesslog.Record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m alsv3.StreamAccessLogsMessage
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	wire, err := proto.Marshal(&m)
	if err != nil {
		return nil, err
	}
	recs, _, err := accesslog.NewStream(accesslog.Config{}, nil).Decode(wire, nil, now)
	if err != nil {
		return nil, fmt.Errorf("normalise %s: %w", path, err)
	}
	return recs, nil
}

// ReplayBookinfo decodes the Bookinfo captures found in dir, one
// millisecond apart from now, and hands each batch to observe.
func ReplayBookinfo(dir string, now time.Time, observe func([]accesslog.Record, time.Time)) error {
	for i, f := range BookinfoFiles {
		at := now.Add(time.Duration(i) * time.Millisecond)
		recs, err := DecodeALS(filepath.Join(dir, f), at)
		if err != nil {
			return err
		}
		observe(recs, at)
	}
	return nil
}
