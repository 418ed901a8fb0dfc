package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// TestIssue: a client certificate verifies against its CA, carries its
// SPIFFE id, and does not verify against another CA.
func TestIssue(t *testing.T) {
	ca, other := NewCA(t, "ca"), NewCA(t, "other")
	certPEM, keyPEM := ca.Issue(t, "envoy", false, "spiffe://cluster.local/ns/default/sa/a")
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://cluster.local/ns/default/sa/a" {
		t.Fatalf("URI SANs %v", leaf.URIs)
	}
	for _, tt := range []struct {
		ca   *CA
		want bool
	}{{ca, true}, {other, false}} {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(tt.ca.PEM)
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if (err == nil) != tt.want {
			t.Fatalf("verify against %v: %v", tt.ca.cert.Subject, err)
		}
	}
}
