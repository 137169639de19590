package gitsync

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// sshFiles writes a private key and a known_hosts file naming addr.
func sshFiles(t *testing.T, addr string) (key, known string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	key, known = filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "known_hosts")
	testkit.WriteFile(t, key, string(pem.EncodeToMemory(block)))
	testkit.WriteFile(t, known, knownhosts.Line([]string{knownhosts.Normalize(addr)}, sshPub)+"\n")
	return key, known
}

func TestSSHAuth(t *testing.T) {
	t.Parallel()
	addr := testkit.FreeAddr(t)
	key, known := sshFiles(t, addr)
	remote := "ssh://deploy@" + addr + "/srv/git/site.git"
	tests := []struct {
		name    string
		auth    Auth
		wantErr string
	}{
		{"key without known_hosts", Auth{SSHKeyFile: key}, "ssh key file needs a known_hosts file"},
		{"missing key", Auth{SSHKeyFile: key + ".nope", KnownHostsFile: known}, "read ssh key " + key + ".nope"},
		{"missing known_hosts", Auth{SSHKeyFile: key, KnownHostsFile: known + ".nope"}, "read known_hosts file"},
		{"closed port fails fast", Auth{SSHKeyFile: key, KnownHostsFile: known},
			"fetch refs/heads/main from " + remote + ": "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Remote, tg.Auth = remote, tc.auth
			start := time.Now()
			_, _, err := f.trySync(tg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("took %s", time.Since(start))
			}
		})
	}
}

func TestSSHAuthChecksHostKeys(t *testing.T) {
	t.Parallel()
	key, known := sshFiles(t, "git.example.com:2222")
	s := New(testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Second)
	defer cancel()
	rem, err := s.newRemote(ctx, Target{Remote: "ssh://git.example.com:2222/site.git",
		Auth: Auth{SSHKeyFile: key, KnownHostsFile: known}})
	if err != nil {
		t.Fatal(err)
	}
	k, ok := rem.auth.(*sshKeys)
	if !ok {
		t.Fatalf("auth is %T", rem.auth)
	}
	cfg, err := k.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "git" || cfg.HostKeyCallback == nil || len(cfg.HostKeyAlgorithms) == 0 {
		t.Errorf("config: user %q, callback set %v, algorithms %v", cfg.User, cfg.HostKeyCallback != nil, cfg.HostKeyAlgorithms)
	}
	if cfg.Timeout <= 0 || cfg.Timeout > 7*time.Second {
		t.Errorf("dial timeout = %s", cfg.Timeout)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherKey, _ := ssh.NewPublicKey(other)
	err = cfg.HostKeyCallback("git.example.com:2222", &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2222}, otherKey)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		t.Errorf("a wrong host key was accepted: %v", err)
	}
	var _ gitssh.AuthMethod = k
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://user:pass@git.example.com/x.git", "https://git.example.com/x.git"},
		{"https://tokenonly@git.example.com/x.git", "https://git.example.com/x.git"},
		{"ssh://git:pw@git.example.com/x.git", "ssh://git@git.example.com/x.git"},
		{"git@git.example.com:x.git", "git@git.example.com:x.git"},
		{"/srv/git/x.git", "/srv/git/x.git"},
		{"https://u:p%zz@host/x", "https://host/x"},
	}
	for _, tc := range tests {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "hunter2/with?odd&chars"
	tests := []struct {
		name, remote string
		tokenFile    string
	}{
		{"bad URL with a password", "https://u:" + secret + "%zz@host/x", ""},
		{"token file, unreachable host", "http://127.0.0.1:1/x.git", secret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Remote = tc.remote
			if tc.tokenFile != "" {
				tg.Auth.TokenFile = filepath.Join(t.TempDir(), "token")
				testkit.WriteFile(t, tg.Auth.TokenFile, tc.tokenFile)
			}
			_, log, err := f.trySync(tg)
			if err == nil {
				t.Fatal("no error")
			}
			assertNoSecret(t, secret, f.path, log, err)
			if testkit.Exists(f.path) {
				assertNoSecret(t, secret, f.path, "", nil)
			}
		})
	}
}

func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	const token = "s3cr3t-t0ken"
	tests := []struct {
		name      string
		tokenFile string // content; "" means no token file
		userinfo  string // put into the URL
		wantErr   error
	}{
		{"no credentials", "", "", transport.ErrAuthenticationRequired},
		{"wrong token", "wrong", "", transport.ErrAuthenticationRequired},
		{"token file, trimmed", "  " + token + "\n", "", nil},
		{"credentials in the URL", "", "deploy:" + token + "@", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			sha := f.up.Commit(t, "main", map[string]string{"a": "a"}, "one")
			url := f.up.ServeHTTPAuth(t, "deploy", token)
			tg := f.target()
			tg.Remote = strings.Replace(url, "://", "://"+tc.userinfo, 1)
			if tc.tokenFile != "" {
				tg.Auth = Auth{Username: "deploy", TokenFile: filepath.Join(t.TempDir(), "token")}
				testkit.WriteFile(t, tg.Auth.TokenFile, tc.tokenFile)
			}
			start := time.Now()
			res, log, err := f.trySync(tg)
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if want := "fetch refs/heads/main from " + url + ": authentication required ("; !strings.HasPrefix(err.Error(), want) {
					t.Errorf("err = %q, want %q", err, want)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("failing took %s", time.Since(start))
				}
			} else if res.Commit != sha {
				t.Errorf("commit = %s", res.Commit)
			}
			assertNoSecret(t, token, f.path, log, err)
		})
	}
}

// assertNoSecret checks the job log, the error and every file under .git.
func assertNoSecret(t *testing.T, secret, path, log string, err error) {
	t.Helper()
	if strings.Contains(log, secret) || (err != nil && strings.Contains(err.Error(), secret)) {
		t.Errorf("secret leaked into the log or the error:\n%s\n%v", log, err)
	}
	_ = filepath.WalkDir(filepath.Join(path, ".git"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), secret) {
				t.Errorf("secret written to %s", p)
			}
		}
		return nil
	})
}

// An SSH server that accepts the connection and never speaks fails the
// sync at its timeout: the handshake, which go-git runs without the
// context, is bounded too.
func TestSSHServerThatNeverSpeaks(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	key, known := sshFiles(t, ln.Addr().String())
	f := newFixture(t)
	tg := f.target()
	tg.Remote = "ssh://git@" + ln.Addr().String() + "/x.git"
	tg.Auth = Auth{SSHKeyFile: key, KnownHostsFile: known}
	tg.Timeout = time.Second
	start := time.Now()
	_, _, err = f.trySync(tg)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("took %s, want about the 1s timeout", took)
	}
	if err == nil || !strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("err = %v, want an i/o timeout", err)
	}
}

func TestHostKeyError(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"unknown", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{}), "is not in known_hosts_file"},
		{"changed", fmt.Errorf("ssh: handshake failed: %w", &knownhosts.KeyError{Want: []knownhosts.KnownKey{{}}}),
			"does not match known_hosts_file"},
		{"other", errors.New("connection refused"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := hostKeyError(tc.err, "git.example.com")
			if tc.want == "" {
				if got != nil {
					t.Errorf("got %v, want nil", got)
				}
				return
			}
			if got == nil || !strings.Contains(got.Error(), "host key of git.example.com "+tc.want) || !errors.Is(got, tc.err) {
				t.Errorf("got %v, want %q wrapping the original", got, tc.want)
			}
		})
	}
}
