package gitsync

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/rs/zerolog"
	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
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
		s:    New(testLogger(t)),
		path: filepath.Join(t.TempDir(), "site"),
	}
}

// newDeployed is a fixture whose working copy is synced to a first
// commit of files on main, and that commit.
func newDeployed(t testing.TB, files map[string]string) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	sha := f.up.Commit(t, "main", files, "first")
	f.sync(t, f.target())
	return f, sha
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

// assertClean checks with the git CLI that HEAD is sha and that the index
// and the tracked files match it exactly.
func assertClean(t testing.TB, dir, sha string) {
	t.Helper()
	assertGit(t, dir, sha, "rev-parse", "HEAD")
	assertGit(t, dir, "", "status", "--porcelain", "--untracked-files=no")
	assertGit(t, dir, "", "diff-index", "--cached", "--name-status", "HEAD")
}

// hangingRemote is a remote whose server takes requests and never answers.
func hangingRemote(t testing.TB) string {
	t.Helper()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	return hang.URL + "/repo.git"
}

// assertGit checks that git args, run in dir, print want.
func assertGit(t testing.TB, dir, want string, args ...string) {
	t.Helper()
	if got := testkit.Git(t, dir, args...); got != want {
		t.Errorf("git %s in %s = %q, want %q", strings.Join(args, " "), dir, got, want)
	}
}

// assertLogHas checks that the job log holds every one of lines.
func assertLogHas(t testing.TB, log string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(log, l) {
			t.Errorf("log lacks %q:\n%s", l, log)
		}
	}
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t))
}

// openPacks opens the working copy at path and lists its packs; the
// working copy is closed when the test ends.
func openPacks(t *testing.T, path string) (*workingCopy, storer.PackedObjectStorer, []plumbing.Hash) {
	t.Helper()
	repo, err := plainOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWorkingCopy(path, repo)
	t.Cleanup(func() { wc.close() })
	pos := repo.Storer.(storer.PackedObjectStorer)
	packs, err := pos.ObjectPacks()
	if err != nil {
		t.Fatal(err)
	}
	return wc, pos, packs
}

// openFetched opens the fixture's working copy and fetches its target, as
// a sync does before its checkout; the working copy is closed when the
// test ends.
func openFetched(t *testing.T, f *fixture) (*workingCopy, plumbing.Hash, *jobLog) {
	t.Helper()
	tg := f.target()
	rem, err := f.s.newRemote(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	jl := newJobLog(nil, nil)
	wc, _, err := f.s.open(tg, rem, jl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wc.close() })
	got, err := f.s.fetchCommit(context.Background(), wc, tg, rem, jl)
	if err != nil {
		t.Fatal(err)
	}
	return wc, got.commit, jl
}
