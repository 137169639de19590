package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// earlyTree is a tree with what a first clone's early writes must get
// right: folders several deep, an executable, an empty file, one blob at
// two paths, two identical folders (one tree at two paths), a symlink and
// a blob past earlyBlobMax (both left to the checkout). It returns the
// files and how many of them are written early.
func earlyTree() ([]gitsynctest.File, int) {
	files := []gitsynctest.File{
		{Path: "README.md", Content: "hello\n"},
		{Path: "empty", Content: ""},
		{Path: "bin/run.sh", Content: "#!/bin/sh\necho run\n", Mode: gitsynctest.Executable},
		{Path: "src/a/x.txt", Content: "x\n"},
		{Path: "src/a/y.txt", Content: bigText(1, 2000)},
		{Path: "deep/a/b/c/d/e.txt", Content: "deep\n"},
		{Path: "dup1.txt", Content: "same blob\n"},
		{Path: "dir/dup2.txt", Content: "same blob\n"},
		{Path: "copy1/same.txt", Content: "same tree\n"},
		{Path: "copy1/sub/deep.txt", Content: "deeper\n"},
		{Path: "copy2/same.txt", Content: "same tree\n"},
		{Path: "copy2/sub/deep.txt", Content: "deeper\n"},
		{Path: "link", Content: "README.md", Mode: gitsynctest.Symlink},
		{Path: "big.txt", Content: bigText(2, 30000)},
	}
	return files, len(files) - 2
}

func TestEarlyCheckout(t *testing.T) {
	t.Parallel()
	// Over smart HTTP and from a local path (in process), of a branch and
	// of an annotated tag: over HTTP the tag is known by the peeled value
	// the server advertises, in process by the tag object, sent first.
	for _, over := range []string{"http", "path", "http tag", "path tag"} {
		t.Run(over, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tree, early := earlyTree()
			if len(tree[len(tree)-1].Content) <= earlyBlobMax {
				t.Fatalf("big.txt is not past earlyBlobMax")
			}
			sha := f.up.CommitFiles(t, "main", tree, "first")
			tg := f.target()
			url := "file://" + f.up.Path()
			if strings.HasPrefix(over, "http") {
				tg.Remote = watch(t, f.up).url
				url = tg.Remote
			}
			if strings.HasSuffix(over, "tag") {
				f.up.AnnotatedTag(t, "v1", sha, "release 1")
				tg.Ref = "refs/tags/v1"
			}
			res, log := f.sync(t, tg)
			assertLogHas(t, log, fmt.Sprintf("%d of the files written as the pack arrived", early))
			if res.Written != len(tree) {
				t.Errorf("Written = %d, want %d", res.Written, len(tree))
			}
			assertSame(t, f.path, gitClone(t, url, 1), sha)
			// The index holds the stat data of the files written early:
			// git finds none of them changed without reading them.
			assertGit(t, f.path, "", "diff-files", "--name-only")

			if strings.HasSuffix(over, "tag") {
				return
			}
			// The next sync finds everything in place.
			next := f.up.Commit(t, "main", map[string]string{"copy2/same.txt": "changed\n"}, "second")
			res, _ = f.sync(t, tg)
			if res.Written != 1 || res.Removed != 0 {
				t.Errorf("second sync: %d written, %d removed, want 1 and 0", res.Written, res.Removed)
			}
			assertClean(t, f.path, next)
		})
	}
}

// TestEarlyCheckoutUndone: a first clone whose pack turns out bad after
// its files were written early leaves the folder as it was, nothing but
// .git; the next sync clones it whole.
func TestEarlyCheckoutUndone(t *testing.T) {
	t.Parallel()
	for _, damage := range []string{"checksum", "cut"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tree, early := earlyTree()
			sha := f.up.CommitFiles(t, "main", tree, "first")
			w := watch(t, f.up)
			tg := f.target()
			tg.Remote = w.url
			if damage == "cut" {
				w.cut.Store(true)
			} else {
				w.lastByte.Store(true)
			}
			_, log, err := f.trySync(tg)
			if err == nil {
				t.Fatalf("a damaged pack was accepted:\n%s", log)
			}
			t.Logf("refused: %v\n%s", err, log)
			if damage == "checksum" { // every file came before the checksum
				assertLogHas(t, log, fmt.Sprintf("removed the %d files written as the pack arrived", early))
			}
			if got := names(t, f.path); !slices.Equal(got, []string{".git"}) {
				t.Errorf("left in the working copy: %v", got)
			}

			w.cut.Store(false)
			w.lastByte.Store(false)
			_, log = f.sync(t, tg)
			assertLogHas(t, log, fmt.Sprintf("%d of the files written as the pack arrived", early))
			assertSame(t, f.path, gitClone(t, w.url, 1), sha)
		})
	}
}

// TestEarlyCheckoutOtherCommit: a first clone of a commit that is not the
// branch's tip writes nothing early from the tip's pack, and checks the
// commit out right.
func TestEarlyCheckoutOtherCommit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tree, _ := earlyTree()
	first := f.up.CommitFiles(t, "main", tree, "first")
	f.up.Commit(t, "main", map[string]string{"README.md": "tip\n", "src/a/x.txt": gitsynctest.Deleted}, "tip")
	tg := f.target()
	tg.Remote = watch(t, f.up).url
	tg.Commit = first
	_, log := f.sync(t, tg)
	if strings.Contains(log, "written as the pack arrived") {
		t.Errorf("files written early for the tip:\n%s", log)
	}
	assertClean(t, f.path, first)
	if got, err := os.ReadFile(filepath.Join(f.path, "README.md")); err != nil || string(got) != "hello\n" {
		t.Errorf("README.md = %q, %v; want the first commit's", got, err)
	}
}

// names lists the names in folder dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestEarlyCheckoutFullHistory: at full history git sends trees as deltas
// on other trees; the trees of the commit are made from their bases as
// they come, and its files written early all the same.
func TestEarlyCheckoutFullHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	files := map[string]string{}
	for i := range 60 {
		files[fmt.Sprintf("src/d%d/f%02d.txt", i%3, i)] = fmt.Sprintf("file %d\n", i)
		files[fmt.Sprintf("t%02d.txt", i)] = fmt.Sprintf("top %d\n", i)
	}
	f.up.Commit(t, "main", files, "first")
	// Each commit deletes two files: the newest trees are the smallest, so
	// git makes them deltas on older, larger ones.
	for i := range 20 {
		f.up.Commit(t, "main", map[string]string{
			fmt.Sprintf("src/d%d/f%02d.txt", i%3, i): gitsynctest.Deleted,
			fmt.Sprintf("t%02d.txt", i):              gitsynctest.Deleted,
		}, "less")
	}
	sha := f.up.Head(t, "main")
	f.up.Git(t, "repack", "-adfq", "--depth=50", "--window=250")
	for _, tree := range []string{sha + "^{tree}", sha + ":src/d0"} {
		h := f.up.Git(t, "rev-parse", tree)
		if base := f.up.GitInput(t, h+"\n", "cat-file", "--batch-check=%(deltabase)"); strings.Trim(base, "0") == "" {
			t.Fatalf("tree %s is not a delta in the upstream's pack", tree)
		}
	}
	w := watch(t, f.up)
	tg := f.target()
	tg.Remote, tg.Depth = w.url, 0
	_, log := f.sync(t, tg)
	assertLogHas(t, log, "80 of the files written as the pack arrived")
	assertSame(t, f.path, gitClone(t, w.url, 0), sha)
}
