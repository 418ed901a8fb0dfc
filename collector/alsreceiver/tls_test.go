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
	"os"
	"path/filepath"
	"testing"
	"time"

	alsv3 "github.com/envoyproxy/go-control-plane/envoy/service/accesslog/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
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

// issue returns PEM certificate and key signed by the CA.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
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

// TestMutualTLS shows a client without a certificate and a client with a
// certificate from another CA refused, and the right client accepted.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, otherCA := newCA(t, "mesh-ca"), newCA(t, "rogue-ca")
	srvCert, srvKey := ca.issue(t, "meshlens", true)
	cliCert, cliKey := ca.issue(t, "envoy", false)
	badCert, badKey := otherCA.issue(t, "envoy", false)
	caFile := write(t, dir, "ca.pem", ca.pem)

	_, hub, addr := startReceiver(t, func(c *Config) {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = write(t, dir, "srv.pem", srvCert)
		tlsCfg.KeyFile = write(t, dir, "srv.key", srvKey)
		tlsCfg.ClientCAFile = caFile
		c.GRPC.TLS = configoptional.Some(tlsCfg)
	})
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
	assert.Equal(t, 0, hub.count())
	require.NoError(t, client(cliCert, cliKey))
	assert.Equal(t, 1, hub.count())
}

func mustTLSConn(t *testing.T, addr string, cfg *tls.Config) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
