package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// hup sends SIGHUP to d and waits until its log has wantLog.
func (d *daemon) hup(t *testing.T, wantLog string) {
	t.Helper()
	d.signal(t, syscall.SIGHUP)
	testkit.Eventually(t, wantLog, 10*time.Second, func() bool { return strings.Contains(d.logs(), wantLog) })
}

// SIGHUP reads the settings again; a broken file keeps the old settings and
// the log says why.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	up, a := upstream(t, "main")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	d := startDaemon(t, siteFile(up.Path(), "").Write(t, dir))
	if ans := d.push(t, "site", "dev", b); ans.Code != http.StatusOK || ans.Str("status") != "ignored" {
		t.Fatalf("dev before reload: %d %v", ans.Code, ans.Body)
	}
	siteFile(up.Path(), "", testkit.Target{}, testkit.Target{Name: "dev"}).Write(t, dir)
	d.hup(t, "settings reloaded")
	d.queue(t, "site", "dev", b)
	siteFile(up.Path(), "", testkit.Target{}, testkit.Target{Name: "dev", Timeout: "banana"}).Write(t, dir)
	d.hup(t, "reload refused")
	if !strings.Contains(d.logs(), "repos.site.branches.dev.timeout") {
		t.Errorf("the refusal does not say which key is wrong:\n%s", d.logs())
	}
	d.queue(t, "site", "main", a)
}

// A reload that changes keys read only at start says which, in one warning,
// applies the rest, and keeps listening where it did.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	dir := t.TempDir()
	up, b := upstream(t, "dev")
	d := startDaemon(t, siteFile(up.Path(), "").Write(t, dir))
	moved := siteFile(up.Path(), "workers: 3\nshutdown_grace: 5s\nlog: {level: debug}", testkit.Target{}, testkit.Target{Name: "dev"})
	moved.Listen = testkit.FreeAddr(t)
	moved.Write(t, dir)
	d.hup(t, "settings reloaded")
	var line struct {
		Level, Message string
		Keys           []string
	}
	for _, l := range strings.Split(d.logs(), "\n") {
		if strings.Contains(l, "settings reloaded") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	want := []string{"listen", "workers", "log.level"}
	if line.Level != "warn" || !slices.Equal(line.Keys, want) ||
		line.Message != "settings reloaded; a restart is needed to apply: listen, workers, log.level" {
		t.Errorf("reload line: %+v, want a warning naming %v\n%s", line, want, d.logs())
	}
	if ans := d.push(t, "site", "dev", b); ans.Code != http.StatusAccepted {
		t.Errorf("a branch added by the reload, on the old address: %d %v", ans.Code, ans.Body)
	}
	if conn, err := net.Dial("tcp", moved.Listen); err == nil {
		conn.Close()
		t.Errorf("the daemon listens on the new address %s before a restart", moved.Listen)
	}
}

// tlsTop is the tls: of settings whose certificate and key lie beside them.
const tlsTop = "tls: {cert_file: cert.pem, key_file: key.pem}"

// The daemon serves HTTPS with tls.cert_file and tls.key_file, and after
// a SIGHUP new connections get the renewed certificate; a broken pair keeps
// the old one.
func TestTLSAndReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := testkit.Cert(t, certFile, keyFile, "first")
	d := startDaemon(t, siteFile("", tlsTop).Write(t, dir))
	served := func(roots *x509.Certificate) (string, error) {
		cfg := &tls.Config{InsecureSkipVerify: roots == nil}
		if roots != nil {
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AddCert(roots)
		}
		conn, err := tls.Dial("tcp", d.addr, cfg)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		buf := make([]byte, 64)
		n, _ := conn.Read(buf)
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 200") {
			return "", fmt.Errorf("healthz answered %q", buf[:n])
		}
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
	}
	if cn, err := served(first); err != nil || cn != "first" {
		t.Fatalf("served %q, %v; want the first certificate", cn, err)
	}
	second := testkit.Cert(t, certFile, keyFile, "second")
	d.hup(t, "tls certificate reloaded")
	if cn, err := served(second); err != nil || cn != "second" {
		t.Errorf("after SIGHUP served %q, %v; want the second certificate", cn, err)
	}
	testkit.WriteFile(t, keyFile, "not a key")
	d.hup(t, "tls certificate not reloaded")
	if cn, err := served(second); err != nil || cn != "second" {
		t.Errorf("after a broken reload served %q, %v; want the second certificate kept", cn, err)
	}
	if _, err := os.Stat(certFile); err != nil {
		t.Fatal(err)
	}
}

func TestTLSErrors(t *testing.T) {
	dir := t.TempDir()
	testkit.WriteFile(t, filepath.Join(dir, "cert.pem"), "not a certificate")
	testkit.WriteFile(t, filepath.Join(dir, "key.pem"), "not a key")
	code, _, stderr := exitCode(t, bins.daemon, siteFile("", tlsTop).Write(t, dir))
	if code != 2 || !strings.Contains(stderr, "wh-gitd: load tls certificate") || !strings.Contains(stderr, "hint:") {
		t.Errorf("exit %d, stderr %q; want 2 with the certificate error and a hint", code, stderr)
	}
}
