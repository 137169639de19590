package gitsync

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// fixture is an upstream and a working copy path to sync into.
type fixture struct {
	up   *gitsynctest.Upstream
	s    *Syncer
	path string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return &fixture{
		up:   gitsynctest.NewUpstream(t),
		s:    New(zerolog.New(zerolog.NewTestWriter(t))),
		path: filepath.Join(t.TempDir(), "site"),
	}
}

// target syncs branch main from the file-path upstream at depth 1.
func (f *fixture) target() Target {
	return Target{
		Remote:  f.up.Path(),
		Path:    f.path,
		Ref:     "refs/heads/main",
		Depth:   1,
		Timeout: time.Minute,
	}
}

// sync runs Sync and fails the test on error; it returns the job log too.
func (f *fixture) sync(t testing.TB, tg Target) (Result, string) {
	t.Helper()
	res, log, err := f.trySync(tg)
	if err != nil {
		t.Fatalf("Sync: %v\nlog:\n%s", err, log)
	}
	t.Logf("sync log:\n%s", log)
	return res, log
}

// trySync syncs as the runner does: Sync, then, when it succeeded, Maintain
// (which the runner runs after the commands), both into one log.
func (f *fixture) trySync(tg Target) (Result, string, error) {
	var log bytes.Buffer
	res, err := f.s.Sync(context.Background(), tg, &log)
	if err == nil {
		err = f.s.Maintain(context.Background(), tg.Path, &log)
	}
	return res, log.String(), err
}

// files reads the working copy (not .git): path → content, symlinks as
// "-> target", executables with a "(x) " prefix.
func files(t testing.TB, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == ".git" {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		out[filepath.ToSlash(rel)] = describe(t, p, d)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func describe(t testing.TB, p string, d fs.DirEntry) string {
	t.Helper()
	if d.Type()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		return "-> " + target
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := d.Info()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 != 0 {
		return "(x) " + string(b)
	}
	return string(b)
}

// git runs the git CLI in dir, isolated from the user's configuration.
func gitCLI(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// assertClean checks with the git CLI that HEAD is sha and that the index
// and the tracked files match it exactly.
func assertClean(t testing.TB, dir, sha string) {
	t.Helper()
	if got := gitCLI(t, dir, "rev-parse", "HEAD"); got != sha {
		t.Errorf("HEAD = %s, want %s", got, sha)
	}
	if st := gitCLI(t, dir, "status", "--porcelain", "--untracked-files=no"); st != "" {
		t.Errorf("git status shows changes:\n%s", st)
	}
	if d := gitCLI(t, dir, "diff-index", "--cached", "--name-status", "HEAD"); d != "" {
		t.Errorf("index differs from HEAD:\n%s", d)
	}
}

func put(t testing.TB, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t))
}
