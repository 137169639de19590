package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// bins holds the binaries built once for all tests of this package.
var bins struct {
	dir     string
	daemon  string
	trigger string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wh-gitd-bin")
	if err != nil {
		panic(err)
	}
	bins.dir = dir
	bins.daemon = filepath.Join(dir, "wh-gitd")
	bins.trigger = filepath.Join(dir, "wh-git-trigger")
	for out, pkg := range map[string]string{bins.daemon: ".", bins.trigger: "../wh-git-trigger"} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// exitCode runs a binary and returns its exit code, stdout and stderr.
func exitCode(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, `state_dir: state
workers: 0
repos:
  site:
    provider: github
    repository: acme/site
    remote: /nonexistent
    path: wc
    secret: s3cret-value
    branches:
      main:
        commands: [make]
        timeout: banana
        colour: blue
`)
	cases := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		stderr  []string
		noStdio string
	}{
		{name: "help", args: []string{"--help"}, code: 0, stderr: []string{"usage: wh-gitd"}},
		{name: "version", args: []string{"--version"}, code: 0, stdout: []string{"wh-gitd "}},
		{name: "no settings", args: nil, code: 2, stderr: []string{"wh-gitd: expected one settings file", "hint:"}},
		{name: "unknown flag", args: []string{"--nope", "x.yaml"}, code: 2, stderr: []string{"wh-gitd:"}},
		{name: "missing file", args: []string{filepath.Join(dir, "none.yaml")}, code: 2, stderr: []string{"none.yaml"}},
		{name: "three mistakes", args: []string{bad}, code: 2, noStdio: "s3cret-value", stderr: []string{
			"workers", "repos.site.branches.main.timeout", "repos.site.branches.main.colour"}},
		{name: "check example", args: []string{"--check", "../../settings.example.yaml"}, code: 0, stdout: []string{"ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := exitCode(t, bins.daemon, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q: %s", w, stdout)
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, stderr)
				}
			}
			if tc.noStdio != "" && strings.Contains(stdout+stderr, tc.noStdio) {
				t.Errorf("output reveals %q", tc.noStdio)
			}
		})
	}
}

// daemon is a running wh-gitd binary.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func startDaemon(t *testing.T, settingsFile string) *daemon {
	t.Helper()
	return startDaemonCmd(t, exec.Command(bins.daemon, settingsFile))
}

// startDaemonCmd starts the daemon command cmd and waits until it says it
// started.
func startDaemonCmd(t *testing.T, cmd *exec.Cmd) *daemon {
	t.Helper()
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.log.Write(append(sc.Bytes(), '\n'))
			d.mu.Unlock()
			var line struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "wh-gitd started" {
				addr <- line.Listen
			}
		}
		d.done <- d.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
	})
	// Generous: under -race on a loaded 2-core machine a start has been
	// seen to take many seconds. A daemon that exits fails at once.
	select {
	case d.addr = <-addr:
	case err := <-d.done:
		d.done <- err
		t.Fatalf("daemon exited before it started (%v):\n%s", err, d.logs())
	case <-time.After(90 * time.Second):
		t.Fatalf("daemon did not start within 90s:\n%s", d.logs())
	}
	return d
}

func (d *daemon) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// push sends a signed GitHub push for branch → sha and returns the answer.
func (d *daemon) push(t *testing.T, name, secret, repository, branch, sha string) (int, map[string]any) {
	t.Helper()
	code, a, err := sendPush(d.addr, name, secret, repository, branch, sha, fmt.Sprintf("%s-%d", branch, time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	return code, a
}

// sendPush sends a signed GitHub push delivery with the given id.
func sendPush(addr, name, secret, repository, branch, sha, id string) (int, map[string]any, error) {
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/" + branch, "before": strings.Repeat("0", 40),
		"after": sha, "repository": map[string]any{"full_name": repository}, "pusher": map[string]any{"name": "t"}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/"+name, bytes.NewReader(body))
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var a map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, nil, fmt.Errorf("answer %d: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, a, nil
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func lines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// The lock is shared between processes: two deliveries for two branches of
// one working copy (two workers) and a concurrent wh-git-trigger never run
// at the same time.
func TestNoTwoJobsOnOneWorkingCopy(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	const guard = `if [ -e "$MARK" ]; then echo OVERLAP >> "$REC"; fi; touch "$MARK"; sleep 0.4; rm -f "$MARK"; echo "$WH_EVENT" >> "$REC"`
	settingsFile := filepath.Join(dir, "settings.yaml")
	writeFile(t, settingsFile, fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: state
workers: 2
repos:
  site:
    provider: github
    repository: acme/site
    remote: %s
    path: wc
    secret: s-secret-0123456789
    shared_path: true
    branches:
      main: {commands: [%q], env: {MARK: %q, REC: %q}}
      dev: {commands: [%q], env: {MARK: %q, REC: %q}}
`, up.Path(), guard, filepath.Join(dir, "mark"), filepath.Join(dir, "rec"),
		guard, filepath.Join(dir, "mark"), filepath.Join(dir, "rec")))
	d := startDaemon(t, settingsFile)
	for _, p := range []struct{ branch, sha string }{{"main", a}, {"dev", b}} {
		if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", p.branch, p.sha); code != http.StatusAccepted {
			t.Fatalf("push %s: %d %v", p.branch, code, ans)
		}
	}
	code, stdout, stderr := exitCode(t, bins.trigger, settingsFile, "site", "--branch", "main")
	if code != 0 {
		t.Fatalf("wh-git-trigger exit %d\n%s\n%s", code, stdout, stderr)
	}
	waitFor(t, "three runs", 30*time.Second, func() bool { return len(lines(filepath.Join(dir, "rec"))) >= 3 })
	got := lines(filepath.Join(dir, "rec"))
	if strings.Contains(strings.Join(got, " "), "OVERLAP") || len(got) != 3 {
		t.Fatalf("runs: %v, want 3 runs and no overlap\n%s", got, d.logs())
	}
}

// SIGTERM stops intake, gives a running job its grace, then kills its
// process group, and the daemon exits 0.
func TestShutdownKillsJobsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	settingsFile := filepath.Join(dir, "settings.yaml")
	writeFile(t, settingsFile, fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: state
shutdown_grace: 1s
kill_grace: 1s
repos:
  site:
    provider: github
    repository: acme/site
    remote: %s
    path: wc
    secret: s-secret-0123456789
    branches:
      main: {commands: ['echo $$ > %s; sleep 600']}
`, up.Path(), filepath.Join(dir, "pid")))
	d := startDaemon(t, settingsFile)
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", a); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, ans)
	}
	waitFor(t, "the command to start", 30*time.Second, func() bool { return len(lines(filepath.Join(dir, "pid"))) == 1 })
	var pid int
	fmt.Sscan(lines(filepath.Join(dir, "pid"))[0], &pid)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, d.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
	waitFor(t, "the command's process to be gone", 5*time.Second, func() bool { return !alive(pid) })
	if !strings.Contains(d.logs(), `"state":"interrupted"`) {
		t.Errorf("job not recorded interrupted:\n%s", d.logs())
	}
}

// alive reports whether pid is a live process (a zombie is not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// SIGHUP reads the settings again; a broken file keeps the old settings and
// the log says why.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	settingsFile := filepath.Join(dir, "settings.yaml")
	base := fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: state
repos:
  site:
    provider: github
    repository: acme/site
    remote: %s
    path: wc
    secret: s-secret-0123456789
    shared_path: true
    branches:
      main: {commands: ['true']}
`, up.Path())
	writeFile(t, settingsFile, base)
	d := startDaemon(t, settingsFile)
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "dev", b); code != http.StatusOK || ans["status"] != "ignored" {
		t.Fatalf("dev before reload: %d %v", code, ans)
	}
	hup := func(wantLog string) {
		t.Helper()
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, wantLog, 10*time.Second, func() bool { return strings.Contains(d.logs(), wantLog) })
	}
	writeFile(t, settingsFile, base+"      dev: {commands: ['true']}\n")
	hup("settings reloaded")
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "dev", b); code != http.StatusAccepted {
		t.Fatalf("dev after reload: %d %v", code, ans)
	}
	writeFile(t, settingsFile, base+"      dev: {commands: ['true'], timeout: banana}\n")
	hup("reload refused")
	if !strings.Contains(d.logs(), "repos.site.branches.dev.timeout") {
		t.Errorf("the refusal does not say which key is wrong:\n%s", d.logs())
	}
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", a); code != http.StatusAccepted {
		t.Fatalf("main after a refused reload: %d %v", code, ans)
	}
}
