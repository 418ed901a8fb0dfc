package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/meshlens/meshlens/internal/testpki"
	"github.com/meshlens/meshlens/loadgen"
)

// TestE2EHostileIdentity: with mutual TLS and bind_spiffe_identity, a
// proxy whose certificate names one workload cannot report as another:
// its streams are refused and their entries counted as rejected
// (identity_mismatch), while the workload's own streams are served; failed
// TLS handshakes (no client certificate, not TLS at all) are counted. The
// accounting adds up and the memory stays bounded.
func TestE2EHostileIdentity(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "mesh-ca")
	srvCert, srvKey := ca.Issue(t, "meshlens", true)
	m := startMeshlens(t,
		"--set", fmt.Sprintf("receivers::envoyals::memory_limit_mib=%d", hostileMemoryLimitMiB),
		"--set", "receivers::envoyals::tls::cert_file="+testpki.Write(t, dir, "srv.pem", srvCert),
		"--set", "receivers::envoyals::tls::key_file="+testpki.Write(t, dir, "srv.key", srvKey),
		"--set", "receivers::envoyals::tls::client_ca_file="+testpki.Write(t, dir, "ca.pem", ca.PEM),
		"--set", "receivers::envoyals::bind_spiffe_identity=true",
	)

	// productpage's streams and reviews-v1's, of one generated mesh.
	tr := loadgen.Bookinfo().Generate(loadgen.GenConfig{Seed: 1, Requests: 500})
	own, other := &loadgen.Traffic{}, &loadgen.Traffic{}
	for _, s := range tr.Streams {
		switch {
		case strings.Contains(s.NodeID, "productpage-v1"):
			own.Streams = append(own.Streams, s)
		case strings.Contains(s.NodeID, "reviews-v1"):
			other.Streams = append(other.Streams, s)
		}
	}
	require.NotEmpty(t, own.Streams)
	require.NotEmpty(t, other.Streams)
	msgs, err := own.Streams[0].Decode()
	require.NoError(t, err)
	md := msgs[0].GetIdentifier().GetNode().GetMetadata().GetFields()
	spiffe := fmt.Sprintf("spiffe://cluster.local/ns/%s/sa/%s", md["NAMESPACE"].GetStringValue(), md["SERVICE_ACCOUNT"].GetStringValue())

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))
	tlsConn := func(certPEM, keyPEM []byte) *grpc.ClientConn {
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		conn, err := grpc.NewClient(m.GRPC, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		return conn
	}
	productpage := tlsConn(ca.Issue(t, "productpage", false, spiffe))

	// The workload's own streams are served.
	_, err = loadgen.Send(context.Background(), productpage, own, loadgen.SendOptions{})
	require.NoError(t, err)
	waitProcessed(t, m, float64(own.EntryCount()))

	// The same certificate speaking for reviews-v1: refused, counted.
	_, err = loadgen.Send(context.Background(), productpage, other, loadgen.SendOptions{})
	t.Logf("reviews-v1's streams over productpage's certificate: %v", err)
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics(`meshlens_receiver_entries_rejected_total{reason="identity_mismatch"}`)
		return err == nil && v[0] == float64(other.EntryCount())
	}, 30*time.Second, 50*time.Millisecond, "every entry of the other workload's streams rejected as identity_mismatch")
	assert.InDelta(t, float64(own.EntryCount()), m.metric(t, "meshlens_receiver_entries_processed_total"), 0, "none of them processed")

	// Failed handshakes: no client certificate, and not TLS at all.
	for _, conn := range []*grpc.ClientConn{tlsConn(nil, nil), dial(t, m.GRPC)} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := loadgen.Send(ctx, conn, own, loadgen.SendOptions{})
		cancel()
		require.Error(t, err)
	}
	require.Eventually(t, func() bool {
		v, err := m.tryMetrics("meshlens_receiver_tls_handshake_failures_total")
		return err == nil && v[0] >= 2
	}, 30*time.Second, 50*time.Millisecond, "failed handshakes counted")

	received, handled, err := m.accounting()
	require.NoError(t, err)
	assert.InDelta(t, received, handled, 0, "received = processed + rejected + dropped")
	_, peak := procRSS(t, m.cmd.Process.Pid)
	assert.Less(t, peak, float64(hostileRSSBoundMiB), "peak RSS (MiB)")
}
