//go:build hostile

package runner_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
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

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
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
	keyFile := writeFile(t, filepath.Join(keys, "id"), string(clientPEM))
	otherKeyFile := writeFile(t, filepath.Join(keys, "other_id"), string(otherPEM))
	srv := serveGitSSH(t, client.PublicKey())
	hole := blackhole(t)
	sshURL := "ssh://git@" + srv.addr + up.Path()
	known := func(name string, entries map[string]ssh.PublicKey) string {
		dir := filepath.Join(keys, name)
		_ = os.Mkdir(dir, 0o700)
		return knownHosts(t, dir, entries)
	}
	sshAuth := func(key, knownFile string) string {
		return fmt.Sprintf("    auth: {ssh_key_file: %s, known_hosts_file: %s}\n", key, knownFile)
	}
	const token = "t0ken-s3cret-value"
	authURL := up.ServeHTTPAuth(t, "deploy", token)
	tokenAuth := func(tok string) string {
		return fmt.Sprintf("    auth: {token_file: %s, username: deploy}\n",
			writeFile(t, filepath.Join(t.TempDir(), "token"), tok))
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
		{"http: closed port", "http://" + closedPort(t) + "/x.git", "", job.Failed, "connection refused", 5 * time.Second},
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
			rec := s.rn.Run(context.Background(), manualJob(sha), nil)
			took := time.Since(start)
			t.Logf("%s after %s: %s", rec.State, took.Round(time.Millisecond), rec.Error)
			if rec.State != tc.state || !strings.Contains(rec.Error, tc.errHas) {
				t.Errorf("job %s (%q), want %s with %q", rec.State, rec.Error, tc.state, tc.errHas)
			}
			if took > tc.within {
				t.Errorf("took %s, want at most %s", took, tc.within)
			}
			_, err := os.Stat(filepath.Join(s.dir, "ran"))
			if ran := err == nil; ran != (tc.state == job.Succeeded) {
				t.Errorf("command ran: %v, want %v", ran, tc.state == job.Succeeded)
			}
			if tc.state == job.Failed && !strings.HasPrefix(rec.Error, "sync site: ") {
				t.Errorf("error %q does not say the sync failed", rec.Error)
			}
			if strings.Contains(rec.Error+readIfExists(rec.Log)+s.logs.String(), token) {
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
		_ = os.MkdirAll(filepath.Dir(path), 0o755)
		writeFile(t, path, content)
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
			b, _ := os.ReadFile(cfg)
			put(t, cfg, strings.Replace(string(b), up.Path(), "ext::sh -c touch% C", 1), 0)
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
			if rec := s.rn.Run(context.Background(), manualJob(c1), nil); rec.State != job.Succeeded {
				t.Fatalf("first deployment: %s %s", rec.State, rec.Error)
			}
			_ = os.Remove(filepath.Join(s.dir, "ran"))
			tc.tamper(t, s.path())
			rec := s.rn.Run(context.Background(), manualJob(c2), nil)
			if rec.State != tc.state || !strings.Contains(rec.Error, tc.errHas) {
				t.Fatalf("job %s (%q), want %s with %q", rec.State, rec.Error, tc.state, tc.errHas)
			}
			log := readIfExists(rec.Log)
			if !strings.Contains(log, tc.logHas) {
				t.Errorf("job log lacks %q:\n%s", tc.logHas, log)
			}
			for _, f := range tc.kept {
				if _, err := os.Stat(filepath.Join(s.path(), f)); err != nil {
					t.Errorf("%s is gone: %v", f, err)
				}
			}
			for _, f := range tc.gone {
				if _, err := os.Stat(filepath.Join(s.path(), f)); err == nil {
					t.Errorf("%s is still there", f)
				}
			}
			_, err := os.Stat(filepath.Join(s.dir, "ran"))
			if ran := err == nil; ran != (tc.state == job.Succeeded) {
				t.Errorf("command ran: %v, want %v", ran, tc.state == job.Succeeded)
			}
			if tc.state != job.Succeeded {
				return
			}
			if b, _ := os.ReadFile(filepath.Join(s.path(), "a")); string(b) != "two" {
				t.Errorf("tracked file a = %q, want the commit's %q", b, "two")
			}
			if strings.HasPrefix(tc.name, "local edits") && !strings.Contains(s.logs.String(), `"file":"a"`) {
				t.Errorf("the overwritten local edit is not in the daemon's log:\n%s", s.logs.String())
			}
		})
	}
}
