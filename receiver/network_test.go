package receiver_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/receiver"
	"github.com/wh-gitd/wh-gitd/settings"
)

// oneEntry loads settings whose only entry is testkit's "site" (GitHub,
// acme/site, testkit.Secret, branch main), with top added at the top level
// and extra in the entry.
func oneEntry(t testing.TB, top, extra string) *settings.Settings {
	t.Helper()
	return testkit.File{Top: top, Repos: []testkit.Repo{{Extra: extra}}}.Load(t, "")
}

// readSpy is a request body that records whether it was read.
type readSpy struct {
	r    *bytes.Reader
	read bool
}

func (s *readSpy) Read(p []byte) (int, error) { s.read = true; return s.r.Read(p) }

// spied sends body as a signed GitHub push to path, changed by edit,
// through a new handler of set, and returns the answer, whether the body
// was read, and how many jobs were submitted.
func spied(set *settings.Settings, path string, body []byte, edit func(*http.Request)) (*httptest.ResponseRecorder, bool, int) {
	jobs := &fakeJobs{}
	h := receiver.New(receiver.Options{Settings: set, Jobs: jobs, Logger: zerolog.Nop()})
	spy := &readSpy{r: bytes.NewReader(body)}
	req := httptest.NewRequest(http.MethodPost, path, spy)
	req.Header = testkit.Delivery{Provider: settings.GitHub, Body: body}.Headers()
	edit(req)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, spy.read, jobs.count()
}

// A delivery from outside the allow list is refused with 403 before its
// body is read, and so is one naming an endpoint that does not exist.
func TestAllowList(t *testing.T) {
	set := oneEntry(t, "allow: [192.30.252.0/22]\ntrusted_proxies: [127.0.0.1]", "")
	own := oneEntry(t, "allow: [192.30.252.0/22]", "allow: [198.51.100.0/24]")
	body := pushBody(t, "gh", "main", testkit.ZeroSHA, strings.Repeat("a", 40))
	cases := []struct {
		name     string
		set      *settings.Settings
		path     string
		remote   string
		xff      string
		code     int
		bodyRead bool
	}{
		{"allowed network", set, "/hooks/site", "192.30.252.10:1", "", http.StatusAccepted, true},
		{"outside the list", set, "/hooks/site", "203.0.113.5:1", "", http.StatusForbidden, false},
		{"unknown endpoint from outside", set, "/hooks/nope", "203.0.113.5:1", "", http.StatusForbidden, false},
		{"unknown endpoint from inside", set, "/hooks/nope", "192.30.252.10:1", "", http.StatusNotFound, false},
		{"through the trusted proxy", set, "/hooks/site", "127.0.0.1:1", "192.30.252.10", http.StatusAccepted, true},
		{"forged hop through the proxy", set, "/hooks/site", "127.0.0.1:1", "192.30.252.10, 203.0.113.5",
			http.StatusForbidden, false},
		{"header from an untrusted peer", set, "/hooks/site", "203.0.113.5:1", "192.30.252.10", http.StatusForbidden, false},
		{"entry's own list", own, "/hooks/site", "198.51.100.3:1", "", http.StatusAccepted, true},
		{"global network not in the entry's list", own, "/hooks/site", "192.30.252.10:1", "", http.StatusForbidden, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec, read, jobs := spied(tc.set, tc.path, body, func(r *http.Request) {
				r.RemoteAddr = tc.remote
				if tc.xff != "" {
					r.Header.Set("X-Forwarded-For", tc.xff)
				}
			})
			if rec.Code != tc.code || read != tc.bodyRead {
				t.Fatalf("answer %d %s, body read %v; want %d, body read %v", rec.Code, rec.Body, read, tc.code, tc.bodyRead)
			}
			if want := 0; tc.code == http.StatusAccepted {
				if jobs != 1 {
					t.Errorf("%d jobs queued, want 1", jobs)
				}
			} else if jobs != want {
				t.Errorf("%d jobs queued, want none", jobs)
			}
		})
	}
}

// The read timeouts of http: reach the server.
func TestServerForSettings(t *testing.T) {
	set := oneEntry(t, "http: {read_header_timeout: 1500ms, read_timeout: 7s}", "")
	srv := receiver.NewServerFor(set, http.NotFoundHandler(), zerolog.Nop())
	if srv.ReadHeaderTimeout != 1500*time.Millisecond || srv.ReadTimeout != 7*time.Second ||
		srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes != 32<<10 || srv.Addr != set.Listen {
		t.Errorf("server %+v", srv)
	}
}

// HTTPS with the settings' key pair; a reload serves a renewed pair to new
// connections, and a broken pair keeps the one in use.
func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testkit.Cert(t, certFile, keyFile, "first")
	set := oneEntry(t, "tls: {cert_file: "+certFile+", key_file: "+keyFile+"}", "")
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
		cert, err := testkit.ServedCert(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Subject.CommonName
	}
	if got := served(); got != first.Subject.CommonName {
		t.Fatalf("served %q, want %q", got, first.Subject.CommonName)
	}
	testkit.Cert(t, certFile, keyFile, "second")
	cert.SetSettings(set)
	if got := served(); got != "second" {
		t.Errorf("after reload served %q, want second", got)
	}
	testkit.WriteFile(t, keyFile, "not a key")
	cert.SetSettings(set)
	if got := served(); got != "second" {
		t.Errorf("after a broken reload served %q, want second kept", got)
	}
	if !strings.Contains(logs.String(), "tls certificate not reloaded") {
		t.Errorf("the log does not say the reload failed:\n%s", logs.String())
	}
	if _, err := testkit.ServedCert(addr, first); err == nil {
		t.Error("the old certificate still verifies the server")
	}
}

func TestLoadCertificateErrors(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testkit.Cert(t, certFile, keyFile, "x")
	other := filepath.Join(dir, "other.pem")
	testkit.Cert(t, filepath.Join(dir, "other-cert.pem"), other, "y")
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
	set := oneEntry(t, "max_body_bytes: 65536", "")
	body := pushBody(t, "gh", "main", testkit.ZeroSHA, strings.Repeat("a", 40))
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
			rec, read, _ := spied(set, "/hooks/site", body, tc.edit)
			if rec.Code != tc.code || read != tc.bodyRead {
				t.Errorf("answer %d %s, body read %v; want %d, body read %v", rec.Code, rec.Body, read, tc.code, tc.bodyRead)
			}
		})
	}
}

// rawRequest writes req on a fresh connection to addr and reads the answer.
func rawRequest(t *testing.T, addr, req string) (*http.Response, error) {
	t.Helper()
	conn := testkit.Dial(t, addr, 10*time.Second)
	if _, err := io.WriteString(conn, req); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// The real server refuses oversized headers with 431 and sets every timeout.
func TestServerLimits(t *testing.T) {
	srv := receiver.NewServer("127.0.0.1:0", receiver.New(receiver.Options{Settings: oneEntry(t, "", ""), Jobs: &fakeJobs{}}))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Fatalf("a timeout is unset: %+v", srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	resp, err := rawRequest(t, ln.Addr().String(), "POST /hooks/site HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("64 KiB of headers: status %d, want 431", resp.StatusCode)
	}
}
