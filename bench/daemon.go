package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// binaries are the programs the harness builds into its temp dir.
type binaries struct {
	daemon, trigger, stamp, rusage string
}

// buildBinaries builds wh-gitd and wh-git-trigger from the module at src,
// and the stamp and rusage helpers from this harness's module at self.
func buildBinaries(ctx context.Context, src, self, dir string) (binaries, error) {
	b := binaries{daemon: filepath.Join(dir, "wh-gitd"), trigger: filepath.Join(dir, "wh-git-trigger"),
		stamp: filepath.Join(dir, "stamp"), rusage: filepath.Join(dir, "rusage")}
	// Static, as README's install builds them, unless CGO_ENABLED says otherwise.
	if err := goBuild(ctx, src, dir, "./cmd/wh-gitd", "./cmd/wh-git-trigger"); err != nil {
		return b, err
	}
	return b, goBuild(ctx, self, dir, "./bench/stamp", "./bench/rusage")
}

func goBuild(ctx context.Context, root, dir string, pkgs ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	cmd.Dir = root
	if _, set := os.LookupEnv("CGO_ENABLED"); !set {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s in %s: %v\n%s", strings.Join(pkgs, " "), root, err, out)
	}
	return nil
}

// goTool is the go command: from PATH, else next to the running toolchain.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// moduleRoot is the folder of the go.mod that governs dir.
func moduleRoot(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, goTool(), "env", "GOMOD")
	cmd.Dir = dir
	out, err := cmd.Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module of %s: %v", dir, err)
	}
	return filepath.Dir(gomod), nil
}

// entry is one repository entry of the daemon's settings.
type entry struct {
	name, remote, path string
	depth              int
	branch             string
	commands           []any // string: shell; []string: argv
}

// daemonSettings writes a settings file for entries, makes its state dir,
// and returns its path.
// Every entry is a GitHub entry for bench/NAME with the given secret.
func daemonSettings(dir, listen, secret string, workers, queue int, entries []entry) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\nstate_dir: %s\nworkers: %d\nqueue_size: %d\n", listen, q(filepath.Join(dir, "state")), workers, queue)
	b.WriteString("shutdown_grace: 5s\nkill_grace: 1s\nlog: {level: warn}\nrepos:\n")
	for _, e := range entries {
		fmt.Fprintf(&b, "  %s:\n    provider: github\n    repository: %s\n    remote: %s\n    path: %s\n",
			e.name, q("bench/"+e.name), q(e.remote), q(e.path))
		fmt.Fprintf(&b, "    secret: %s\n    depth: %d\n    git_timeout: 10m\n    branches:\n      %s:\n        timeout: 2m\n        commands:\n",
			q(secret), e.depth, q(e.branch))
		for _, c := range e.commands {
			fmt.Fprintf(&b, "          - %s\n", q(c))
		}
	}
	// wh-git-trigger runs in-process only in a state dir that exists (one
	// the daemon made): the bench makes it as the daemon would.
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o750); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "settings.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}

// q quotes v for YAML: a JSON string or list is a YAML flow scalar or list.
func q(v any) string {
	out, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and string lists always marshal
	}
	return string(out)
}

// newSecret is a random webhook secret.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// freeListen picks a free port on 127.0.0.1.
func freeListen() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// childEnv is the small environment every program the harness starts gets:
// no user git configuration, no WH_GITD_* overrides from the caller.
func childEnv(home string, extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "LANG=C", "TZ=UTC",
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}, extra...)
}

// daemon is a running wh-gitd.
type daemon struct {
	cmd    *exec.Cmd
	url    string // http://127.0.0.1:PORT
	exited chan struct{}
	err    error
	log    string
}

// startDaemon starts wh-gitd on settings, listening on listen, and waits
// until GET /healthz answers.
func startDaemon(ctx context.Context, bin, settings, listen string, env []string) (*daemon, error) {
	logPath := filepath.Join(filepath.Dir(settings), "daemon.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	d := &daemon{cmd: exec.Command(bin, settings), url: "http://" + listen, exited: make(chan struct{}), log: logPath}
	d.cmd.Env, d.cmd.Stdout, d.cmd.Stderr = env, logf, logf
	d.cmd.Dir = filepath.Dir(settings)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the harness
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	client := loopbackClient(time.Second)
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-d.exited:
			return nil, fmt.Errorf("wh-gitd exited at start (%v): %s", d.err, tail(logPath))
		default:
		}
		if resp, err := client.Get(d.url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.stop()
	return nil, fmt.Errorf("wh-gitd did not answer /healthz within 15s: %s", tail(logPath))
}

// stop sends SIGTERM, and SIGKILL after 10 s.
func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// memory reads VmRSS and VmHWM (in KiB) from /proc/PID/status.
func (d *daemon) memory() (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parse %s: %w", sc.Text(), err)
		}
		if k == "VmRSS" {
			rss = n
		} else {
			hwm = n
		}
	}
	if rss == 0 || hwm == 0 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc status")
	}
	return rss, hwm, sc.Err()
}

// cpuTime reads the CPU time (user and system) the daemon has used, from
// /proc/PID/stat: utime and stime, fields 14 and 15, in USER_HZ ticks.
func (d *daemon) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	return statCPU(b)
}

// statCPU is utime + stime of a /proc/PID/stat line: the fields after the
// command name in parentheses start at field 3.
func statCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
	}
	var ticks int64
	for _, v := range f[14-3 : 15-3+1] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("unexpected /proc stat line %q", stat)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// tail is the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
