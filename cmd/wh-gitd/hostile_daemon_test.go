//go:build hostile

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// daemonSettings writes a settings file with one GitHub entry "site" on up
// whose branch main runs command, plus head at the top.
func daemonSettings(t *testing.T, dir string, up *gitsynctest.Upstream, head, command string) string {
	t.Helper()
	file := filepath.Join(dir, "settings.yaml")
	writeFile(t, file, fmt.Sprintf(`listen: 127.0.0.1:0
state_dir: state
shutdown_grace: 1s
kill_grace: 500ms
%srepos:
  site:
    provider: github
    repository: acme/site
    remote: %s
    path: wc
    secret: s-secret-0123456789
    branches:
      main: {commands: [%q], timeout: 2m}
`, head, up.Path(), command))
	return file
}

// minimalEnv is what a service manager gives a daemon, plus extra.
func minimalEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LANG=C.UTF-8"}, extra...)
}

// postBig sends a signed-looking GitHub push of size bytes of spaces, with a
// Content-Length or chunked, on a raw connection (the daemon may answer and
// close before the body is sent), and returns the status.
func postBig(t *testing.T, addr string, size int64, chunked bool) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	length := fmt.Sprintf("Content-Length: %d", size)
	if chunked {
		length = "Transfer-Encoding: chunked"
	}
	fmt.Fprintf(conn, "POST /hooks/site HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\n"+
		"X-Hub-Signature-256: sha256=%s\r\n%s\r\n\r\n", strings.Repeat("0", 64), length)
	go func() {
		var w io.Writer = conn
		if chunked {
			cw := httputil.NewChunkedWriter(conn)
			defer func() { _ = cw.Close(); _, _ = io.WriteString(conn, "\r\n") }()
			w = cw
		}
		_, _ = io.CopyBuffer(w, &spaces{left: size}, make([]byte, 64<<10))
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a %d-byte body: %v", size, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A 26 MiB body is refused 413 with and without a Content-Length, and the
// daemon's peak memory (VmHWM of the real binary) stays flat when the length
// is declared, and bounded when it is not, however many are sent.
func TestHostileBigBodyMemory(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	d := startDaemonEnv(t, daemonSettings(t, dir, up, "", "true"), minimalEnv())
	pid := d.cmd.Process.Pid
	const size, chunkedRounds = 26 << 20, 10
	if code, _ := d.push(t, "site", "s-secret-0123456789", "acme/site", "other", strings.Repeat("a", 40)); code != http.StatusOK {
		t.Fatalf("warm-up push: %d", code)
	}
	base := memory(t, pid, "VmHWM")
	for range 3 {
		if code := postBig(t, d.addr, size, false); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("26 MiB with Content-Length: %d, want 413", code)
		}
	}
	declared := memory(t, pid, "VmHWM")
	for i := range chunkedRounds {
		if i == 1 {
			t.Logf("VmHWM after one chunked: %d", memory(t, pid, "VmHWM"))
		}
		if code := postBig(t, d.addr, size, true); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("26 MiB chunked: %d, want 413", code)
		}
	}
	chunked := memory(t, pid, "VmHWM")
	t.Logf("VmHWM: %d KiB at start, %d after 3 declared, %d after %d chunked", base, declared, chunked, chunkedRounds)
	if grew := declared - base; grew > 4<<10 {
		t.Errorf("peak memory grew %d KiB for bodies never read, want at most 4 MiB", grew)
	}
	// An undeclared body is read up to the cap before it is refused; the
	// garbage it leaves is collected before the heap passes the daemon's
	// 64 MiB soft memory limit, so the peak stays near that limit however
	// many are sent, instead of growing with them.
	if grew := chunked - base; grew > 80<<10 {
		t.Errorf("peak memory grew %d KiB for %d chunked 26 MiB bodies, want at most 80 MiB", grew, chunkedRounds)
	}
	if code, _ := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", up.Head(t, "main")); code != http.StatusAccepted {
		t.Errorf("a real push after the big bodies: %d", code)
	}
}

// A command sees the allow-listed variables, the settings' env and WH_*,
// and nothing else of the daemon's environment: not the secret given as
// WH_GITD_REPOS__SITE__SECRET, not the other variables of the service.
func TestHostileCommandEnvironment(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	out := filepath.Join(dir, "env.txt")
	file := daemonSettings(t, dir, up, "", "env > "+out)
	const secret = "env-secret-0123456789"
	d := startDaemonEnv(t, file, minimalEnv("WH_GITD_REPOS__SITE__SECRET="+secret, "AWS_SECRET_ACCESS_KEY=aws-value",
		"DATABASE_URL=postgres://u:pw@db/x", "LD_PRELOAD=/nonexistent.so", "GIT_DIR=/etc", "GIT_SSH_COMMAND=touch C",
		"NOTIFY_SOCKET=", "TZ=UTC", "USER=deploy", "SSH_AUTH_SOCK=/run/agent"))
	if code, ans := d.push(t, "site", secret, "acme/site", "main", sha); code != http.StatusAccepted {
		t.Fatalf("push signed with the environment's secret: %d %v", code, ans)
	}
	waitFor(t, "the command's environment", 30*time.Second, func() bool { _, err := os.Stat(out); return err == nil })
	time.Sleep(100 * time.Millisecond)
	allowed := []string{"PATH", "HOME", "LANG", "TZ", "USER", "SSH_AUTH_SOCK", "PWD", "SHLVL", "_", "OLDPWD"}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(readFileT(t, out)), "\n") {
		name, _, _ := strings.Cut(line, "=")
		names = append(names, name)
		if !slices.Contains(allowed, name) && !strings.HasPrefix(name, "WH_") {
			t.Errorf("the command sees %s", line)
		}
		if strings.HasPrefix(name, "WH_GITD") {
			t.Errorf("the command sees the daemon's setting %s", name)
		}
	}
	for _, want := range []string{"WH_REPO", "WH_SHA", "WH_BRANCH", "WH_PAYLOAD", "PATH", "HOME", "TZ"} {
		if !slices.Contains(names, want) {
			t.Errorf("the command does not see %s: %v", want, names)
		}
	}
	if env := readFileT(t, out); strings.Contains(env, secret) || strings.Contains(env, "aws-value") || strings.Contains(env, "pw@db") {
		t.Errorf("a secret reached the command:\n%s", env)
	}
	if strings.Contains(d.logs(), secret) {
		t.Error("the secret reached the daemon's log")
	}
}

func readFileT(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A command writing 1 GB of output leaves the daemon's memory flat: the job
// log keeps the first and last MiB.
func TestHostileCommandOutputMemory(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	done := filepath.Join(dir, "done")
	file := daemonSettings(t, dir, up, "",
		"echo FIRST; head -c 1073741824 /dev/zero | tr '\\0' x; echo; echo LAST; touch "+done)
	d := startDaemonEnv(t, file, minimalEnv())
	pid := d.cmd.Process.Pid
	if code, _ := d.push(t, "site", "s-secret-0123456789", "acme/site", "other", sha); code != http.StatusOK {
		t.Fatalf("warm-up push: %d", code)
	}
	base := memory(t, pid, "VmHWM")
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", sha); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, ans)
	}
	waitFor(t, "the job to finish", 90*time.Second, func() bool { return strings.Contains(d.logs(), `"job finished"`) })
	peak := memory(t, pid, "VmHWM")
	t.Logf("VmHWM %d KiB before, %d KiB after 1 GB of output", base, peak)
	if grew := peak - base; grew > 32<<10 {
		t.Errorf("peak memory grew %d KiB for 1 GB of command output, want at most 32 MiB", grew)
	}
	if !strings.Contains(d.logs(), `"state":"succeeded"`) {
		t.Errorf("job did not succeed:\n%s", d.logs())
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "state", "jobs", "*.log"))
	for _, l := range logs {
		if fi, err := os.Stat(l); err == nil && fi.Size() > 3<<20 {
			t.Errorf("job log %s holds %d bytes", l, fi.Size())
		}
	}
}

// SIGTERM while a job runs a command that ignores SIGTERM and has children,
// one of them escaped into its own session: the daemon exits after
// shutdown_grace and kill_grace, and no process of the job is left.
func TestHostileShutdownLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	up := gitsynctest.NewUpstream(t)
	sha := up.Commit(t, "main", map[string]string{"f": "a"}, "a")
	pids := filepath.Join(dir, "pids")
	cmd := `trap "" TERM; sleep 600 & echo $! >> ` + pids + `; setsid sleep 600 & echo $! >> ` + pids +
		`; echo $$ >> ` + pids + `; while :; do sleep 0.05; done`
	d := startDaemonEnv(t, daemonSettings(t, dir, up, "", cmd), minimalEnv())
	if code, ans := d.push(t, "site", "s-secret-0123456789", "acme/site", "main", sha); code != http.StatusAccepted {
		t.Fatalf("push: %d %v", code, ans)
	}
	waitFor(t, "the command to start", 30*time.Second, func() bool { return len(lines(pids)) == 3 })
	start := time.Now()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
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
	t.Logf("daemon stopped %s after the signal", time.Since(start))
	var mu sync.Mutex
	mu.Lock()
	defer mu.Unlock()
	for _, p := range lines(pids) {
		var pid int
		fmt.Sscan(p, &pid)
		waitFor(t, fmt.Sprintf("process %d to be gone", pid), 5*time.Second, func() bool { return !alive(pid) })
	}
}
