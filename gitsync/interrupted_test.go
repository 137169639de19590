package gitsync

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
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
// next sync, with the old index as its baseline.
func TestInterruptedRepairIsFinished(t *testing.T) {
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{"a": "1", "gone": "x"}, "one")
	f.sync(t, f.target())
	put(t, filepath.Join(f.path, ".env"), "KEEP\n")
	sha := f.up.Commit(t, "main", map[string]string{"gone": gitsynctest.Deleted}, "two")
	if err := os.Rename(filepath.Join(f.path, ".git"), filepath.Join(f.path, oldGitDir)); err != nil {
		t.Fatal(err)
	}
	res, log := f.sync(t, f.target())
	if res.Commit != sha || !strings.Contains(log, "repair") || exists(filepath.Join(f.path, oldGitDir)) {
		t.Fatalf("commit %s, log:\n%s", res.Commit, log)
	}
	if exists(filepath.Join(f.path, "gone")) || res.Cloned {
		t.Errorf("result %+v; gone, deleted by the commit, still there: %v", res, exists(filepath.Join(f.path, "gone")))
	}
	assertClean(t, f.path, sha)
	if got := readFile(t, filepath.Join(f.path, ".env")); got != "KEEP\n" {
		t.Errorf(".env = %q", got)
	}
}

// Maintain marks the repository as a sync does, so a kill during it is
// repaired by the next Sync; and it leaves alone a repository whose last
// sync or upkeep was killed, for that Sync to repair first.
func TestMaintainUnderTheMarker(t *testing.T) {
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	if _, err := f.s.Sync(context.Background(), f.target(), nil); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(f.path, ".git", syncingMarker)
	if err := f.s.Maintain(context.Background(), f.path, nil); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
	if exists(marker) {
		t.Fatal("Maintain left its marker after it finished")
	}
	put(t, marker, "") // a kill during Maintain leaves the marker
	var log bytes.Buffer
	if err := f.s.Maintain(context.Background(), f.path, &log); err != nil || log.Len() != 0 {
		t.Fatalf("Maintain under a killed one's marker: %v, log %q", err, log.String())
	}
	if !exists(marker) {
		t.Fatal("Maintain removed the marker of a killed upkeep: the next sync would not repair")
	}
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	res, out := f.sync(t, f.target())
	if !strings.Contains(out, "interrupted") || res.Commit != sha {
		t.Errorf("the sync after a killed upkeep: commit %s, log:\n%s", res.Commit, out)
	}
	assertClean(t, f.path, sha)
}
