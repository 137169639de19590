package gitsync

import (
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

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
