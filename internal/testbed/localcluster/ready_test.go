package localcluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// A readiness check must not take another process on the component's port
// for the component: it trusts only the certificate the component wrote.
func TestReadyTrustsOnlyTheComponentsCertificate(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	ours := httptest.NewUnstartedServer(ok)
	certPEM, cert := selfSigned(t)
	ours.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ours.StartTLS()
	defer ours.Close()
	theirs := httptest.NewTLSServer(ok) // httptest's own certificate, also valid for 127.0.0.1
	defer theirs.Close()

	caFile := filepath.Join(t.TempDir(), "component.crt")
	check := httpReady(ours.URL+"/healthz", trusting(caFile))
	if err := check(context.Background()); err == nil {
		t.Fatal("ready before the component wrote its certificate")
	}
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := check(context.Background()); err != nil {
		t.Fatalf("our component: %v", err)
	}
	if err := httpReady(theirs.URL+"/healthz", trusting(caFile))(context.Background()); err == nil {
		t.Fatal("another process answering on the port passed as the component")
	}
}

// selfSigned makes a certificate for 127.0.0.1, as the controller-manager
// makes its own.
func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// The components' ports are distinct, below the kernel's ephemeral range
// (no connection's source port can take one while its component is
// stopped), and free for TCP and UDP once returned.
func TestFreePortsBelowTheEphemeralRange(t *testing.T) {
	ports, err := freePorts(9)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p >= ephemeralLow() || p < 10_000 || seen[p] {
			t.Errorf("port %d of %v: want distinct ports in [10000, %d)", p, ports, ephemeralLow())
		}
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not free for TCP: %v", p, err)
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not free for UDP: %v", p, err)
			continue
		}
		u.Close()
	}
}
