package hubextension

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/meshlens/meshlens/accesslog"
	"github.com/meshlens/meshlens/exporters/istiometrics"
)

// hopReports are the reports of one request hop through a waypoint, as
// proxies without metadata exchange send them: the client sidecar knows
// only its own side and the service its cluster names, the waypoint and the
// server know the caller only by its certificate. They share x-request-id
// and addresses: what a join would match on.
func hopReports() []accesslog.Record {
	local := func(name, ns string) accesslog.Workload {
		return accesslog.Workload{Name: name, Namespace: ns, CanonicalService: name, CanonicalRevision: "v1", App: name, Version: "v1", Cluster: "east", Principal: "unknown"}
	}
	unknown := accesslog.Workload{Name: "unknown", Namespace: "unknown", CanonicalService: "unknown", CanonicalRevision: "latest", App: "unknown", Version: "unknown", Cluster: "unknown", Principal: "unknown"}
	svc := accesslog.Service{Host: "reviews.shop.svc.cluster.local", Name: "reviews", Namespace: "shop"}
	base := accesslog.Record{
		Kind: accesslog.KindHTTP, Protocol: accesslog.ProtocolHTTP, ResponseCode: 200, GRPCStatus: -1, Final: true,
		DurationNanos: 4e6, RequestBytes: 100, ResponseBytes: 900, Service: svc,
	}
	base.Details.RequestID = []byte("4c0f6f0e-1111-4222-8333-944455556666")
	client, waypoint, server := base, base, base
	client.Reporter, client.Source, client.Destination = accesslog.ReporterSource, local("productpage", "shop"), unknown
	client.Destination.Namespace, client.Destination.CanonicalService = "shop", "reviews"
	client.SourceFrom, client.DestinationFrom, client.ServiceFrom = accesslog.FromNodeMetadata, accesslog.FromClusterName, accesslog.FromClusterName
	client.Details.PeerAddress, client.Details.PeerPort = []byte("10.0.0.20"), 9080
	waypoint.Reporter, waypoint.Source, waypoint.Destination = accesslog.ReporterWaypoint, unknown, unknown
	waypoint.Source.Namespace, waypoint.Source.Principal = "shop", "spiffe://cluster.local/ns/shop/sa/productpage"
	waypoint.SourceFrom, waypoint.DestinationFrom = accesslog.FromSAN, accesslog.FromNone
	waypoint.Security = accesslog.SecurityMutualTLS
	server.Reporter, server.Source, server.Destination = accesslog.ReporterDestination, waypoint.Source, local("reviews-v1", "shop")
	server.SourceFrom, server.DestinationFrom, server.ServiceFrom = accesslog.FromSAN, accesslog.FromNodeMetadata, accesslog.FromNodeMetadata
	server.Security = accesslog.SecurityMutualTLS
	server.Details.LocalAddress, server.Details.LocalPort = []byte("10.0.0.20"), 9080
	return []accesslog.Record{client, waypoint, server}
}

// seriesOf returns every Istio series of the hubs, summed across them:
// "name{labels}" → value.
func seriesOf(t *testing.T, hubs ...*Hub) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, h := range hubs {
		var b bytes.Buffer
		require.NoError(t, h.agg.WriteText(&b, istiometrics.FormatText))
		sc := bufio.NewScanner(&b)
		for sc.Scan() {
			line := sc.Text()
			if line == "" || line[0] == '#' {
				continue
			}
			i := strings.LastIndexByte(line, ' ')
			v, err := strconv.ParseFloat(line[i+1:], 64)
			require.NoError(t, err)
			out[line[:i]] += v
		}
	}
	return out
}

// TestLabelsDoNotDependOnOrder: every order of the three reports of one
// hop, split in every way over two meshlens instances (each proxy's stream
// goes to some replica), gives the same series with the same sums as one
// instance given them in one batch. A report's labels are its own
// (docs/adr/0003): nothing one report carries changes another's series.
func TestLabelsDoNotDependOnOrder(t *testing.T) {
	clock := func() time.Time { return time.Unix(1_800_000_000, 0) }
	newTestHub := func() *Hub {
		h, err := newHub(createDefaultConfig().(*Config), extensiontest.NewNopSettings(Type), clock)
		require.NoError(t, err)
		return h
	}
	ref := newTestHub()
	require.NoError(t, ref.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), hopReports()))
	want := seriesOf(t, ref)
	require.NotEmpty(t, want)

	perms := [][3]int{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, p := range perms {
		for split := range 8 { // bit i: report i goes to the second instance
			t.Run(fmt.Sprintf("order=%v/split=%03b", p, split), func(t *testing.T) {
				a, b := newTestHub(), newTestHub()
				for _, i := range p {
					h := a
					if split&(1<<i) != 0 {
						h = b
					}
					recs := hopReports()[i : i+1]
					require.NoError(t, h.ConsumeRecords(context.Background(), new(accesslog.StreamLocal), recs))
				}
				require.Equal(t, want, seriesOf(t, a, b))
			})
		}
	}
}
