package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
	"github.com/wh-gitd/wh-gitd/settings"
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

// siteFile describes settings whose one entry, site, deploys remote with
// the branches given (main running true when none), its working copy
// shared between them, and top as more top-level YAML.
func siteFile(remote, top string, branches ...testkit.Target) testkit.File {
	return testkit.File{Top: top, Repos: []testkit.Repo{{Remote: remote, Extra: "shared_path: true", Branches: branches}}}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	bad := testkit.File{Top: "workers: 0", Repos: []testkit.Repo{{Secret: "s3cret-value", Branches: []testkit.Target{
		{Commands: []string{"make"}, Timeout: "banana", Extra: "colour: blue"}}}}}.Write(t, dir)
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

// signal sends sig to d, failing the test when it cannot.
func (d *daemon) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// stop sends sig to d and waits until it exits, which must be with 0.
func (d *daemon) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	d.signal(t, sig)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			t.Fatalf("daemon exit: %v\n%s", err, d.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop")
	}
}

// pushOf is a GitHub push of branch at sha to the entry name, whose
// repository is acme/<name> and whose secret is testkit.Secret. Its URL is
// the endpoint's path, which send completes.
func pushOf(t *testing.T, name, branch, sha string) testkit.Delivery {
	t.Helper()
	body := testkit.PushBody(t, "../../receiver/testdata", settings.GitHub,
		testkit.Push{Ref: "refs/heads/" + branch, After: sha, Repository: "acme/" + name})
	return testkit.Delivery{Provider: settings.GitHub, URL: "/hooks/" + name, Body: body}
}

// send posts dl to d; it may run off the test's goroutine.
func (d *daemon) send(dl testkit.Delivery) (testkit.Answer, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+d.addr+dl.URL, bytes.NewReader(dl.Body))
	if err != nil {
		return testkit.Answer{}, err
	}
	req.Header = dl.Headers()
	return testkit.Do(req)
}

// push sends pushOf(name, branch, sha) to d and returns the answer.
func (d *daemon) push(t *testing.T, name, branch, sha string) testkit.Answer {
	t.Helper()
	a, err := d.send(pushOf(t, name, branch, sha))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The lock is shared between processes: two deliveries for two branches of
// one working copy (two workers) and a concurrent wh-git-trigger never run
// at the same time.
func TestNoTwoJobsOnOneWorkingCopy(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	guard := testkit.Target{Commands: []string{`if [ -e "$MARK" ]; then echo OVERLAP >> "$REC"; fi; touch "$MARK"; sleep 0.4; rm -f "$MARK"; echo "$WH_EVENT" >> "$REC"`},
		Env: map[string]string{"MARK": filepath.Join(dir, "mark"), "REC": filepath.Join(dir, "rec")}}
	dev := guard
	dev.Name = "dev"
	settingsFile := siteFile(up.Path(), "workers: 2", guard, dev).Write(t, dir)
	d := startDaemon(t, settingsFile)
	for _, p := range []struct{ branch, sha string }{{"main", a}, {"dev", b}} {
		if ans := d.push(t, "site", p.branch, p.sha); ans.Code != http.StatusAccepted {
			t.Fatalf("push %s: %d %v", p.branch, ans.Code, ans.Body)
		}
	}
	code, stdout, stderr := exitCode(t, bins.trigger, settingsFile, "site", "--branch", "main")
	if code != 0 {
		t.Fatalf("wh-git-trigger exit %d\n%s\n%s", code, stdout, stderr)
	}
	rec := filepath.Join(dir, "rec")
	testkit.Eventually(t, "three runs", 30*time.Second, func() bool { return len(strings.Fields(testkit.ReadIfExists(rec))) >= 3 })
	got := strings.Fields(testkit.ReadIfExists(rec))
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
	pidFile := filepath.Join(dir, "pid")
	d := startDaemon(t, siteFile(up.Path(), "shutdown_grace: 1s\nkill_grace: 1s",
		testkit.Target{Commands: []string{"echo $$ > " + pidFile + "; sleep 600"}}).Write(t, dir))
	if ans := d.push(t, "site", "main", a); ans.Code != http.StatusAccepted {
		t.Fatalf("push: %d %v", ans.Code, ans.Body)
	}
	testkit.Eventually(t, "the command to start", 30*time.Second, func() bool {
		return len(strings.Fields(testkit.ReadIfExists(pidFile))) == 1
	})
	var pid int
	fmt.Sscan(testkit.ReadIfExists(pidFile), &pid)
	d.stop(t, syscall.SIGTERM)
	testkit.Eventually(t, "the command's process to be gone", 5*time.Second, func() bool { return !testkit.Alive(pid) })
	if !strings.Contains(d.logs(), `"state":"interrupted"`) {
		t.Errorf("job not recorded interrupted:\n%s", d.logs())
	}
}

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
	up := gitsynctest.NewUpstream(t)
	a := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	d := startDaemon(t, siteFile(up.Path(), "").Write(t, dir))
	if ans := d.push(t, "site", "dev", b); ans.Code != http.StatusOK || ans.Str("status") != "ignored" {
		t.Fatalf("dev before reload: %d %v", ans.Code, ans.Body)
	}
	siteFile(up.Path(), "", testkit.Target{}, testkit.Target{Name: "dev"}).Write(t, dir)
	d.hup(t, "settings reloaded")
	if ans := d.push(t, "site", "dev", b); ans.Code != http.StatusAccepted {
		t.Fatalf("dev after reload: %d %v", ans.Code, ans.Body)
	}
	siteFile(up.Path(), "", testkit.Target{}, testkit.Target{Name: "dev", Timeout: "banana"}).Write(t, dir)
	d.hup(t, "reload refused")
	if !strings.Contains(d.logs(), "repos.site.branches.dev.timeout") {
		t.Errorf("the refusal does not say which key is wrong:\n%s", d.logs())
	}
	if ans := d.push(t, "site", "main", a); ans.Code != http.StatusAccepted {
		t.Fatalf("main after a refused reload: %d %v", ans.Code, ans.Body)
	}
}

// A reload that changes keys read only at start says which, in one warning,
// applies the rest, and keeps listening where it did.
func TestReloadNamesWhatNeedsARestart(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
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
