package alsreceiver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
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
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns PEM certificate and key signed by the CA, with the given
// URI SANs (SPIFFE ids).
func (ca *testCA) issue(t *testing.T, name string, server bool, uris ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestMutualTLS shows a client without a certificate, a client with a
// certificate from another CA and a client that does not speak TLS
// refused, each failed handshake counted and logged at most once a minute,
// and the right client accepted.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, otherCA := newCA(t, "mesh-ca"), newCA(t, "rogue-ca")
	srvCert, srvKey := ca.issue(t, "meshlens", true)
	cliCert, cliKey := ca.issue(t, "envoy", false)
	badCert, badKey := otherCA.issue(t, "envoy", false)
	caFile := write(t, dir, "ca.pem", ca.pem)

	core, logs := observer.New(zap.WarnLevel)
	_, hub, addr := startReceiverWith(t, func(c *Config) {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = write(t, dir, "srv.pem", srvCert)
		tlsCfg.KeyFile = write(t, dir, "srv.key", srvKey)
		tlsCfg.ClientCAFile = caFile
		c.GRPC.TLS = configoptional.Some(tlsCfg)
	}, func(r *alsReceiver) { r.set.Logger = zap.New(core) })
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.pem))
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
	dir := t.TempDir()
	ca := newCA(t, "mesh-ca")
	srvCert, srvKey := ca.issue(t, "meshlens", true)
	const productpage = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(ca.pem))
	_, hub, addr := startReceiver(t, func(c *Config) {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = write(t, dir, "srv.pem", srvCert)
		tlsCfg.KeyFile = write(t, dir, "srv.key", srvKey)
		tlsCfg.ClientCAFile = write(t, dir, "ca.pem", ca.pem)
		c.GRPC.TLS = configoptional.Some(tlsCfg)
		c.BindSPIFFEIdentity = true
	})
	conn := func(uris ...string) *grpc.ClientConn {
		certPEM, keyPEM := ca.issue(t, "envoy", false, uris...)
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
