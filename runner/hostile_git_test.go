//go:build hostile

package runner_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/job"
)

// blackhole accepts TCP connections and never says a word.
func blackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				<-done
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { ln.Close(); close(done) })
	return ln.Addr().String()
}

// A remote that cannot be reached, wants a password, or shows an unknown or
// changed SSH host key fails the job within git_timeout with a message that
// says why, and no command runs; the same remotes set up right deploy.
func TestHostileRemotes(t *testing.T) {
	const gitTimeout = 2 * time.Second
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "1"}, "one")
	keys := t.TempDir()
	client, clientPEM := sshKey(t)
	_, otherPEM := sshKey(t)
	other, _ := sshKey(t)
	keyFile := testkit.WriteFile(t, filepath.Join(keys, "id"), string(clientPEM))
	otherKeyFile := testkit.WriteFile(t, filepath.Join(keys, "other_id"), string(otherPEM))
	srv := serveGitSSH(t, client.PublicKey())
	hole := blackhole(t)
	sshURL := "ssh://git@" + srv.addr + up.Path()
	known := func(name string, entries map[string]ssh.PublicKey) string {
		return knownHosts(t, filepath.Join(keys, name), entries)
	}
	sshAuth := func(key, knownFile string) string {
		return fmt.Sprintf("    auth: {ssh_key_file: %s, known_hosts_file: %s}\n", key, knownFile)
	}
	const token = "t0ken-s3cret-value"
	authURL := up.ServeHTTPAuth(t, "deploy", token)
	tokenAuth := func(tok string) string {
		return fmt.Sprintf("    auth: {token_file: %s, username: deploy}\n",
			testkit.WriteFile(t, filepath.Join(t.TempDir(), "token"), tok))
	}
	cases := []struct {
		name, remote, entry string
		state               job.State
		errHas              string
		within              time.Duration
	}{
		{"ssh: known host key", sshURL, sshAuth(keyFile, known("good", map[string]ssh.PublicKey{srv.addr: srv.hostKey})),
			job.Succeeded, "", 20 * time.Second},
		{"ssh: unknown host key", sshURL, sshAuth(keyFile, known("unknown", map[string]ssh.PublicKey{"127.0.0.1:1": srv.hostKey})),
			job.Failed, "is not in known_hosts_file", 5 * time.Second},
		{"ssh: changed host key", sshURL, sshAuth(keyFile, known("changed", map[string]ssh.PublicKey{srv.addr: other.PublicKey()})),
			job.Failed, "does not match known_hosts_file", 5 * time.Second},
		{"ssh: empty known_hosts", sshURL, sshAuth(keyFile, known("empty", nil)), job.Failed, "is not in known_hosts_file", 5 * time.Second},
		{"ssh: key refused by the server", sshURL,
			sshAuth(otherKeyFile, known("refused", map[string]ssh.PublicKey{srv.addr: srv.hostKey})),
			job.Failed, "unable to authenticate", 5 * time.Second},
		{"ssh: server never speaks", "ssh://git@" + hole + "/x.git",
			sshAuth(keyFile, known("hole", map[string]ssh.PublicKey{hole: srv.hostKey})), job.Failed, "", gitTimeout + 3*time.Second},
		{"http: closed port", "http://" + testkit.FreeAddr(t) + "/x.git", "", job.Failed, "connection refused", 5 * time.Second},
		{"http: server never answers", "http://" + hole + "/x.git", "", job.Failed, "", gitTimeout + 3*time.Second},
		{"http: unresolvable host", "https://wh-gitd-test.invalid/x.git", "", job.Failed, "", gitTimeout + 3*time.Second},
		{"http: password asked, none configured", authURL, "", job.Failed,
			"authentication required (no credentials are configured)", 5 * time.Second},
		{"http: wrong token", authURL, tokenAuth("wrong"), job.Failed,
			"authentication required (the server rejected the credentials)", 5 * time.Second},
		{"http: right token", authURL, tokenAuth(token), job.Succeeded, "", 20 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, tc.remote, "{commands: ['touch %[1]s/ran']}", "    git_timeout: 2s\n"+tc.entry)
			start := time.Now()
			rec := s.rn.Run(context.Background(), mainJob(job.EventManual, sha), nil)
			took := time.Since(start)
			t.Logf("%s after %s: %s", rec.State, took.Round(time.Millisecond), rec.Error)
			if rec.State != tc.state || !strings.Contains(rec.Error, tc.errHas) {
				t.Errorf("job %s (%q), want %s with %q", rec.State, rec.Error, tc.state, tc.errHas)
			}
			if took > tc.within {
				t.Errorf("took %s, want at most %s", took, tc.within)
			}
			if ran := testkit.Exists(filepath.Join(s.dir, "ran")); ran != (tc.state == job.Succeeded) {
				t.Errorf("command ran: %v, want %v", ran, tc.state == job.Succeeded)
			}
			if tc.state == job.Failed && !strings.HasPrefix(rec.Error, "sync site: ") {
				t.Errorf("error %q does not say the sync failed", rec.Error)
			}
			if strings.Contains(rec.Error+testkit.ReadIfExists(rec.Log)+s.logs.String(), token) {
				t.Error("the token appears in the error or a log")
			}
		})
	}
}

// A working copy someone tampered with is brought to the commit as the
// settings say: local edits to tracked files overwritten and listed in the
// job log, untracked and ignored files kept (clean: false) or removed
// (clean: true), a stale index.lock removed, a held one waited for until
// git_timeout, origin pointed back at the configured remote, and hooks
// under .git/hooks never run.
func TestHostileWorkingCopy(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	c1 := up.Commit(t, "main", map[string]string{"a": "one", ".gitignore": ".env\n"}, "one")
	c2 := up.Commit(t, "main", map[string]string{"a": "two"}, "two")
	put := func(t *testing.T, path, content string, age time.Duration) {
		t.Helper()
		testkit.WriteFile(t, path, content)
		if age > 0 {
			old := time.Now().Add(-age)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name   string
		clean  bool
		tamper func(t *testing.T, wc string)
		state  job.State
		errHas string
		logHas string
		kept   []string // files that must still exist
		gone   []string // files that must not
	}{
		{"local edits and untracked files, clean: false", false, func(t *testing.T, wc string) {
			put(t, filepath.Join(wc, "a"), "edited on the server", 0)
			put(t, filepath.Join(wc, "uploads/u.txt"), "user upload", 0)
			put(t, filepath.Join(wc, ".env"), "SECRET=1", 0)
		}, job.Succeeded, "", "overwrote local edits: a", []string{"uploads/u.txt", ".env"}, nil},
		{"local edits and untracked files, clean: true", true, func(t *testing.T, wc string) {
			put(t, filepath.Join(wc, "a"), "edited on the server", 0)
			put(t, filepath.Join(wc, "uploads/u.txt"), "user upload", 0)
			put(t, filepath.Join(wc, ".env"), "SECRET=1", 0)
		}, job.Succeeded, "", "", nil, []string{"uploads/u.txt", ".env"}},
		{"stale index.lock", false, func(t *testing.T, wc string) {
			put(t, filepath.Join(wc, ".git/index.lock"), "", time.Hour)
		}, job.Succeeded, "", "removed stale .git/index.lock", nil, []string{".git/index.lock"}},
		{"index.lock held past git_timeout", false, func(t *testing.T, wc string) {
			put(t, filepath.Join(wc, ".git/index.lock"), "", 0)
		}, job.Failed, "held by another git process", "", []string{".git/index.lock"}, nil},
		{"origin pointed elsewhere", false, func(t *testing.T, wc string) {
			cfg := filepath.Join(wc, ".git/config")
			put(t, cfg, strings.Replace(testkit.ReadFile(t, cfg), up.Path(), "ext::sh -c touch% C", 1), 0)
		}, job.Succeeded, "", "set origin to " + up.Path(), nil, nil},
		{"hooks in .git/hooks", false, func(t *testing.T, wc string) {
			for _, h := range []string{"post-checkout", "post-merge", "pre-commit", "reference-transaction", "fsmonitor-watchman"} {
				put(t, filepath.Join(wc, ".git/hooks", h), "#!/bin/sh\ntouch C\n", 0)
				_ = os.Chmod(filepath.Join(wc, ".git/hooks", h), 0o755)
			}
		}, job.Succeeded, "", "", nil, []string{"C"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSite(t, up.Path(), "{commands: ['touch %[1]s/ran']}",
				fmt.Sprintf("    git_timeout: 2s\n    clean: %v\n", tc.clean))
			if rec := s.rn.Run(context.Background(), mainJob(job.EventManual, c1), nil); rec.State != job.Succeeded {
				t.Fatalf("first deployment: %s %s", rec.State, rec.Error)
			}
			_ = os.Remove(filepath.Join(s.dir, "ran"))
			tc.tamper(t, s.path())
			rec := s.rn.Run(context.Background(), mainJob(job.EventManual, c2), nil)
			if rec.State != tc.state || !strings.Contains(rec.Error, tc.errHas) {
				t.Fatalf("job %s (%q), want %s with %q", rec.State, rec.Error, tc.state, tc.errHas)
			}
			log := testkit.ReadIfExists(rec.Log)
			if !strings.Contains(log, tc.logHas) {
				t.Errorf("job log lacks %q:\n%s", tc.logHas, log)
			}
			for _, f := range tc.kept {
				if !testkit.Exists(filepath.Join(s.path(), f)) {
					t.Errorf("%s is gone", f)
				}
			}
			for _, f := range tc.gone {
				if testkit.Exists(filepath.Join(s.path(), f)) {
					t.Errorf("%s is still there", f)
				}
			}
			if ran := testkit.Exists(filepath.Join(s.dir, "ran")); ran != (tc.state == job.Succeeded) {
				t.Errorf("command ran: %v, want %v", ran, tc.state == job.Succeeded)
			}
			if tc.state != job.Succeeded {
				return
			}
			if a := testkit.ReadIfExists(filepath.Join(s.path(), "a")); a != "two" {
				t.Errorf("tracked file a = %q, want the commit's %q", a, "two")
			}
			if strings.HasPrefix(tc.name, "local edits") && !strings.Contains(s.logs.String(), `"file":"a"`) {
				t.Errorf("the overwritten local edit is not in the daemon's log:\n%s", s.logs.String())
			}
		})
	}
}

// sshKey is a fresh ed25519 key pair.
func sshKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, pem.EncodeToMemory(block)
}

// gitSSH is an SSH server on 127.0.0.1 that serves git-upload-pack of any
// local repository path to one client key: a forge reached over SSH.
type gitSSH struct {
	addr    string
	hostKey ssh.PublicKey
	wg      sync.WaitGroup
}

// serveGitSSH starts a gitSSH accepting only client; it stops at Cleanup.
func serveGitSSH(t *testing.T, client ssh.PublicKey) *gitSSH {
	t.Helper()
	host, _ := sshKey(t)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) != string(client.Marshal()) {
			return nil, os.ErrPermission
		}
		return nil, nil
	}}
	cfg.AddHostKey(host)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &gitSSH{addr: ln.Addr().String(), hostKey: host.PublicKey()}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.handle(conn, cfg) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *gitSSH) handle(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return // a client that refused the host key ends here
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "session only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, chReqs)
	}
}

// session runs the one exec request a git client makes:
// git-upload-pack '/path/to/repo.git'.
func (s *gitSSH) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" || len(req.Payload) < 4 {
			_ = req.Reply(false, nil)
			continue
		}
		line := string(req.Payload[4:])
		prog, arg, _ := strings.Cut(line, " ")
		if prog != "git-upload-pack" {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		cmd := exec.Command("git", "upload-pack", strings.Trim(arg, "'"))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = ch, ch, ch.Stderr()
		code := uint32(0)
		if err := cmd.Run(); err != nil {
			code = 1
		}
		status := make([]byte, 4)
		binary.BigEndian.PutUint32(status, code)
		_, _ = ch.SendRequest("exit-status", false, status)
		return
	}
}

// knownHosts writes a known_hosts file with the given host:port → key lines.
func knownHosts(t *testing.T, dir string, entries map[string]ssh.PublicKey) string {
	t.Helper()
	var b strings.Builder
	for addr, key := range entries {
		b.WriteString(knownhosts.Line([]string{knownhosts.Normalize(addr)}, key) + "\n")
	}
	return testkit.WriteFile(t, filepath.Join(dir, "known_hosts"), b.String())
}
