package gitsync

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sync killed part-way (marker left, shallow list lost: go-git writes the
// pack before it) is repaired by fetching the repository again; the
// working copy's untracked files stay and it ends at the right commit.
func TestInterruptedSyncIsRepaired(t *testing.T) {
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{".gitignore": ".env\n", "a": "1"}, "one")
	f.sync(t, f.target())
	put(t, filepath.Join(f.path, ".env"), "SECRET=1\n")
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	f.up.Commit(t, "main", map[string]string{"a": "3"}, "three")
	put(t, filepath.Join(f.path, ".git", syncingMarker), "")
	if err := os.Remove(filepath.Join(f.path, ".git", "shallow")); err != nil {
		t.Fatal(err)
	}
	tg := f.target()
	tg.Commit = sha // an older commit: needs history the broken copy does not have
	res, log := f.sync(t, tg)
	if !strings.Contains(log, "interrupted") || res.Commit != sha {
		t.Fatalf("commit %s, log:\n%s", res.Commit, log)
	}
	assertClean(t, f.path, sha)
	if got := readFile(t, filepath.Join(f.path, ".env")); got != "SECRET=1\n" {
		t.Errorf(".env = %q after the repair", got)
	}
	if exists(filepath.Join(f.path, ".git", syncingMarker)) {
		t.Error("the marker is left after a sync that succeeded")
	}
}

// A first sync killed inside git init leaves a .git and nothing else: the
// next sync makes it again instead of refusing the folder.
func TestHalfMadeGitDirIsRemade(t *testing.T) {
	f := newFixture(t)
	sha := f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	if err := os.MkdirAll(filepath.Join(f.path, ".git", "objects"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, log := f.sync(t, f.target())
	if res.Commit != sha || !strings.Contains(log, "half-made") {
		t.Fatalf("commit %s, log:\n%s", res.Commit, log)
	}
	assertClean(t, f.path, sha)
}

// A repair killed after it moved the broken .git aside is finished by the
// next sync.
func TestInterruptedRepairIsFinished(t *testing.T) {
	f := newFixture(t)
	sha := f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	f.sync(t, f.target())
	put(t, filepath.Join(f.path, ".env"), "KEEP\n")
	if err := os.Rename(filepath.Join(f.path, ".git"), filepath.Join(f.path, oldGitDir)); err != nil {
		t.Fatal(err)
	}
	res, log := f.sync(t, f.target())
	if res.Commit != sha || !strings.Contains(log, "repair") || exists(filepath.Join(f.path, oldGitDir)) {
		t.Fatalf("commit %s, log:\n%s", res.Commit, log)
	}
	assertClean(t, f.path, sha)
	if got := readFile(t, filepath.Join(f.path, ".env")); got != "KEEP\n" {
		t.Errorf(".env = %q", got)
	}
}
