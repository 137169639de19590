package gitsync

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
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

// A first fetch into an empty working copy from an upstream whose packs
// hold more than firstFetchLimit objects goes to git's upload-pack at once,
// even when the tip itself is small (without git it fails); later fetches
// into the same working copy are read in this process again.
func TestLocalFirstFetchOfALargeUpstreamUsesGit(t *testing.T) {
	f := newFixture(t)
	n := firstFetchLimit(1) + 100
	var b strings.Builder
	b.WriteString("commit refs/heads/main\ncommitter A <a@example.com> 1700000000 +0000\ndata 4\nmany\n")
	for i := range n {
		c := fmt.Sprint(i)
		fmt.Fprintf(&b, "M 100644 inline f/%d/%d.txt\ndata %d\n%s\n", i/100, i, len(c), c)
	}
	b.WriteString("\ncommit refs/heads/main\ncommitter A <a@example.com> 1700000001 +0000\ndata 3\nfew\n" +
		"deleteall\nM 100644 inline small.txt\ndata 2\nok\n\n")
	f.up.GitInput(t, b.String(), "fast-import", "--quiet")
	if got := packedObjects(f.up.Path()); got <= firstFetchLimit(1) {
		t.Fatalf("upstream packs hold %d objects, want over %d", got, firstFetchLimit(1))
	}
	withoutGit(t, func() {
		_, log, err := f.trySync(f.target())
		if err == nil || !strings.Contains(err.Error(), `exec: "git"`) {
			t.Errorf("first sync without git: %v, want git not found\nlog:\n%s", err, log)
		}
	})
	f.sync(t, f.target())
	checkFiles(t, f.path, map[string]string{"small.txt": "ok"})

	f.up.Commit(t, "main", map[string]string{"next.txt": "2"}, "next")
	withoutGit(t, func() { f.sync(t, f.target()) })
	checkFiles(t, f.path, map[string]string{"small.txt": "ok", "next.txt": "2"})
	testkit.Git(t, f.path, "fsck", "--strict", "--no-dangling")
}

func TestPackedObjectsCountsIndexes(t *testing.T) {
	up := gitsynctest.NewUpstream(t)
	if got := packedObjects(up.Path()); got != 0 {
		t.Errorf("empty upstream: %d packed objects, want 0", got)
	}
	up.Commit(t, "main", map[string]string{"a": "1", "d/b": "2"}, "one") // commit, 2 trees, 2 blobs
	up.Commit(t, "main", map[string]string{"a": "3"}, "two")             // commit, tree, blob
	up.Git(t, "repack", "-q", "-a", "-d")
	if got := packedObjects(up.Path()); got != 8 {
		t.Errorf("after repack: %d packed objects, want 8", got)
	}
	idx, _ := filepath.Glob(filepath.Join(up.Path(), "objects", "pack", "*.idx"))
	if len(idx) != 1 {
		t.Fatalf("%d pack indexes, want 1", len(idx))
	}
	if err := os.Remove(idx[0]); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idx[0], []byte("not a pack index"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := packedObjects(up.Path()); got != -1 {
		t.Errorf("damaged index: %d, want -1", got)
	}
}
