package gitsync

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

func TestFirstClone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		remote func(f *fixture) string
	}{
		{"file path", func(f *fixture) string { return f.up.Path() }},
		{"smart http", func(f *fixture) string { return f.up.ServeHTTP(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			want := map[string]string{"index.php": "<?php echo 1;", "lib/a.php": "a", "lib/b/c.txt": "c"}
			sha := f.up.Commit(t, "main", want, "first")
			tg := f.target()
			tg.Remote = tc.remote(f)
			res, log := f.sync(t, tg)
			if !res.Cloned || res.Commit != sha || res.Previous != "" || res.Written != 3 || res.Removed != 0 {
				t.Errorf("result = %+v", res)
			}
			if got := files(t, f.path); !maps.Equal(got, want) {
				t.Errorf("files = %v, want %v", got, want)
			}
			assertLogHas(t, log, "clone ", "fetch refs/heads/main from origin (depth 1)",
				"checkout "+sha[:7]+" from empty working copy: 3 written, 0 removed")
			assertClean(t, f.path, sha)
			assertGit(t, f.path, "refs/heads/main", "symbolic-ref", "HEAD")
			assertGit(t, f.path, tg.Remote, "remote", "get-url", "origin")
		})
	}
}

func TestIncrementalAndNoop(t *testing.T) {
	t.Parallel()
	f, first := newDeployed(t, map[string]string{"a": "1", "b": "2", "dir/c": "3", "dir/d": "4"})
	second := f.up.Commit(t, "main", map[string]string{"a": "1 changed", "dir/c": gitsynctest.Deleted,
		"dir/d": gitsynctest.Deleted, "e": "5"}, "two")

	res, log := f.sync(t, f.target())
	if res.Cloned || res.Previous != first || res.Commit != second || res.Written != 2 || res.Removed != 2 {
		t.Errorf("incremental result = %+v", res)
	}
	want := map[string]string{"a": "1 changed", "b": "2", "e": "5"}
	if got := files(t, f.path); !maps.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if testkit.Exists(filepath.Join(f.path, "dir")) {
		t.Error("emptied directory dir/ was not removed")
	}
	if !strings.Contains(log, "checkout "+second[:7]+" from "+first[:7]+": 2 written, 2 removed") {
		t.Errorf("log:\n%s", log)
	}
	assertClean(t, f.path, second)

	res, log = f.sync(t, f.target())
	if res.Written != 0 || res.Removed != 0 || len(res.Overwritten) != 0 || res.Commit != second {
		t.Errorf("no-op result = %+v\n%s", res, log)
	}
	assertClean(t, f.path, second)
}

func TestExactOlderCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		byHash   bool // the server allows fetching any reachable commit
		depth    int
		wantLine string
	}{
		{"deepen shallow history", false, 1, "deepen refs/heads/main to 100 commits"},
		{"fetch by hash", true, 1, "fetching it by hash"},
		{"full history", false, 0, "fetch refs/heads/main from origin (full history)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.byHash {
				f.up.Git(t, "config", "uploadpack.allowReachableSHA1InWant", "true")
			}
			old := f.up.Commit(t, "main", map[string]string{"v": "old"}, "old")
			f.up.Commit(t, "main", map[string]string{"v": "middle"}, "middle")
			f.up.Commit(t, "main", map[string]string{"v": "new"}, "new")
			tg := f.target()
			tg.Depth = tc.depth
			tg.Commit = old
			res, log := f.sync(t, tg)
			if res.Commit != old || testkit.ReadFile(t, filepath.Join(f.path, "v")) != "old" {
				t.Errorf("result = %+v, v = %q", res, testkit.ReadFile(t, filepath.Join(f.path, "v")))
			}
			assertLogHas(t, log, tc.wantLine)
			assertClean(t, f.path, old)
		})
	}
}

func TestForcePushToUnrelatedOlderCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	unrelated := f.up.Orphan(t, map[string]string{"old.txt": "from another history"}, "unrelated root")
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	f.sync(t, f.target())
	tip := f.up.Commit(t, "main", map[string]string{"b": "2"}, "two")
	f.sync(t, f.target())
	assertClean(t, f.path, tip)

	f.up.ForcePush(t, "main", unrelated)
	res, _ := f.sync(t, f.target())
	if res.Commit != unrelated || res.Previous != tip {
		t.Errorf("result = %+v", res)
	}
	if got, want := files(t, f.path), map[string]string{"old.txt": "from another history"}; !maps.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	assertClean(t, f.path, unrelated)
}

func TestNewBranchSameWorkingCopy(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "main"})
	dev := f.up.Commit(t, "dev", map[string]string{"a": "dev", "d": "only on dev"}, "dev root")
	tg := f.target()
	tg.Ref = "refs/heads/dev"
	res, _ := f.sync(t, tg)
	if res.Commit != dev || testkit.ReadFile(t, filepath.Join(f.path, "a")) != "dev" {
		t.Errorf("result = %+v", res)
	}
	assertClean(t, f.path, dev)
	assertGit(t, f.path, "refs/heads/dev", "symbolic-ref", "HEAD")
}

func TestTagRef(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		annotated bool
	}{{"lightweight", false}, {"annotated", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			v1 := f.up.Commit(t, "main", map[string]string{"v": "1"}, "v1")
			f.up.Commit(t, "main", map[string]string{"v": "2"}, "v2")
			if tc.annotated {
				f.up.AnnotatedTag(t, "v1.0", v1, "release 1.0")
			} else {
				f.up.Tag(t, "v1.0", v1)
			}
			tg := f.target()
			tg.Ref = "refs/tags/v1.0"
			res, _ := f.sync(t, tg)
			if res.Commit != v1 {
				t.Errorf("commit = %s, want %s", res.Commit, v1)
			}
			assertClean(t, f.path, v1)
			if testkit.Exists(filepath.Join(f.path, ".git", "refs", "heads", "v1.0")) {
				t.Error("a tag made a local branch")
			}
			assertGit(t, f.path, "HEAD", "rev-parse", "--symbolic-full-name", "HEAD")
		})
	}
}

func TestDepth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		depth       int
		wantShallow string
		wantCount   string
	}{
		{"depth 1 is shallow", 1, "true", "1"},
		{"depth 2 is shallow", 2, "true", "2"},
		{"depth 0 is full", 0, "false", "3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			for i := range 3 {
				f.up.Commit(t, "main", map[string]string{"n": strings.Repeat("x", i)}, "c")
			}
			tg := f.target()
			tg.Depth = tc.depth
			f.sync(t, tg)
			assertGit(t, f.path, tc.wantShallow, "rev-parse", "--is-shallow-repository")
			assertGit(t, f.path, tc.wantCount, "rev-list", "--count", "HEAD")
		})
	}
}

func TestUnshallowWhenDepthBecomesZero(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range 3 {
		f.up.Commit(t, "main", map[string]string{"n": strings.Repeat("x", i)}, "c")
	}
	f.sync(t, f.target())
	tg := f.target()
	tg.Depth = 0
	_, log := f.sync(t, tg)
	if !strings.Contains(log, "(unshallow)") {
		t.Errorf("log:\n%s", log)
	}
	assertGit(t, f.path, "false", "rev-parse", "--is-shallow-repository")
	assertGit(t, f.path, "3", "rev-list", "--count", "HEAD")
}
