package testkit_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// A server with the key pair Cert wrote presents it; a client that trusts
// it verifies the server, one that trusts another certificate does not.
func TestCert(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := testkit.Cert(t, certFile, keyFile, "first")
	other := testkit.Cert(t, filepath.Join(dir, "other.pem"), filepath.Join(dir, "other-key.pem"), "other")
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	for name, root := range map[string]*x509.Certificate{"unverified": nil, "verified": cert} {
		got, err := testkit.ServedCert(addr, root)
		if err != nil || got.Subject.CommonName != "first" || !got.Equal(cert) {
			t.Errorf("%s: served %v, %v; want the certificate named first", name, got, err)
		}
	}
	if _, err := testkit.ServedCert(addr, other); err == nil {
		t.Error("another certificate verifies the server")
	}
}
