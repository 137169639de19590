package gitsync

import (
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// snapshot records content, mode and mtime of the files under root.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = fmt.Sprintf("%v %v %q", fi.Mode(), fi.ModTime().UnixNano(), b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUntrackedAndIgnoredSurviveTenSyncs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	older := f.up.Orphan(t, map[string]string{"index.php": "older history"}, "older")
	f.up.Commit(t, "main", map[string]string{".gitignore": "node_modules/\n.env\nuploads/\n", "index.php": "v0"}, "init")
	f.sync(t, f.target())

	testkit.WriteFile(t, filepath.Join(f.path, ".env"), "DB_PASSWORD=secret\n")
	for i := range 50 {
		testkit.WriteFile(t, filepath.Join(f.path, "node_modules", fmt.Sprintf("pkg%d", i%5), "index.js"), fmt.Sprint(i))
	}
	testkit.WriteFile(t, filepath.Join(f.path, "uploads", "photo.jpg"), "\x00\xff binary")
	if err := os.Symlink("../.env", filepath.Join(f.path, "node_modules", "env-link")); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, filepath.Join(f.path, "node_modules"))
	maps.Copy(before, snapshot(t, filepath.Join(f.path, "uploads")))
	env := testkit.ReadFile(t, filepath.Join(f.path, ".env"))

	for i := 1; i <= 10; i++ {
		switch i {
		case 5:
			f.up.ForcePush(t, "main", older)
		case 6:
			f.up.Commit(t, "main", map[string]string{"node_modules.txt": "x", "uploads.txt": "y"}, "after force-push")
		default:
			f.up.Commit(t, "main", map[string]string{"index.php": fmt.Sprint("v", i), fmt.Sprint("f", i): "new"}, "next")
		}
		res, _ := f.sync(t, f.target())
		if len(res.Overwritten) != 0 {
			t.Errorf("sync %d overwrote %v", i, res.Overwritten)
		}
	}
	after := snapshot(t, filepath.Join(f.path, "node_modules"))
	maps.Copy(after, snapshot(t, filepath.Join(f.path, "uploads")))
	if !maps.Equal(before, after) {
		t.Errorf("ignored files changed:\nbefore %v\nafter  %v", before, after)
	}
	if got := testkit.ReadFile(t, filepath.Join(f.path, ".env")); got != env {
		t.Errorf(".env = %q, want %q", got, env)
	}
	assertClean(t, f.path, f.up.Head(t, "main"))
}

func TestLocalEditsAreOverwritten(t *testing.T) {
	t.Parallel()
	base := map[string]string{"config.php": "<?php $debug = false;", "keep.txt": "keep", "gone.txt": "gone"}
	tests := []struct {
		name     string
		edit     func(t *testing.T, dir string)
		next     map[string]string // committed before the second sync
		want     []string          // Result.Overwritten
		wantLine string
	}{
		{"edited, commit leaves it alone", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "config.php"), "<?php $debug = true; // local")
		}, map[string]string{"other": "x"}, []string{"config.php"}, "overwrote local edits: config.php"},
		{"edited, commit changes it", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "config.php"), "local")
		}, map[string]string{"config.php": "upstream"}, []string{"config.php"}, "overwrote local edits: config.php"},
		{"same size edit with mtime put back", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "config.php")
			fi, _ := os.Stat(p)
			testkit.WriteFile(t, p, "<?php $debug = FALSE;")
			if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"other": "x"}, []string{"config.php"}, "overwrote local edits: config.php"},
		{"made executable", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "config.php"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"other": "x"}, []string{"config.php"}, "overwrote local edits: config.php"},
		{"edited, commit deletes it", func(t *testing.T, dir string) {
			testkit.WriteFile(t, filepath.Join(dir, "gone.txt"), "local")
		}, map[string]string{"gone.txt": gitsynctest.Deleted}, []string{"gone.txt"}, "removed locally edited file: gone.txt"},
		{"deleted locally is restored quietly", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "keep.txt")); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"other": "x"}, nil, ": 2 written, 0 removed"},
		{"touched but same content", func(t *testing.T, dir string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "keep.txt"), later, later); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"other": "x"}, nil, ": 1 written, 0 removed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newDeployed(t, base)
			tc.edit(t, f.path)
			sha := f.up.Commit(t, "main", tc.next, "next")
			res, log := f.sync(t, f.target())
			if !slices.Equal(res.Overwritten, tc.want) {
				t.Errorf("Overwritten = %q, want %q", res.Overwritten, tc.want)
			}
			assertLogHas(t, log, tc.wantLine)
			assertClean(t, f.path, sha)
		})
	}
}

func TestUntrackedInTheWayIsReplaced(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		local func(t *testing.T, dir string)
		add   map[string]string
		want  []string
	}{
		{"file", func(t *testing.T, dir string) { testkit.WriteFile(t, filepath.Join(dir, "new.txt"), "mine") },
			map[string]string{"new.txt": "theirs"}, []string{"new.txt"}},
		{"file with the same content", func(t *testing.T, dir string) { testkit.WriteFile(t, filepath.Join(dir, "new.txt"), "same") },
			map[string]string{"new.txt": "same"}, nil},
		{"directory where a file goes", func(t *testing.T, dir string) { testkit.WriteFile(t, filepath.Join(dir, "new", "x"), "mine") },
			map[string]string{"new": "theirs"}, []string{"new/"}},
		{"file where a directory goes", func(t *testing.T, dir string) { testkit.WriteFile(t, filepath.Join(dir, "lib"), "mine") },
			map[string]string{"lib/a.php": "theirs"}, []string{"lib"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newDeployed(t, map[string]string{"a": "a"})
			tc.local(t, f.path)
			sha := f.up.Commit(t, "main", tc.add, "add")
			res, _ := f.sync(t, f.target())
			if !slices.Equal(res.Overwritten, tc.want) {
				t.Errorf("Overwritten = %q, want %q", res.Overwritten, tc.want)
			}
			for p, c := range tc.add {
				if got := testkit.ReadFile(t, filepath.Join(f.path, p)); got != c {
					t.Errorf("%s = %q, want %q", p, got, c)
				}
			}
			assertClean(t, f.path, sha)
		})
	}
}

func TestCleanRemovesUntrackedAndIgnored(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{".gitignore": "node_modules/\n.env\n", "src/app.js": "app"})
	testkit.WriteFile(t, filepath.Join(f.path, ".env"), "x")
	testkit.WriteFile(t, filepath.Join(f.path, "node_modules", "a", "b.js"), "x")
	testkit.WriteFile(t, filepath.Join(f.path, "src", "untracked.js"), "x")
	testkit.WriteFile(t, filepath.Join(f.path, "nested", ".git", "HEAD"), "x")
	if err := os.Mkdir(filepath.Join(f.path, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	sha := f.up.Commit(t, "main", map[string]string{"src/lib.js": "lib"}, "next")

	tg := f.target()
	tg.Clean = true
	res, log := f.sync(t, tg)
	want := map[string]string{".gitignore": "node_modules/\n.env\n", "src/app.js": "app", "src/lib.js": "lib"}
	if got := files(t, f.path); !maps.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	for _, p := range []string{"empty", "nested", "node_modules"} {
		if testkit.Exists(filepath.Join(f.path, p)) {
			t.Errorf("%s survived the clean", p)
		}
	}
	if res.Cleaned != 5 || !strings.Contains(log, "clean: removed node_modules") {
		t.Errorf("Cleaned = %d, log:\n%s", res.Cleaned, log)
	}
	assertClean(t, f.path, sha)
}

func TestModesRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.CommitFiles(t, "main", []gitsynctest.File{
		{Path: "run.sh", Content: "#!/bin/sh\necho hi\n", Mode: gitsynctest.Executable},
		{Path: "plain.txt", Content: "plain"},
		{Path: "link", Content: "plain.txt", Mode: gitsynctest.Symlink},
		{Path: "dirlink", Content: "sub", Mode: gitsynctest.Symlink},
		{Path: "sub/file", Content: "in sub"},
	}, "modes")
	f.sync(t, f.target())
	want := map[string]string{"run.sh": "(x) #!/bin/sh\necho hi\n", "plain.txt": "plain", "link": "-> plain.txt",
		"dirlink": "-> sub", "sub/file": "in sub"}
	if got := files(t, f.path); !maps.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	for p, perm := range map[string]os.FileMode{"run.sh": 0o755, "plain.txt": 0o644} {
		if fi, _ := os.Stat(filepath.Join(f.path, p)); fi.Mode().Perm() != perm {
			t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), perm)
		}
	}
	assertClean(t, f.path, f.up.Head(t, "main"))

	sha := f.up.CommitFiles(t, "main", []gitsynctest.File{
		{Path: "run.sh", Content: "#!/bin/sh\necho hi\n"},
		{Path: "plain.txt", Content: "run.sh", Mode: gitsynctest.Symlink},
		{Path: "link", Content: "now a file"},
	}, "swap modes")
	f.sync(t, f.target())
	want = map[string]string{"run.sh": "#!/bin/sh\necho hi\n", "plain.txt": "-> run.sh", "link": "now a file",
		"dirlink": "-> sub", "sub/file": "in sub"}
	if got := files(t, f.path); !maps.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	assertClean(t, f.path, sha)
}

func TestFileBecomesDirectoryAndBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	states := []map[string]string{
		{"a": "file a", "b/x": "b/x", "b/y/z": "deep"},
		{"a": gitsynctest.Deleted, "a/y": "a/y", "b/x": gitsynctest.Deleted, "b/y/z": gitsynctest.Deleted, "b": "file b"},
		{"a/y": gitsynctest.Deleted, "a": "file a again", "b": gitsynctest.Deleted, "b/x": "b/x again"},
	}
	wants := []map[string]string{
		{"a": "file a", "b/x": "b/x", "b/y/z": "deep"},
		{"a/y": "a/y", "b": "file b"},
		{"a": "file a again", "b/x": "b/x again"},
	}
	for i, st := range states {
		sha := f.up.Commit(t, "main", st, fmt.Sprint("state ", i))
		res, _ := f.sync(t, f.target())
		if got := files(t, f.path); !maps.Equal(got, wants[i]) {
			t.Errorf("state %d: files = %v, want %v", i, got, wants[i])
		}
		if len(res.Overwritten) != 0 {
			t.Errorf("state %d: Overwritten = %v", i, res.Overwritten)
		}
		assertClean(t, f.path, sha)
	}
}

// A folder that already holds a clone of the remote, made with the git CLI
// (shallow or not, with an index git wrote in any version), is adopted as
// it is: no refusal, untracked and ignored files kept, not a first clone.
func TestAdoptsExistingWorkingCopies(t *testing.T) {
	t.Parallel()
	cliClone := func(args ...string) func(t *testing.T, f *fixture) {
		return func(t *testing.T, f *fixture) {
			cmd := []string{"clone", "--quiet"}
			for _, a := range args {
				cmd = append(cmd, strings.ReplaceAll(a, "%UP", f.up.Path()))
			}
			testkit.Git(t, filepath.Dir(f.path), append(cmd, f.path)...)
			testkit.WriteFile(t, filepath.Join(f.path, ".env"), "local")
			testkit.WriteFile(t, filepath.Join(f.path, "node_modules", "x.js"), "ignored")
		}
	}
	tests := []struct {
		name      string
		depth     int
		setup     func(t *testing.T, f *fixture)
		want      []string // Overwritten
		untouched bool     // .env and node_modules/ are there and kept
	}{
		{"shallow clone by the git CLI", 1, cliClone("--depth", "1", "file://%UP"), nil, true},
		{"full clone by the git CLI", 0, cliClone("%UP"), nil, true},
		{"clone with an index of version 4", 0, func(t *testing.T, f *fixture) {
			cliClone("%UP")(t, f)
			testkit.Git(t, f.path, "update-index", "--index-version", "4")
		}, nil, true},
		{"clone with a separate git dir", 0, func(t *testing.T, f *fixture) {
			cliClone("--separate-git-dir", filepath.Join(t.TempDir(), "site.git"), "%UP")(t, f)
		}, nil, true},
		{"index deleted, one local edit", 1, func(t *testing.T, f *fixture) {
			f.sync(t, f.target())
			if err := os.Remove(filepath.Join(f.path, ".git", "index")); err != nil {
				t.Fatal(err)
			}
			testkit.WriteFile(t, filepath.Join(f.path, "b"), "local edit")
		}, []string{"b"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.up.Commit(t, "main", map[string]string{"a": "1", "b": "2", "c/d": "3", ".gitignore": "node_modules/\n"}, "one")
			tc.setup(t, f)
			sha := f.up.Commit(t, "main", map[string]string{"a": "changed", "c/d": gitsynctest.Deleted}, "two")
			tg := f.target()
			tg.Depth = tc.depth
			res, _ := f.sync(t, tg)
			if !slices.Equal(res.Overwritten, tc.want) || res.Cloned || res.Removed != 1 {
				t.Errorf("result = %+v", res)
			}
			assertClean(t, f.path, sha)
			if testkit.Exists(filepath.Join(f.path, "c")) {
				t.Error("c/d, deleted by the commit, is still there")
			}
			if tc.untouched && (testkit.ReadFile(t, filepath.Join(f.path, ".env")) != "local" ||
				testkit.ReadFile(t, filepath.Join(f.path, "node_modules", "x.js")) != "ignored") {
				t.Error(".env or node_modules/ changed")
			}
		})
	}
}

// entry is one raw tree entry: mode, name, object SHA.
type entry struct{ mode, name, sha string }

// rawTree writes a tree object byte by byte, bypassing every check git
// makes, and returns its SHA.
func rawTree(t *testing.T, up *gitsynctest.Upstream, entries ...entry) string {
	t.Helper()
	var b strings.Builder
	for _, e := range entries {
		raw, err := hex.DecodeString(e.sha)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(e.mode + " " + e.name + "\x00" + string(raw))
	}
	return up.GitInput(t, b.String(), "hash-object", "-t", "tree", "-w", "--literally", "--stdin")
}

func TestMaliciousTreesAreRejected(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	tests := []struct {
		name    string
		tree    func(t *testing.T, up *gitsynctest.Upstream) string
		wantErr string
	}{
		{"symlink then a file under it", func(t *testing.T, up *gitsynctest.Upstream) string {
			sub := rawTree(t, up, entry{"100644", "x", up.Blob(t, "pwned")})
			return rawTree(t, up, entry{"120000", "a", up.Blob(t, outside)}, entry{"40000", "a", sub})
		}, `duplicate entry "a"`},
		{"dot-dot", func(t *testing.T, up *gitsynctest.Upstream) string {
			return rawTree(t, up, entry{"100644", "..", up.Blob(t, "pwned")})
		}, `name ".." is not allowed`},
		{".git directory", func(t *testing.T, up *gitsynctest.Upstream) string {
			hooks := rawTree(t, up, entry{"100755", "post-checkout", up.Blob(t, "#!/bin/sh\necho pwned")})
			return rawTree(t, up, entry{"40000", ".GIT", rawTree(t, up, entry{"40000", "hooks", hooks})})
		}, `".GIT" is reserved`},
		{"slash in a name", func(t *testing.T, up *gitsynctest.Upstream) string {
			return rawTree(t, up, entry{"100644", "../../escape", up.Blob(t, "pwned")})
		}, "slash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, good := newDeployed(t, map[string]string{"index.php": "good"})
			f.up.CommitTree(t, "main", tc.tree(t, f.up), "evil")
			_, log, err := f.trySync(f.target())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q\n%s", err, tc.wantErr, log)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("wrote outside the working copy: %v", entries)
			}
			if got := files(t, f.path); !maps.Equal(got, map[string]string{"index.php": "good"}) {
				t.Errorf("working copy changed: %v", got)
			}
			assertClean(t, f.path, good)
		})
	}
}

func TestNeverWritesThroughSymlinks(t *testing.T) {
	t.Parallel()
	// dirToSymlink commits d/x, syncs it, then puts a symlink to outside
	// in place of the folder d.
	dirToSymlink := func(t *testing.T, f *fixture, outside string) {
		f.up.Commit(t, "main", map[string]string{"d/x": "tracked"}, "d")
		f.sync(t, f.target())
		if err := os.RemoveAll(filepath.Join(f.path, "d")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, filepath.Join(f.path, "d")); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fixture, outside string)
		next  map[string]string
		want  []string // Overwritten
	}{
		{"tracked symlink becomes a directory", func(t *testing.T, f *fixture, outside string) {
			f.up.CommitFiles(t, "main", []gitsynctest.File{{Path: "a", Content: outside, Mode: gitsynctest.Symlink}}, "link")
			f.sync(t, f.target())
		}, map[string]string{"a": gitsynctest.Deleted, "a/x": "inside"}, nil},
		{"untracked symlink where a directory goes", func(t *testing.T, f *fixture, outside string) {
			if err := os.Symlink(outside, filepath.Join(f.path, "lib")); err != nil {
				t.Fatal(err)
			}
		}, map[string]string{"lib/x": "inside"}, []string{"lib"}},
		{"tracked directory replaced by a symlink, file deleted", dirToSymlink, map[string]string{"d/x": gitsynctest.Deleted}, nil},
		{"tracked directory replaced by a symlink, file changed", dirToSymlink, map[string]string{"d/x": "changed"}, []string{"d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newDeployed(t, map[string]string{"base": "base"})
			outside := t.TempDir()
			testkit.WriteFile(t, filepath.Join(outside, "x"), "outside, untouchable")
			tc.setup(t, f, outside)
			sha := f.up.Commit(t, "main", tc.next, "next")
			res, _ := f.sync(t, f.target())
			if got := testkit.ReadFile(t, filepath.Join(outside, "x")); got != "outside, untouchable" {
				t.Errorf("outside file = %q", got)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 1 {
				t.Errorf("outside holds %d entries", len(entries))
			}
			if !slices.Equal(res.Overwritten, tc.want) {
				t.Errorf("Overwritten = %q, want %q", res.Overwritten, tc.want)
			}
			assertClean(t, f.path, sha)
		})
	}
}

// TestHashPathReusesItsBuffer checks that hashing a file allocates next to
// nothing beyond the buffer it is given, and gives git's hash.
func TestHashPathReusesItsBuffer(t *testing.T) {
	full := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(full, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(full)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 32<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 100
	for range n {
		h, err := hashPath(full, fi, buf)
		if err != nil || h.String() != "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0" {
			t.Fatalf("hashPath = %s, %v", h, err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 4<<10 {
		t.Fatalf("hashPath allocated %d bytes a call", per)
	}
}
