package gitsync

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
)

// packNames lists the pack files of the working copy's object store.
func packNames(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(path, ".git", "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

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
			put(t, filepath.Join(f.path, ".env"), "SECRET=1\n")
			packs := packNames(t, f.path)

			away := f.up.Path() + ".away"
			if err := os.Rename(f.up.Path(), away); err != nil {
				t.Fatal(err)
			}
			if _, log, err := f.trySync(tg); err == nil {
				t.Fatalf("sync from a missing upstream succeeded:\n%s", log)
			}
			if exists(filepath.Join(f.path, ".git", syncingMarker)) {
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
			if exists(filepath.Join(f.path, "gone.txt")) {
				t.Error("gone.txt, deleted by the commit, is still there")
			}
			if got := readFile(t, filepath.Join(f.path, ".env")); got != "SECRET=1\n" {
				t.Errorf(".env = %q", got)
			}
			assertClean(t, f.path, second)
			if depth == 0 {
				if after := packNames(t, f.path); !containsAll(after, packs) || len(after) != len(packs)+1 {
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
			hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			}))
			t.Cleanup(hang.Close)
			tg.Remote, tg.Timeout = hang.URL+"/repo.git", 500*time.Millisecond
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
			f.sync(t, f.target())
			sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
			tg := f.target()
			tc.break_(t, f, &tg)
			if _, log, err := f.trySync(tg); err == nil {
				t.Fatalf("sync succeeded:\n%s", log)
			}
			if exists(filepath.Join(f.path, ".git", syncingMarker)) {
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
			put(t, filepath.Join(git, "index.lock"), "half an index")
		}},
		{"index unreadable", func(t *testing.T, git string) {
			put(t, filepath.Join(git, "index"), "not an index")
		}},
		{"index missing", func(t *testing.T, git string) {
			if err := os.Remove(filepath.Join(git, "index")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			first := f.up.Commit(t, "main", map[string]string{"a.txt": "a", "gone.txt": "bye", "d/x": "x"}, "one")
			f.sync(t, f.target())
			put(t, filepath.Join(f.path, ".env"), "KEEP\n")
			sha := f.up.Commit(t, "main", map[string]string{"gone.txt": gitsynctest.Deleted,
				"d/x": gitsynctest.Deleted, "a.txt": "A"}, "two")
			git := filepath.Join(f.path, ".git")
			put(t, filepath.Join(git, syncingMarker), "")
			put(t, filepath.Join(f.path, "a.txt"), "A") // the killed checkout wrote one file
			tc.setup(t, git)

			res, log := f.sync(t, f.target())
			if n := strings.Count(log, "interrupted"); n != 1 {
				t.Errorf("repair announced %d times:\n%s", n, log)
			}
			if res.Cloned || res.Commit != sha || res.Previous != first {
				t.Errorf("result = %+v", res)
			}
			for _, p := range []string{"gone.txt", "d/x", "d"} {
				if exists(filepath.Join(f.path, p)) {
					t.Errorf("%s, deleted by the commit, is still there", p)
				}
			}
			if got := readFile(t, filepath.Join(f.path, ".env")); got != "KEEP\n" {
				t.Errorf(".env = %q", got)
			}
			if len(res.Overwritten) != 0 {
				t.Errorf("overwritten %v", res.Overwritten)
			}
			assertClean(t, f.path, sha)
			if exists(filepath.Join(git, syncingMarker)) || exists(filepath.Join(f.path, oldGitDir)) ||
				exists(filepath.Join(f.path, droppedGitDir)) {
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
