package gitsync

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// TestLstatAllAsOs: for files of every kind a working copy can hold (and a
// fifo, mode bits beyond the permissions, a missing file, a file under a
// file, a file under a missing folder) lstatAll gives what os.Lstat gives:
// the same name, size, mode, time and stat data, or the same error.
func TestLstatAllAsOs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(p, content string, perm os.FileMode) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(full, perm); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "a", 0o644)
	write("b/run", "#!/bin/sh\n", 0o755)
	write("b/c/deep.txt", "deep", 0o600)
	write("b/special", "x", 0o644|os.ModeSetuid|os.ModeSetgid)
	write("d/file", "f", 0o644)
	if err := os.Symlink("../a.txt", filepath.Join(dir, "b", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "b", "sticky"), 0o755|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "b", "sticky"), 0o755|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "b", "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := []string{"a.txt", "b/c/deep.txt", "b/fifo", "b/link", "b/missing", "b/run", "b/special", "b/sticky",
		"d/file", "d/file/under", "e/none", "a.txt"}
	full := func(p string) string { return filepath.Join(dir, p) }
	got := make([]preStat, len(paths))
	lstatAll(paths, full, got)
	for i, p := range paths {
		want, werr := os.Lstat(full(p))
		g := got[i]
		switch {
		case werr != nil || g.err != nil:
			if werr == nil || g.err == nil || werr.Error() != g.err.Error() {
				t.Errorf("%s: error %v, os.Lstat: %v", p, g.err, werr)
			}
		case g.fi.Name() != want.Name() || g.fi.Size() != want.Size() || g.fi.Mode() != want.Mode() ||
			!g.fi.ModTime().Equal(want.ModTime()) || g.fi.IsDir() != want.IsDir():
			t.Errorf("%s: %s %d %v %v, os.Lstat: %s %d %v %v", p, g.fi.Name(), g.fi.Size(), g.fi.Mode(), g.fi.ModTime(),
				want.Name(), want.Size(), want.Mode(), want.ModTime())
		case !reflect.DeepEqual(g.fi.Sys(), want.Sys()):
			t.Errorf("%s: stat data %+v, os.Lstat: %+v", p, g.fi.Sys(), want.Sys())
		}
	}
	if got[7].fi == nil || got[7].fi.Mode()&os.ModeSticky == 0 || got[6].fi.Mode()&os.ModeSetuid == 0 {
		t.Error("the mode bits beyond the permissions were not there to compare")
	}
}
