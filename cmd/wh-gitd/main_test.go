package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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

// upstream makes a bare upstream repository with one commit on branch, and
// returns it and the commit.
func upstream(t *testing.T, branch string) (*gitsynctest.Upstream, string) {
	t.Helper()
	up := gitsynctest.NewUpstream(t)
	return up, up.Commit(t, branch, map[string]string{"f": branch}, branch)
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

// queue pushes branch at sha to the entry name of d, which must answer
// 202, and returns the job's id.
func (d *daemon) queue(t *testing.T, name, branch, sha string) string {
	t.Helper()
	a := d.push(t, name, branch, sha)
	if a.Code != http.StatusAccepted {
		t.Fatalf("push %s at %s to %s: %d %v", branch, sha, name, a.Code, a.Body)
	}
	return a.Str("job")
}

// The lock is shared between processes: two deliveries for two branches of
// one working copy (two workers) and a concurrent wh-git-trigger never run
// at the same time.
func TestNoTwoJobsOnOneWorkingCopy(t *testing.T) {
	dir := t.TempDir()
	up, a := upstream(t, "main")
	b := up.Commit(t, "dev", map[string]string{"f": "b"}, "b")
	guard := testkit.Target{Commands: []string{`if [ -e "$MARK" ]; then echo OVERLAP >> "$REC"; fi; touch "$MARK"; sleep 0.4; rm -f "$MARK"; echo "$WH_EVENT" >> "$REC"`},
		Env: map[string]string{"MARK": filepath.Join(dir, "mark"), "REC": filepath.Join(dir, "rec")}}
	dev := guard
	dev.Name = "dev"
	settingsFile := siteFile(up.Path(), "workers: 2", guard, dev).Write(t, dir)
	d := startDaemon(t, settingsFile)
	d.queue(t, "site", "main", a)
	d.queue(t, "site", "dev", b)
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

// waitPIDs waits until the file at path lists n process ids, as a command
// writes them when it starts, and returns them.
func waitPIDs(t *testing.T, path string, n int) []int {
	t.Helper()
	testkit.Eventually(t, "the command to start", 30*time.Second, func() bool {
		return len(strings.Fields(testkit.ReadIfExists(path))) == n
	})
	var pids []int
	for _, f := range strings.Fields(testkit.ReadIfExists(path)) {
		var pid int
		fmt.Sscan(f, &pid)
		pids = append(pids, pid)
	}
	return pids
}

// waitGone waits until no process of pids is alive.
func waitGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		testkit.Eventually(t, fmt.Sprintf("process %d to be gone", pid), 5*time.Second, func() bool { return !testkit.Alive(pid) })
	}
}

// SIGTERM stops intake, gives a running job its grace, then kills its
// process group, and the daemon exits 0.
func TestShutdownKillsJobsAfterGrace(t *testing.T) {
	dir := t.TempDir()
	up, a := upstream(t, "main")
	pidFile := filepath.Join(dir, "pid")
	d := startDaemon(t, siteFile(up.Path(), "shutdown_grace: 1s\nkill_grace: 1s",
		testkit.Target{Commands: []string{"echo $$ > " + pidFile + "; sleep 600"}}).Write(t, dir))
	d.queue(t, "site", "main", a)
	pids := waitPIDs(t, pidFile, 1)
	d.stop(t, syscall.SIGTERM)
	waitGone(t, pids)
	if !strings.Contains(d.logs(), `"state":"interrupted"`) {
		t.Errorf("job not recorded interrupted:\n%s", d.logs())
	}
}
