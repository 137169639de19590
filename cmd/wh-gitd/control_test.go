package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// controlFile describes settings listening on listen (a free port when
// ""), with the job API off (no api.token), and one entry, site, on remote
// whose branch main prints the commit it deploys.
func controlFile(listen, remote string) testkit.File {
	f := siteFile(remote, "shutdown_grace: 2s", testkit.Target{Commands: []string{`echo "deploying $WH_SHA"`}})
	f.Listen = listen
	return f
}

// jobOf reads the job id from wh-git-trigger's "submitted" line.
func jobOf(t *testing.T, stderr string) string {
	t.Helper()
	_, rest, ok := strings.Cut(stderr, "submitted to the daemon as job ")
	if !ok {
		t.Fatalf("not submitted to the daemon:\n%s", stderr)
	}
	return strings.Fields(rest)[0]
}

// With the job API off, wh-git-trigger runs, lists, shows and cancels
// through the control socket, and the daemon records the run. The socket is
// mode 0660, replaces a stale socket file at start, keeps a second daemon
// from starting on the same state dir, and goes at shutdown.
func TestControlSocket(t *testing.T) {
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	file := controlFile("", up.Path()).Write(t, dir)
	sock := filepath.Join(dir, "state", "control.sock")
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	testkit.StaleSocket(t, sock)
	d := startDaemon(t, file)
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("control socket: %v %v, want a socket of mode 0660", fi.Mode(), err)
	}

	code, stdout, stderr := exitCode(t, bins.trigger, file, "site")
	if code != 0 || !strings.Contains(stdout, "deploying "+sha) {
		t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	id := jobOf(t, stderr)
	if !strings.Contains(d.logs(), `"job":"`+id+`"`) {
		t.Errorf("the daemon's log does not have job %s:\n%s", id, d.logs())
	}
	checks := []struct {
		name string
		args []string
		code int
		out  string // in stdout (code 0) or stderr
	}{
		{"list", []string{"--list"}, 0, id},
		{"show", []string{"--show", id}, 0, `"state": "succeeded"`},
		{"show its log", []string{"--show", id}, 0, "deploying " + sha},
		{"list with an odd repo", []string{"--list", "--repo", "x&state=bogus"}, 0, "JOB"},
		{"show unknown", []string{"--show", "nope"}, 1, "no job nope"},
		{"cancel finished", []string{"--cancel", id}, 1, "cancel job " + id + ": job has already finished"},
		{"cancel unknown", []string{"--cancel", "nope"}, 1, "cancel job nope: no such job"},
	}
	for _, c := range checks {
		code, stdout, stderr := exitCode(t, bins.trigger, append([]string{file}, c.args...)...)
		if out := map[bool]string{true: stdout, false: stderr}[c.code == 0]; code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", c.name, code, c.code, c.out, stdout, stderr)
		}
	}

	second := testkit.WriteFile(t, filepath.Join(dir, "second.yaml"), controlFile(testkit.FreeAddr(t), up.Path()).String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bins.daemon, second).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "another wh-gitd answers on the control socket") {
		t.Errorf("a second daemon on the same state dir: %v\n%s", err, out)
	}

	d.stop(t, syscall.SIGTERM)
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the control socket outlives the daemon: %v", err)
	}
}

// scratchUser makes a system user (and its group) for this test and
// removes it at the end; it skips the test when that cannot be done.
func scratchUser(t *testing.T) *user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("making a user needs root")
	}
	add, err1 := exec.LookPath("useradd")
	del, err2 := exec.LookPath("userdel")
	if err1 != nil || err2 != nil {
		t.Skip("useradd or userdel is missing")
	}
	name := fmt.Sprintf("whgitd-t%d", os.Getpid())
	if out, err := exec.Command(add, "--system", "--user-group", "--no-create-home",
		"--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(del, name).CombinedOutput(); err != nil {
			t.Errorf("userdel: %v\n%s", err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func ids(t *testing.T, u *user.User) (int, int) {
	t.Helper()
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		t.Fatalf("user %s: uid %q gid %q", u.Username, u.Uid, u.Gid)
	}
	return uid, gid
}

// chownAll gives every file under the roots to uid:gid.
func chownAll(t *testing.T, uid, gid int, roots ...string) {
	t.Helper()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tree lists every file under root with its owner, size and time.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		files[p] = fmt.Sprintf("uid %d size %d mtime %s", st.Uid, fi.Size(), fi.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// Run as root for a state dir that belongs to the service's user,
// wh-git-trigger refuses to run in-process (exit 2, a hint to rerun it as
// that user) and writes nothing; with the daemon running as that user it
// goes through the control socket, and every file stays the user's.
func TestTriggerAsRootForTheServiceUser(t *testing.T) {
	u := scratchUser(t)
	uid, gid := ids(t, u)
	dir := t.TempDir()
	up, sha := upstream(t, "main")
	file := controlFile("", up.Path()).Write(t, dir)
	if err := os.Mkdir(filepath.Join(dir, "state"), 0o750); err != nil {
		t.Fatal(err)
	}
	chownAll(t, uid, gid, dir, filepath.Dir(up.Path()))
	for _, d := range []string{filepath.Dir(dir), bins.dir} { // let the user reach its files and the binaries
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	before := tree(t, dir)
	code, stdout, stderr := exitCode(t, bins.trigger, file, "site")
	hint := "hint: sudo -u " + u.Username + " wh-git-trigger " + file + " site\n"
	if code != 2 || !strings.Contains(stderr, "belongs to "+u.Username) || !strings.Contains(stderr, hint) {
		t.Errorf("as root with no daemon: exit %d, want 2 and %q\nstdout: %s\nstderr: %s", code, hint, stdout, stderr)
	}
	if after := tree(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("files changed by a refused run:\nbefore %v\nafter  %v", before, after)
	}

	cmd := exec.Command(bins.daemon, file)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8"}
	d := startDaemonCmd(t, cmd)
	code, stdout, stderr = exitCode(t, bins.trigger, file, "site")
	if code != 0 || !strings.Contains(stdout, "deploying "+sha) {
		t.Fatalf("as root with the daemon: exit %d\nstdout: %s\nstderr: %s\ndaemon: %s", code, stdout, stderr, d.logs())
	}
	jobOf(t, stderr)
	for p, info := range tree(t, dir) {
		if !strings.HasPrefix(info, fmt.Sprintf("uid %d ", uid)) {
			t.Errorf("%s is not the service user's: %s", p, info)
		}
	}
}
