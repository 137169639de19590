package gitsync

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// withoutGit runs f with a PATH that holds no git program.
func withoutGit(t *testing.T, f func()) {
	t.Helper()
	path := os.Getenv("PATH")
	t.Cleanup(func() { os.Setenv("PATH", path) })
	os.Setenv("PATH", t.TempDir())
	defer os.Setenv("PATH", path)
	f()
}

// A local-path remote is read in this process: first clones, changes with
// deleted, renamed and nested files, an annotated tag and full history all
// sync with no git program on the PATH, and git finds the result whole.
func TestLocalRemoteWithoutGit(t *testing.T) {
	f := newFixture(t)
	first := map[string]string{"a.txt": "1", "dir/b.txt": "2", "dir/sub/c.txt": "3", "gone.txt": "x"}
	f.up.Commit(t, "main", first, "one")
	withoutGit(t, func() { f.sync(t, f.target()) })
	checkFiles(t, f.path, first)

	second := f.up.CommitFiles(t, "main", []gitsynctest.File{{Path: "a.txt", Mode: gitsynctest.Delete},
		{Path: "moved/a.txt", Content: "1"}, {Path: "dir/sub/c.txt", Content: "33"},
		{Path: "gone.txt", Mode: gitsynctest.Delete}, {Path: "new/d.txt", Content: "4"}}, "two")
	withoutGit(t, func() { f.sync(t, f.target()) })
	want := map[string]string{"moved/a.txt": "1", "dir/b.txt": "2", "dir/sub/c.txt": "33", "new/d.txt": "4"}
	checkFiles(t, f.path, want)

	f.up.AnnotatedTag(t, "v1", second, "release")
	f.up.Commit(t, "main", map[string]string{"after.txt": "5"}, "three")
	tag := f.target()
	tag.Ref = "refs/tags/v1"
	withoutGit(t, func() { f.sync(t, tag) })
	checkFiles(t, f.path, want)
	assertGit(t, f.path, second, "rev-parse", "HEAD")
	testkit.Git(t, f.path, "fsck", "--strict", "--no-dangling")

	full := newFixture(t)
	full.up = f.up
	deep := full.target()
	deep.Depth = 0
	withoutGit(t, func() { full.sync(t, deep) })
	f.up.Commit(t, "main", map[string]string{"later.txt": "6"}, "four")
	withoutGit(t, func() { full.sync(t, deep) })
	assertGit(t, full.path, f.up.Head(t, "main"), "rev-parse", "HEAD")
	assertGit(t, full.path, "4", "rev-list", "--count", "HEAD")
	testkit.Git(t, full.path, "fsck", "--strict", "--no-dangling")
}

func checkFiles(t *testing.T, path string, want map[string]string) {
	t.Helper()
	if got := files(t, path); !maps.Equal(got, want) {
		t.Errorf("working copy %v, want %v", got, want)
	}
}

// Past localObjectLimit objects, git's upload-pack sends them: without a
// git program that sync fails, and nothing was stored meanwhile.
func TestLocalRemoteLargeTransferUsesGit(t *testing.T) {
	f := newFixture(t)
	var many []gitsynctest.File
	for i := range localObjectLimit + 10 {
		many = append(many, gitsynctest.File{Path: fmt.Sprintf("f/%d/%d.txt", i/100, i), Content: fmt.Sprint(i)})
	}
	f.up.CommitFiles(t, "main", many, "many")
	withoutGit(t, func() {
		_, log, err := f.trySync(f.target())
		if err == nil || !strings.Contains(err.Error(), `exec: "git"`) {
			t.Errorf("sync without git: %v, want git not found\nlog:\n%s", err, log)
		}
	})
	res, _ := f.sync(t, f.target())
	if res.Written != len(many) {
		t.Errorf("written %d, want %d", res.Written, len(many))
	}
}
