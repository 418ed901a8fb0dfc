package alsreceiver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	metricsv3 "github.com/envoyproxy/go-control-plane/envoy/service/metrics/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meshlens/meshlens/internal/testpki"
)

// TestMutualTLS shows a client without a certificate, a client with a
// certificate from another CA and a client that does not speak TLS
// refused, each failed handshake counted and logged at most once a minute,
// and the right client accepted.
func TestMutualTLS(t *testing.T) {
	grpcOnly(t)
	dir := t.TempDir()
	ca, otherCA := testpki.NewCA(t, "mesh-ca"), testpki.NewCA(t, "rogue-ca")
	srvCert, srvKey := ca.Issue(t, "meshlens", true)
	cliCert, cliKey := ca.Issue(t, "envoy", false)
	badCert, badKey := otherCA.Issue(t, "envoy", false)
	caFile := testpki.Write(t, dir, "ca.PEM", ca.PEM)

	core, logs := observer.New(zap.WarnLevel)
	_, hub, addr := startReceiverWith(t, func(c *Config) {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = testpki.Write(t, dir, "srv.pem", srvCert)
		tlsCfg.KeyFile = testpki.Write(t, dir, "srv.key", srvKey)
		tlsCfg.ClientCAFile = caFile
		c.GRPC.TLS = configoptional.Some(tlsCfg)
	}, func(r *alsReceiver) { r.set.Logger = zap.New(core) })
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))
	client := func(certPEM, keyPEM []byte) error {
		cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if certPEM != nil {
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			require.NoError(t, err)
			cfg.Certificates = []tls.Certificate{pair}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := alsv3.NewAccessLogServiceClient(mustTLSConn(t, addr, cfg)).StreamAccessLogs(ctx)
		if err != nil {
			return err
		}
		if err := s.Send(loadALS(t, "envoy-ingress.json")); err != nil {
			_, err2 := s.CloseAndRecv()
			return err2
		}
		_, err = s.CloseAndRecv()
		return err
	}
	require.Error(t, client(nil, nil), "no client certificate")
	require.Error(t, client(badCert, badKey), "certificate from another CA")
	plain := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := alsv3.NewAccessLogServiceClient(dial(t, addr)).StreamAccessLogs(ctx)
		if err != nil {
			return err
		}
		_ = s.Send(loadALS(t, "envoy-ingress.json"))
		_, err = s.CloseAndRecv()
		return err
	}
	require.Error(t, plain(), "not TLS")
	assert.Equal(t, 0, hub.count())
	require.NoError(t, client(cliCert, cliKey))
	assert.Equal(t, 1, hub.count())
	require.Eventually(t, func() bool {
		return counter(t, hub.reg, "meshlens_receiver_tls_handshake_failures_total") >= 3
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, 1, logs.FilterMessageSnippet("TLS handshake").Len(), "one line per minute, not one per failure")
}

// TestSPIFFEIdentityBinding: with bind_spiffe_identity, a stream is taken
// only when its node identity is the workload its client certificate's
// SPIFFE id names; a mismatch is refused with PERMISSION_DENIED and counted
// (messages and entries, reason identity_mismatch).
func TestSPIFFEIdentityBinding(t *testing.T) {
	grpcOnly(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "mesh-ca")
	srvCert, srvKey := ca.Issue(t, "meshlens", true)
	const productpage = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.PEM))
	_, hub, addr := startReceiver(t, func(c *Config) {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = testpki.Write(t, dir, "srv.pem", srvCert)
		tlsCfg.KeyFile = testpki.Write(t, dir, "srv.key", srvKey)
		tlsCfg.ClientCAFile = testpki.Write(t, dir, "ca.PEM", ca.PEM)
		c.GRPC.TLS = configoptional.Some(tlsCfg)
		c.BindSPIFFEIdentity = true
	})
	conn := func(uris ...string) *grpc.ClientConn {
		certPEM, keyPEM := ca.Issue(t, "envoy", false, uris...)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		require.NoError(t, err)
		return mustTLSConn(t, addr, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}})
	}
	// The capture's node is a sidecar in namespace default (from its node
	// id); the metadata below adds or overrides what it claims.
	msg := func(md map[string]any) *alsv3.StreamAccessLogsMessage {
		m := loadALS(t, "envoy-mesh-client-sidecar.json")
		s, err := structpb.NewStruct(md)
		require.NoError(t, err)
		m.Identifier.Node.Metadata = s
		return m
	}
	entries := len(msg(nil).GetHttpLogs().GetLogEntry())
	tests := []struct {
		name string
		cert []string
		md   map[string]any
		want codes.Code
	}{
		{"namespace and account match", []string{productpage}, map[string]any{"NAMESPACE": "default", "SERVICE_ACCOUNT": "bookinfo-productpage"}, codes.OK},
		{"namespace matches, node names no account", []string{productpage}, nil, codes.OK},
		{"other namespace", []string{productpage}, map[string]any{"NAMESPACE": "payments"}, codes.PermissionDenied},
		{"other account", []string{productpage}, map[string]any{"SERVICE_ACCOUNT": "payments-admin"}, codes.PermissionDenied},
		{"certificate without a SPIFFE id", nil, nil, codes.PermissionDenied},
		{"SPIFFE id not of a workload", []string{"spiffe://cluster.local/gateway"}, nil, codes.PermissionDenied},
	}
	processed, rejected := 0, 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := alsv3.NewAccessLogServiceClient(conn(tt.cert...)).StreamAccessLogs(context.Background())
			require.NoError(t, err)
			require.NoError(t, s.Send(msg(tt.md)))
			_, err = s.CloseAndRecv()
			require.Equal(t, tt.want, status.Code(err), "%v", err)
			if tt.want == codes.OK {
				processed += entries
			} else {
				rejected++
			}
			assert.Equal(t, processed, hub.count())
			assert.InDelta(t, rejected, counter(t, hub.reg, "meshlens_receiver_messages_rejected_total", "service", "als", "reason", "identity_mismatch"), 0)
			assert.InDelta(t, rejected*entries, counter(t, hub.reg, "meshlens_receiver_entries_rejected_total", "reason", "identity_mismatch"), 0)
			checkAccounting(t, hub.reg)
		})
	}
	t.Run("metrics service", func(t *testing.T) {
		md, err := structpb.NewStruct(map[string]any{"NAMESPACE": "payments"})
		require.NoError(t, err)
		s, err := metricsv3.NewMetricsServiceClient(conn(productpage)).StreamMetrics(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Send(&metricsv3.StreamMetricsMessage{
			Identifier: &metricsv3.StreamMetricsMessage_Identifier{Node: &corev3.Node{Id: "sidecar~10.0.0.1~pay-1.payments~payments.svc.cluster.local", Metadata: md}},
		}))
		_, err = s.CloseAndRecv()
		require.Equal(t, codes.PermissionDenied, status.Code(err), "%v", err)
		assert.InDelta(t, 1, counter(t, hub.reg, "meshlens_receiver_messages_rejected_total", "service", "metrics", "reason", "identity_mismatch"), 0)
	})
}

func mustTLSConn(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
