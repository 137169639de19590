package receiver_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/settings"
)

// fakeJobs records submitted jobs; the API methods are not used here.
type fakeJobs struct {
	receiver.Jobs
	mu   sync.Mutex
	jobs []*job.Job
}

func (f *fakeJobs) Submit(jb *job.Job) (job.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.jobs = append(f.jobs, jb)
	return job.Receipt{ID: "job-1"}, nil
}

func (f *fakeJobs) count() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.jobs) }

// loadYAML loads settings whose only entry is "gh" (GitHub, acme/site,
// secret gh-secret-0123456789, branch main), with head before repos: and entry inside it.
func loadYAML(t testing.TB, head, entry string) *settings.Settings {
	t.Helper()
	dir := t.TempDir()
	yaml := "listen: 127.0.0.1:0\nstate_dir: state\n" + head + `repos:
  gh:
    provider: github
    repository: acme/site
    remote: /nonexistent
    path: wc
    secret: gh-secret-0123456789
` + entry + `    branches:
      main: {commands: ['true']}
`
	file := filepath.Join(dir, "settings.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := settings.Load(file, nil)
	if err != nil {
		t.Fatalf("settings:\n%s\n%v", yaml, err)
	}
	return set
}

// readSpy is a request body that records whether it was read.
type readSpy struct {
	r    *bytes.Reader
	read bool
}

func (s *readSpy) Read(p []byte) (int, error) { s.read = true; return s.r.Read(p) }

// A delivery from outside the allow list is refused with 403 before its
// body is read, and so is one naming an endpoint that does not exist.
func TestAllowList(t *testing.T) {
	set := loadYAML(t, "allow: [192.30.252.0/22]\ntrusted_proxies: [127.0.0.1]\n", "")
	own := loadYAML(t, "allow: [192.30.252.0/22]\n", "    allow: [198.51.100.0/24]\n")
	body := pushBody(t, "gh", "main", zeroSHA, strings.Repeat("a", 40))
	cases := []struct {
		name     string
		set      *settings.Settings
		path     string
		remote   string
		xff      string
		code     int
		bodyRead bool
	}{
		{"allowed network", set, "/hooks/gh", "192.30.252.10:1", "", http.StatusAccepted, true},
		{"outside the list", set, "/hooks/gh", "203.0.113.5:1", "", http.StatusForbidden, false},
		{"unknown endpoint from outside", set, "/hooks/nope", "203.0.113.5:1", "", http.StatusForbidden, false},
		{"unknown endpoint from inside", set, "/hooks/nope", "192.30.252.10:1", "", http.StatusNotFound, false},
		{"through the trusted proxy", set, "/hooks/gh", "127.0.0.1:1", "192.30.252.10", http.StatusAccepted, true},
		{"forged hop through the proxy", set, "/hooks/gh", "127.0.0.1:1", "192.30.252.10, 203.0.113.5",
			http.StatusForbidden, false},
		{"header from an untrusted peer", set, "/hooks/gh", "203.0.113.5:1", "192.30.252.10", http.StatusForbidden, false},
		{"entry's own list", own, "/hooks/gh", "198.51.100.3:1", "", http.StatusAccepted, true},
		{"global network not in the entry's list", own, "/hooks/gh", "192.30.252.10:1", "", http.StatusForbidden, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobs := &fakeJobs{}
			h := receiver.New(receiver.Options{Settings: tc.set, Jobs: jobs, Logger: zerolog.Nop()})
			spy := &readSpy{r: bytes.NewReader(body)}
			req := httptest.NewRequest(http.MethodPost, tc.path, spy)
			req.RemoteAddr = tc.remote
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("gh-secret-0123456789", body))
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || spy.read != tc.bodyRead {
				t.Fatalf("answer %d %s, body read %v; want %d, body read %v", rec.Code, rec.Body, spy.read, tc.code, tc.bodyRead)
			}
			if want := 0; tc.code == http.StatusAccepted {
				if jobs.count() != 1 {
					t.Errorf("%d jobs queued, want 1", jobs.count())
				}
			} else if jobs.count() != want {
				t.Errorf("%d jobs queued, want none", jobs.count())
			}
		})
	}
}

// The read timeouts of http: reach the server.
func TestServerForSettings(t *testing.T) {
	set := loadYAML(t, "http: {read_header_timeout: 1500ms, read_timeout: 7s}\n", "")
	srv := receiver.NewServerFor(set, http.NotFoundHandler(), zerolog.Nop())
	if srv.ReadHeaderTimeout != 1500*time.Millisecond || srv.ReadTimeout != 7*time.Second ||
		srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes != 32<<10 || srv.Addr != set.Listen {
		t.Errorf("server %+v", srv)
	}
}

// selfSigned writes a fresh self-signed certificate for 127.0.0.1 and its
// key to certFile and keyFile, and returns the certificate.
func selfSigned(t testing.TB, certFile, keyFile, name string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// HTTPS with the settings' key pair; a reload serves a renewed pair to new
// connections, and a broken pair keeps the one in use.
func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := selfSigned(t, certFile, keyFile, "first")
	set := loadYAML(t, "tls: {cert_file: "+certFile+", key_file: "+keyFile+"}\n", "")
	var logs bytes.Buffer
	cert, err := receiver.LoadCertificate(set.TLS, zerolog.New(zerolog.SyncWriter(&logs)))
	if err != nil {
		t.Fatal(err)
	}
	srv := receiver.NewServerFor(set, receiver.New(receiver.Options{Settings: set, Jobs: &fakeJobs{}}), zerolog.Nop())
	srv.TLSConfig = cert.TLSConfig()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	addr := ln.Addr().String()

	served := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != first.Subject.CommonName {
		t.Fatalf("served %q, want %q", got, first.Subject.CommonName)
	}
	selfSigned(t, certFile, keyFile, "second")
	cert.SetSettings(set)
	if got := served(); got != "second" {
		t.Errorf("after reload served %q, want second", got)
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cert.SetSettings(set)
	if got := served(); got != "second" {
		t.Errorf("after a broken reload served %q, want second kept", got)
	}
	if !strings.Contains(logs.String(), "tls certificate not reloaded") {
		t.Errorf("the log does not say the reload failed:\n%s", logs.String())
	}
	pool := x509.NewCertPool()
	pool.AddCert(first)
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool}); err == nil {
		t.Error("the old certificate still verifies the server")
	}
}

func TestLoadCertificateErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	selfSigned(t, certFile, keyFile, "x")
	other := filepath.Join(dir, "other.pem")
	selfSigned(t, filepath.Join(dir, "other-cert.pem"), other, "y")
	cases := []struct {
		name string
		tls  settings.TLS
		want string
	}{
		{"not set", settings.TLS{}, "tls.cert_file and tls.key_file are not set"},
		{"key of another certificate", settings.TLS{CertFile: certFile, KeyFile: other}, "private key does not match public key"},
		{"key is not PEM", settings.TLS{CertFile: certFile, KeyFile: certFile}, "load tls certificate " + certFile},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := receiver.LoadCertificate(tc.tls, zerolog.Nop())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// What the headers alone refuse is refused before the body is read: a
// stranger without the secret costs no body read.
func TestRefusedBeforeBodyRead(t *testing.T) {
	set := loadYAML(t, "max_body_bytes: 65536\n", "")
	body := pushBody(t, "gh", "main", zeroSHA, strings.Repeat("a", 40))
	cases := []struct {
		name     string
		edit     func(*http.Request)
		code     int
		bodyRead bool
	}{
		{"signed", func(*http.Request) {}, http.StatusAccepted, true},
		{"no signature", func(r *http.Request) { r.Header.Del("X-Hub-Signature-256") }, http.StatusUnauthorized, false},
		{"signature not hex", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=zz") },
			http.StatusUnauthorized, false},
		{"signature too short", func(r *http.Request) { r.Header.Set("X-Hub-Signature-256", "sha256=abcd") },
			http.StatusUnauthorized, false},
		{"wrong signature needs the body", func(r *http.Request) {
			r.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
		}, http.StatusUnauthorized, true},
		{"declared length over the cap", func(r *http.Request) { r.ContentLength = 65537 },
			http.StatusRequestEntityTooLarge, false},
		{"text/plain", func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			http.StatusUnsupportedMediaType, false},
		{"GET", func(r *http.Request) { r.Method = http.MethodGet }, http.StatusMethodNotAllowed, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := receiver.New(receiver.Options{Settings: set, Jobs: &fakeJobs{}, Logger: zerolog.Nop()})
			spy := &readSpy{r: bytes.NewReader(body)}
			req := httptest.NewRequest(http.MethodPost, "/hooks/gh", spy)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+hmacHex("gh-secret-0123456789", body))
			tc.edit(req)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.code || spy.read != tc.bodyRead {
				t.Errorf("answer %d %s, body read %v; want %d, body read %v", rec.Code, rec.Body, spy.read, tc.code, tc.bodyRead)
			}
		})
	}
}
