package gitsync

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// nestedFiles is a tree with subdirectories on several levels.
var nestedFiles = map[string]string{
	"index.php": "<?php echo 1;", "README": "readme",
	"app/a.go": "package app", "app/b.go": "package app // b",
	"app/sub/deep/c.txt": "deep", "web/css/site.css": "body{}", "web/js/app.js": "x()",
}

// readIndex decodes the working copy's .git/index as go-git does.
func readIndex(t *testing.T, dir string) *index.Index {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx := &index.Index{}
	if err := index.NewDecoder(f).Decode(idx); err != nil {
		t.Fatalf("decode index: %v", err)
	}
	return idx
}

// assertCacheTree checks that the index's cache-tree says it holds the
// tree of commit sha, and that git agrees with every directory of it:
// GIT_TEST_CHECK_CACHE_TREE makes git verify the whole cache-tree against
// the entries when it writes the index, and fail on a mismatch.
func assertCacheTree(t *testing.T, dir, sha string) {
	t.Helper()
	idx := readIndex(t, dir)
	tree := testkit.Git(t, dir, "rev-parse", sha+"^{tree}")
	got := indexCacheTree(idx.Cache, len(idx.Entries))
	if got == nil || got.hash.String() != tree {
		t.Fatalf("index cache-tree = %+v, want root %s over %d entries", idx.Cache, tree, len(idx.Entries))
	}
	cmd := exec.Command("git", "update-index", "--really-refresh")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_TEST_CHECK_CACHE_TREE=1"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git with GIT_TEST_CHECK_CACHE_TREE=1: %v\n%s", err, out)
	}
	assertGit(t, dir, tree, "write-tree")
}

// newSameCheckout prepares the checkout of the commit the working copy is
// at, as a sync with nothing fetched does.
func newSameCheckout(t *testing.T, f *fixture) *checkout {
	t.Helper()
	repo, err := plainOpen(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWorkingCopy(f.path, repo)
	t.Cleanup(func() { wc.close() })
	head := wc.headCommit()
	co, err := newCheckout(context.Background(), wc, head, head, newJobLog(nil, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	return co
}

func TestIndexCarriesTheCacheTree(t *testing.T) {
	t.Parallel()
	f, first := newDeployed(t, nestedFiles)
	assertCacheTree(t, f.path, first)
	if co := newSameCheckout(t, f); !co.fromIndex || !maps.Equal(co.target, flatten(t, f, first)) {
		t.Errorf("no-op checkout: fromIndex = %v, target matches the tree: %v",
			co.fromIndex, maps.Equal(co.target, flatten(t, f, first)))
	}
	second := f.up.Commit(t, "main", map[string]string{"app/sub/deep/c.txt": gitsynctest.Deleted,
		"web/js/app.js": "y()", "new/dir/n.txt": "n"}, "second")
	f.sync(t, f.target())
	assertCacheTree(t, f.path, second)
	assertClean(t, f.path, second)
}

// flatten is the tree of commit sha as the checkout reads it from objects.
func flatten(t *testing.T, f *fixture, sha string) map[string]leaf {
	t.Helper()
	repo, err := plainOpen(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWorkingCopy(f.path, repo)
	defer wc.close()
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	leaves, err := flattenTree(repo.Storer, c.TreeHash)
	if err != nil {
		t.Fatal(err)
	}
	return leaves
}

// TestNoOpFromTheIndexKeepsEveryGuarantee syncs the commit the working
// copy is at after a local change: the checkout takes the files from the
// index, without reading a tree, and must still undo each change.
func TestNoOpFromTheIndexKeepsEveryGuarantee(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		change      func(t *testing.T, dir string)
		overwritten []string
		clean       bool
	}{
		{"stat change without content change", func(t *testing.T, dir string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "app/a.go"), later, later); err != nil {
				t.Fatal(err)
			}
		}, nil, false},
		{"same size, mtime faked back", func(t *testing.T, dir string) {
			sameSizeEdit(t, dir, "app/b.go", false)
		}, []string{"app/b.go"}, false},
		{"same size and mtime, racily clean", func(t *testing.T, dir string) {
			sameSizeEdit(t, dir, "app/b.go", true)
		}, []string{"app/b.go"}, false},
		{"tracked file deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "web/css/site.css")); err != nil {
				t.Fatal(err)
			}
		}, nil, false},
		{"mode changed", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "README"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"README"}, false},
		{"untracked files kept", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, ".env"), "SECRET=1")
			testkit.WriteFile(t, filepath.Join(dir, "app/cache/x"), "x")
		}, nil, false},
		{"untracked files cleaned", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, ".env"), "SECRET=1")
		}, nil, true},
		{"edit staged with git add", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "app/a.go"), "package staged")
			testkit.Git(t, dir, "add", "app/a.go")
		}, nil, false}, // the index said so: not a local edit
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, sha := newDeployed(t, nestedFiles)
			want := files(t, f.path)
			tc.change(t, f.path)
			if strings.Contains(tc.name, "kept") {
				want = files(t, f.path)
			}
			tg := f.target()
			tg.Clean = tc.clean
			res, _ := f.sync(t, tg)
			if !equalLists(res.Overwritten, tc.overwritten) {
				t.Errorf("overwritten = %q, want %q", res.Overwritten, tc.overwritten)
			}
			if got := files(t, f.path); !maps.Equal(got, want) {
				t.Errorf("files = %v, want %v", got, want)
			}
			assertClean(t, f.path, sha)
			if co := newSameCheckout(t, f); !co.fromIndex {
				t.Error("the next no-op does not take its files from the index")
			}
			assertCacheTree(t, f.path, sha)
		})
	}
}

// sameSizeEdit rewrites p with other content of the same size and puts
// its mtime back; racy also puts the index's mtime back to it, so that
// the entry is racily clean (git hashes such an entry).
func sameSizeEdit(t *testing.T, dir, p string, racy bool) {
	t.Helper()
	full := filepath.Join(dir, p)
	fi, err := os.Stat(full)
	if err != nil {
		t.Fatal(err)
	}
	old := testkit.ReadFile(t, full)
	testkit.WriteFile(t, full, strings.ToUpper(old))
	if err := os.Chtimes(full, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if racy {
		idx := filepath.Join(dir, ".git", "index")
		if err := os.Chtimes(idx, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

func equalLists(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || strings.Join(a, "\n") == strings.Join(b, "\n"))
}

func TestIndexCacheTreeRefusesWhatDoesNotAddUp(t *testing.T) {
	t.Parallel()
	h := plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")
	tests := []struct {
		name    string
		entries []index.TreeEntry
		n       int
		ok      bool
	}{
		{"root alone", []index.TreeEntry{{Path: "", Entries: 3, Hash: h}}, 3, true},
		{"root and two directories", []index.TreeEntry{{Path: "", Entries: 5, Trees: 2, Hash: h},
			{Path: "a", Entries: 2, Hash: h}, {Path: "b", Entries: 1, Hash: h}}, 5, true},
		{"no cache-tree", nil, 3, false},
		{"root invalidated (go-git drops it)", []index.TreeEntry{{Path: "a", Entries: 2, Hash: h}}, 3, false},
		{"root over fewer entries", []index.TreeEntry{{Path: "", Entries: 2, Hash: h}}, 3, false},
		{"a directory invalidated", []index.TreeEntry{{Path: "", Entries: 5, Trees: 2, Hash: h},
			{Path: "a", Entries: 2, Hash: h}}, 5, false},
		{"directories over more than the root", []index.TreeEntry{{Path: "", Entries: 2, Trees: 1, Hash: h},
			{Path: "a", Entries: 3, Hash: h}}, 2, false},
		{"entries left over", []index.TreeEntry{{Path: "", Entries: 2, Hash: h},
			{Path: "a", Entries: 1, Hash: h}}, 2, false},
		{"unsafe directory name", []index.TreeEntry{{Path: "", Entries: 2, Trees: 1, Hash: h},
			{Path: "..", Entries: 1, Hash: h}}, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *index.Tree
			if tc.entries != nil {
				c = &index.Tree{Entries: tc.entries}
			}
			if got := indexCacheTree(c, tc.n); (got != nil) != tc.ok {
				t.Errorf("indexCacheTree = %+v, want ok %v", got, tc.ok)
			}
		})
	}
}

// TestTreesAnIndexCannotGiveBackHaveNoCacheTree deploys trees that git
// would not write back from their index: no cache-tree may claim it would.
func TestTreesAnIndexCannotGiveBackHaveNoCacheTree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		tree func(t *testing.T, up *gitsynctest.Upstream) string
	}{
		{"empty directory", func(t *testing.T, up *gitsynctest.Upstream) string {
			empty := rawTree(t, up)
			return rawTree(t, up, entry{"100644", "a", up.Blob(t, "a")}, entry{"40000", "e", empty})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			sha := f.up.CommitTree(t, "main", tc.tree(t, f.up), "odd")
			f.sync(t, f.target())
			if c := readIndex(t, f.path).Cache; c != nil {
				t.Errorf("index has a cache-tree: %+v", c)
			}
			if co := newSameCheckout(t, f); co.fromIndex {
				t.Error("no-op checkout took its files from the index")
			}
			f.sync(t, f.target())
			assertGit(t, f.path, sha, "rev-parse", "HEAD")
		})
	}
}

// writeIndex writes, without a cache-tree, exactly what go-git's index
// encoder writes for the same entries: names of every length around the
// padding and the 0xfff name-length limit, zero and real times, gitlinks.
func TestWriteIndexAsGoGit(t *testing.T) {
	t.Parallel()
	entries := map[string]*index.Entry{}
	mtime := time.Unix(1700000000, 123456789)
	for i := range 40 {
		name := strings.Repeat("d/", i%5) + strings.Repeat("n", i) + fmt.Sprint(i)
		e := &index.Entry{Name: name, Mode: filemode.Regular, Size: uint32(i * 7), Dev: 3, Inode: uint32(i + 100),
			UID: 1000, GID: 1000, ModifiedAt: mtime, CreatedAt: mtime.Add(-time.Second)}
		e.Hash[0], e.Hash[19] = byte(i), byte(255-i)
		entries[name] = e
	}
	long := strings.Repeat("x", 0x1005)
	entries[long] = &index.Entry{Name: long, Mode: filemode.Executable}
	entries["sub"] = &index.Entry{Name: "sub", Mode: filemode.Submodule}
	var got, want bytes.Buffer
	if err := writeIndex(&got, entries, nil); err != nil {
		t.Fatal(err)
	}
	idx := &index.Index{Version: 2}
	for _, e := range entries {
		idx.Entries = append(idx.Entries, e)
	}
	if err := index.NewEncoder(&want).Encode(idx); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("writeIndex wrote %d bytes unlike go-git's %d", got.Len(), want.Len())
	}
}
