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
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// daemonSettings writes a settings file in dir with one GitHub entry
// "site" on remote whose branch main runs command.
func daemonSettings(t *testing.T, dir, remote, command string) string {
	t.Helper()
	return siteFile(remote, "shutdown_grace: 1s\nkill_grace: 500ms",
		testkit.Target{Commands: []string{command}, Timeout: "2m"}).Write(t, dir)
}

// minimalEnv is what a service manager gives a daemon, plus extra.
func minimalEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LANG=C.UTF-8"}, extra...)
}

// startDaemonEnv is startDaemon with the daemon's environment set to env.
func startDaemonEnv(t *testing.T, settingsFile string, env []string) *daemon {
	t.Helper()
	cmd := exec.Command(bins.daemon, settingsFile)
	cmd.Env = env
	return startDaemonCmd(t, cmd)
}

// memory reads a field of /proc/PID/status (VmHWM, VmRSS) in KiB.
func memory(t *testing.T, pid int, field string) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// spaces yields n spaces without holding them: a huge body that costs the
// test no memory.
type spaces struct{ left int64 }

func (p *spaces) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(b)), p.left)
	for i := range b[:n] {
		b[i] = ' '
	}
	p.left -= n
	return int(n), nil
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
	up, sha := upstream(t, "main")
	d := startDaemonEnv(t, daemonSettings(t, dir, up.Path(), "true"), minimalEnv())
	pid := d.cmd.Process.Pid
	const size, chunkedRounds = 26 << 20, 10
	if a := d.push(t, "site", "other", strings.Repeat("a", 40)); a.Code != http.StatusOK {
		t.Fatalf("warm-up push: %d", a.Code)
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
	if a := d.push(t, "site", "main", sha); a.Code != http.StatusAccepted {
		t.Errorf("a real push after the big bodies: %d", a.Code)
	}
}

// A command sees the allow-listed variables, the settings' env and WH_*,
// and nothing else of the daemon's environment: not the secret given as
// WH_GITD_REPOS__SITE__SECRET, not the other variables of the service.
func TestHostileCommandEnvironment(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	out := filepath.Join(dir, "env.txt")
	file := daemonSettings(t, dir, up.Path(), "env > "+out)
	const secret = "env-secret-0123456789"
	d := startDaemonEnv(t, file, minimalEnv("WH_GITD_REPOS__SITE__SECRET="+secret, "AWS_SECRET_ACCESS_KEY=aws-value",
		"DATABASE_URL=postgres://u:pw@db/x", "LD_PRELOAD=/nonexistent.so", "GIT_DIR=/etc", "GIT_SSH_COMMAND=touch C",
		"NOTIFY_SOCKET=", "TZ=UTC", "USER=deploy", "SSH_AUTH_SOCK=/run/agent"))
	dl := pushOf(t, "site", "main", sha)
	dl.Secret = secret
	if a, err := d.send(dl); err != nil || a.Code != http.StatusAccepted {
		t.Fatalf("push signed with the environment's secret: %d %v %v", a.Code, a.Body, err)
	}
	testkit.WaitFile(t, out)
	time.Sleep(100 * time.Millisecond)
	allowed := []string{"PATH", "HOME", "LANG", "TZ", "USER", "SSH_AUTH_SOCK", "PWD", "SHLVL", "_", "OLDPWD"}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(testkit.ReadFile(t, out)), "\n") {
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
	if env := testkit.ReadFile(t, out); strings.Contains(env, secret) || strings.Contains(env, "aws-value") || strings.Contains(env, "pw@db") {
		t.Errorf("a secret reached the command:\n%s", env)
	}
	if strings.Contains(d.logs(), secret) {
		t.Error("the secret reached the daemon's log")
	}
}

// A command writing 1 GB of output leaves the daemon's memory flat: the job
// log keeps the first and last MiB.
func TestHostileCommandOutputMemory(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	done := filepath.Join(dir, "done")
	file := daemonSettings(t, dir, up.Path(),
		"echo FIRST; head -c 1073741824 /dev/zero | tr '\\0' x; echo; echo LAST; touch "+done)
	d := startDaemonEnv(t, file, minimalEnv())
	pid := d.cmd.Process.Pid
	if a := d.push(t, "site", "other", sha); a.Code != http.StatusOK {
		t.Fatalf("warm-up push: %d", a.Code)
	}
	base := memory(t, pid, "VmHWM")
	d.queue(t, "site", "main", sha)
	testkit.Eventually(t, "the job to finish", 90*time.Second, func() bool { return strings.Contains(d.logs(), `"job finished"`) })
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
	up, sha := upstream(t, "main")
	pids := filepath.Join(dir, "pids")
	cmd := `trap "" TERM; sleep 600 & echo $! >> ` + pids + `; setsid sleep 600 & echo $! >> ` + pids +
		`; echo $$ >> ` + pids + `; while :; do sleep 0.05; done`
	d := startDaemonEnv(t, daemonSettings(t, dir, up.Path(), cmd), minimalEnv())
	d.queue(t, "site", "main", sha)
	started := waitPIDs(t, pids, 3)
	start := time.Now()
	d.stop(t, os.Interrupt)
	t.Logf("daemon stopped %s after the signal", time.Since(start))
	waitGone(t, started)
}

// SIGHUP with the settings file broken in every way a deploy script or an
// editor can break it keeps the settings in force and logs why; a storm of
// SIGHUPs leaves the daemon serving.
func TestHostileReloads(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	file := daemonSettings(t, dir, up.Path(), "true")
	good := testkit.ReadFile(t, file)
	d := startDaemonEnv(t, file, minimalEnv())
	refusals := 0
	hup := func(t *testing.T) {
		t.Helper()
		refusals++
		d.signal(t, syscall.SIGHUP)
		testkit.Eventually(t, "the reload to be refused", 10*time.Second, func() bool {
			return strings.Count(d.logs(), "reload refused") >= refusals
		})
	}
	cases := []struct {
		name   string
		break_ func(t *testing.T)
		logHas string
	}{
		{"half-written file", func(t *testing.T) { testkit.WriteFile(t, file, good[:len(good)/2]+"\n  bad: [") }, "parse settings"},
		{"empty file", func(t *testing.T) { testkit.WriteFile(t, file, "") }, "repos: at least one repository is required"},
		{"valid YAML, bad values", func(t *testing.T) {
			testkit.WriteFile(t, file, strings.Replace(good, "kill_grace: 500ms", "kill_grace: soon", 1))
		}, "kill_grace: must be a duration"},
		{"file removed", func(t *testing.T) { _ = os.Remove(file) }, "read settings"},
		{"a folder instead", func(t *testing.T) { _ = os.Remove(file); _ = os.Mkdir(file, 0o755) }, "read settings"},
		{"binary garbage", func(t *testing.T) { _ = os.Remove(file); testkit.WriteFile(t, file, "\x00\xff\xfe{{{\x01") }, "settings"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_(t)
			hup(t)
			if !strings.Contains(d.logs(), tc.logHas) {
				t.Errorf("the refusal does not say %q:\n%s", tc.logHas, d.logs())
			}
			if a := d.push(t, "site", "main", sha); a.Code != http.StatusAccepted &&
				!(a.Code == http.StatusOK && a.Str("status") == "duplicate") {
				t.Fatalf("push with the old settings: %d %v", a.Code, a.Body)
			}
			_ = os.RemoveAll(file)
			testkit.WriteFile(t, file, good)
		})
	}
	t.Run("storm of SIGHUPs", func(t *testing.T) {
		for range 50 {
			_ = d.cmd.Process.Signal(syscall.SIGHUP)
		}
		testkit.Eventually(t, "the reloads", 10*time.Second, func() bool { return strings.Count(d.logs(), "settings reloaded") >= 1 })
		d.queue(t, "site", "main", sha)
	})
	if n := strings.Count(d.logs(), "reload refused"); n != len(cases) {
		t.Errorf("%d refusals logged, want %d", n, len(cases))
	}
	if strings.Contains(d.logs(), `"secret"`) || strings.Contains(d.logs(), "secret: \""+testkit.Secret+"\"\n") {
		t.Error("a reload refusal shows the secret")
	}
}
