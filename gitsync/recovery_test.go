package gitsync

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// A sync that fails while fetching (the upstream moved away) leaves nothing
// to repair: the next one fetches only what is new and removes the file the
// new commit deletes. Before, the marker stayed, the next sync made .git
// anew without a baseline and gone.txt stayed behind as an untracked file.
func TestFailedFetchLeavesNothingToRepair(t *testing.T) {
	t.Parallel()
	for _, depth := range []int{1, 0} {
		t.Run(map[int]string{1: "depth 1", 0: "full history"}[depth], func(t *testing.T) {
			f := newFixture(t)
			tg := f.target()
			tg.Depth = depth
			first := f.up.Commit(t, "main", map[string]string{".gitignore": ".env\n", "a.txt": "a", "gone.txt": "bye"}, "one")
			f.sync(t, tg)
			testkit.WriteFile(t, filepath.Join(f.path, ".env"), "SECRET=1\n")
			packs := packFiles(t, f.path)

			away := f.up.Path() + ".away"
			if err := os.Rename(f.up.Path(), away); err != nil {
				t.Fatal(err)
			}
			if _, log, err := f.trySync(tg); err == nil {
				t.Fatalf("sync from a missing upstream succeeded:\n%s", log)
			}
			if testkit.Exists(filepath.Join(f.path, ".git", syncingMarker)) {
				t.Error("a failed fetch left the syncing marker")
			}
			if err := os.Rename(away, f.up.Path()); err != nil {
				t.Fatal(err)
			}
			second := f.up.Commit(t, "main", map[string]string{"gone.txt": gitsynctest.Deleted, "b.txt": "b"}, "two")
			res, log := f.sync(t, tg)
			if strings.Contains(log, "interrupted") || strings.Contains(log, "again") {
				t.Errorf("the sync after a failed one repaired the repository:\n%s", log)
			}
			if res.Cloned || res.Previous != first || res.Commit != second || res.Removed != 1 {
				t.Errorf("result = %+v", res)
			}
			if testkit.Exists(filepath.Join(f.path, "gone.txt")) {
				t.Error("gone.txt, deleted by the commit, is still there")
			}
			if got := testkit.ReadFile(t, filepath.Join(f.path, ".env")); got != "SECRET=1\n" {
				t.Errorf(".env = %q", got)
			}
			assertClean(t, f.path, second)
			if depth == 0 {
				if after := packFiles(t, f.path); !containsAll(after, packs) || len(after) != len(packs)+1 {
					t.Errorf("packs before %v, after %v: history fetched again", packs, after)
				}
			}
		})
	}
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// Every way a sync can fail before it touches the tree leaves no marker and
// no temporary pack, and the next sync is an ordinary one.
func TestFailedSyncLeavesNoMarker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(t *testing.T, f *fixture, tg *Target)
	}{
		{"upstream missing", func(t *testing.T, f *fixture, tg *Target) {
			tg.Remote = filepath.Join(t.TempDir(), "nothing.git")
		}},
		{"branch missing", func(t *testing.T, f *fixture, tg *Target) { tg.Ref = "refs/heads/nope" }},
		{"commit not found", func(t *testing.T, f *fixture, tg *Target) {
			tg.Commit = "1234abc000000000000000000000000000000000"
		}},
		{"authentication", func(t *testing.T, f *fixture, tg *Target) {
			tg.Remote = f.up.ServeHTTPAuth(t, "deploy", "right")
		}},
		{"timeout", func(t *testing.T, f *fixture, tg *Target) {
			tg.Remote, tg.Timeout = hangingRemote(t), 500*time.Millisecond
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newDeployed(t, map[string]string{"a": "1"})
			sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
			tg := f.target()
			tc.break_(t, f, &tg)
			if _, log, err := f.trySync(tg); err == nil {
				t.Fatalf("sync succeeded:\n%s", log)
			}
			if testkit.Exists(filepath.Join(f.path, ".git", syncingMarker)) {
				t.Error("the failed sync left the syncing marker")
			}
			if tmp, _ := filepath.Glob(filepath.Join(f.path, ".git", "objects", "pack", "tmp_*")); len(tmp) > 0 {
				t.Errorf("temporary packs left: %v", tmp)
			}
			res, log := f.sync(t, f.target())
			if strings.Contains(log, "interrupted") || res.Commit != sha || res.Cloned {
				t.Errorf("result %+v, log:\n%s", res, log)
			}
			assertClean(t, f.path, sha)
		})
	}
}

// A sync killed while it wrote the tree (its marker left behind) is
// repaired once, and the repaired working copy ends exactly at the target:
// the files the target deletes are removed (the old index, or else the old
// HEAD's file list, is the checkout's baseline) and untracked files stay.
func TestKilledSyncIsRepairedOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, git string)
	}{
		{"killed in the checkout", func(t *testing.T, git string) {
			testkit.WriteFile(t, filepath.Join(git, "index.lock"), "half an index")
		}},
		{"index unreadable", func(t *testing.T, git string) {
			testkit.WriteFile(t, filepath.Join(git, "index"), "not an index")
		}},
		{"index missing", func(t *testing.T, git string) {
			if err := os.Remove(filepath.Join(git, "index")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, first := newDeployed(t, map[string]string{"a.txt": "a", "gone.txt": "bye", "d/x": "x"})
			testkit.WriteFile(t, filepath.Join(f.path, ".env"), "KEEP\n")
			sha := f.up.Commit(t, "main", map[string]string{"gone.txt": gitsynctest.Deleted,
				"d/x": gitsynctest.Deleted, "a.txt": "A"}, "two")
			git := filepath.Join(f.path, ".git")
			testkit.WriteFile(t, filepath.Join(git, syncingMarker), "")
			testkit.WriteFile(t, filepath.Join(f.path, "a.txt"), "A") // the killed checkout wrote one file
			tc.setup(t, git)

			res, log := f.sync(t, f.target())
			if n := strings.Count(log, "interrupted"); n != 1 {
				t.Errorf("repair announced %d times:\n%s", n, log)
			}
			if res.Cloned || res.Commit != sha || res.Previous != first {
				t.Errorf("result = %+v", res)
			}
			for _, p := range []string{"gone.txt", "d/x", "d"} {
				if testkit.Exists(filepath.Join(f.path, p)) {
					t.Errorf("%s, deleted by the commit, is still there", p)
				}
			}
			if got := testkit.ReadFile(t, filepath.Join(f.path, ".env")); got != "KEEP\n" {
				t.Errorf(".env = %q", got)
			}
			if len(res.Overwritten) != 0 {
				t.Errorf("overwritten %v", res.Overwritten)
			}
			assertClean(t, f.path, sha)
			if testkit.Exists(filepath.Join(git, syncingMarker)) || testkit.Exists(filepath.Join(f.path, oldGitDir)) ||
				testkit.Exists(filepath.Join(f.path, droppedGitDir)) {
				t.Error("repair left its traces")
			}
		})
	}
}

// A first sync that failed leaves a .git behind: the next sync does not
// count as the first clone.
func TestClonedOnlyForTheFirstClone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tg := f.target()
	tg.Ref = "refs/heads/later"
	if _, _, err := f.trySync(tg); err == nil {
		t.Fatal("sync of a missing branch succeeded")
	}
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	if res, _ := f.sync(t, f.target()); res.Cloned {
		t.Errorf("Cloned after a failed first sync: %+v", res)
	}
	g := newFixture(t)
	g.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	if res, _ := g.sync(t, g.target()); !res.Cloned {
		t.Errorf("Cloned false for the first clone: %+v", res)
	}
}

// A sync killed part-way (marker left, shallow list lost: go-git writes the
// pack before it) is repaired by fetching the repository again; the
// working copy's untracked files stay and it ends at the right commit.
func TestInterruptedSyncIsRepaired(t *testing.T) {
	f, _ := newDeployed(t, map[string]string{".gitignore": ".env\n", "a": "1"})
	testkit.WriteFile(t, filepath.Join(f.path, ".env"), "SECRET=1\n")
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	f.up.Commit(t, "main", map[string]string{"a": "3"}, "three")
	testkit.WriteFile(t, filepath.Join(f.path, ".git", syncingMarker), "")
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
	if got := testkit.ReadFile(t, filepath.Join(f.path, ".env")); got != "SECRET=1\n" {
		t.Errorf(".env = %q after the repair", got)
	}
	if testkit.Exists(filepath.Join(f.path, ".git", syncingMarker)) {
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
	f, _ := newDeployed(t, map[string]string{"a": "1", "gone": "x"})
	testkit.WriteFile(t, filepath.Join(f.path, ".env"), "KEEP\n")
	sha := f.up.Commit(t, "main", map[string]string{"gone": gitsynctest.Deleted}, "two")
	if err := os.Rename(filepath.Join(f.path, ".git"), filepath.Join(f.path, oldGitDir)); err != nil {
		t.Fatal(err)
	}
	res, log := f.sync(t, f.target())
	if res.Commit != sha || !strings.Contains(log, "repair") || testkit.Exists(filepath.Join(f.path, oldGitDir)) {
		t.Fatalf("commit %s, log:\n%s", res.Commit, log)
	}
	if testkit.Exists(filepath.Join(f.path, "gone")) || res.Cloned {
		t.Errorf("result %+v; gone, deleted by the commit, still there: %v", res, testkit.Exists(filepath.Join(f.path, "gone")))
	}
	assertClean(t, f.path, sha)
	if got := testkit.ReadFile(t, filepath.Join(f.path, ".env")); got != "KEEP\n" {
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
	if testkit.Exists(marker) {
		t.Fatal("Maintain left its marker after it finished")
	}
	testkit.WriteFile(t, marker, "") // a kill during Maintain leaves the marker
	var log bytes.Buffer
	if err := f.s.Maintain(context.Background(), f.path, &log); err != nil || log.Len() != 0 {
		t.Fatalf("Maintain under a killed one's marker: %v, log %q", err, log.String())
	}
	if !testkit.Exists(marker) {
		t.Fatal("Maintain removed the marker of a killed upkeep: the next sync would not repair")
	}
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	res, out := f.sync(t, f.target())
	if !strings.Contains(out, "interrupted") || res.Commit != sha {
		t.Errorf("the sync after a killed upkeep: commit %s, log:\n%s", res.Commit, out)
	}
	assertClean(t, f.path, sha)
}
