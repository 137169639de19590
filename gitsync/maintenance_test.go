package gitsync

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

func TestIndexLock(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		age       time.Duration // of the lock found
		releaseIn time.Duration // 0: never released by its holder
		timeout   time.Duration
		wantLine  string
		wantErr   string
	}{
		{"stale lock is removed", time.Hour, 0, time.Minute, "removed stale .git/index.lock", ""},
		{"held lock is waited for", 0, 300 * time.Millisecond, time.Minute, "", ""},
		{"lock held past the timeout", 0, 0, time.Second, "", "wait for " + "%LOCK%" + " held by another git process: context deadline exceeded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := newDeployed(t, map[string]string{"a": "1"})
			sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
			lock := filepath.Join(f.path, ".git", "index.lock")
			testkit.WriteFile(t, lock, "")
			old := time.Now().Add(-tc.age)
			if err := os.Chtimes(lock, old, old); err != nil {
				t.Fatal(err)
			}
			if tc.releaseIn > 0 {
				time.AfterFunc(tc.releaseIn, func() { os.Remove(lock) })
			}
			tg := f.target()
			tg.Timeout = tc.timeout
			_, log, err := f.trySync(tg)
			if tc.wantErr != "" {
				want := strings.ReplaceAll(tc.wantErr, "%LOCK%", lock)
				if err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v\n%s", err, log)
			}
			assertLogHas(t, log, tc.wantLine)
			assertClean(t, f.path, sha)
		})
	}
}

func TestSubmodules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		submodules bool
		want       string // content of vendor/lib/lib.txt, "" if absent
	}{
		{"off leaves an empty directory", false, ""},
		{"on initialises and updates", true, "lib v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			lib := gitsynctest.NewUpstream(t)
			v1 := lib.Commit(t, "main", map[string]string{"lib.txt": "lib v1"}, "lib 1")
			gitmodules := fmt.Sprintf("[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = %s\n", lib.Path())
			f.up.CommitFiles(t, "main", []gitsynctest.File{
				{Path: ".gitmodules", Content: gitmodules},
				{Path: "vendor/lib", Content: v1, Mode: gitsynctest.Gitlink},
			}, "add lib")
			tg := f.target()
			tg.Submodules = tc.submodules
			f.sync(t, tg)
			v2 := lib.Commit(t, "main", map[string]string{"lib.txt": "lib v2"}, "lib 2")
			sha := f.up.CommitFiles(t, "main", []gitsynctest.File{{Path: "vendor/lib", Content: v2, Mode: gitsynctest.Gitlink}}, "bump lib")
			f.sync(t, tg)

			got, err := os.ReadFile(filepath.Join(f.path, "vendor", "lib", "lib.txt"))
			if string(got) != tc.want || (tc.want == "") != os.IsNotExist(err) {
				t.Errorf("lib.txt = %q (%v), want %q", got, err, tc.want)
			}
			if fi, err := os.Stat(filepath.Join(f.path, "vendor", "lib")); err != nil || !fi.IsDir() {
				t.Errorf("vendor/lib is not a directory: %v", err)
			}
			assertGit(t, f.path, sha, "rev-parse", "HEAD")
			if got := testkit.Git(t, f.path, "ls-files", "--stage", "vendor/lib"); !strings.HasPrefix(got, "160000 "+v2) {
				t.Errorf("index entry = %q", got)
			}
		})
	}
}

func TestObjectStoreMaintenance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		depth      int
		wantLine   string
		wantPruned bool // the force-pushed-away commit is gone
		// compact is the pack count that compacts or merges: a shallow copy
		// checks for superseded packs before (at 3 packs, then at 3 more
		// than the last check left).
		compact int
	}{
		{"shallow: superseded packs are dropped", 1, "packs superseded by later fetches", true, 6},
		{"full: all packs but the largest are merged", 0, "merged 3 packs into one", false, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.s.compactPacks = tc.compact
			tg := f.target()
			tg.Depth = tc.depth
			f.up.Commit(t, "main", map[string]string{"a": "0"}, "c0")
			f.sync(t, tg)
			var abandoned string
			seen := false
			for i := 1; i <= 6; i++ {
				if i == 4 {
					abandoned = f.up.Head(t, "main")
					f.up.ForcePush(t, "main", f.up.Orphan(t, map[string]string{"a": "rewritten"}, "rewritten"))
				}
				f.up.Commit(t, "main", map[string]string{"a": fmt.Sprint(i), fmt.Sprint("f", i): "x"}, "next")
				_, log := f.sync(t, tg)
				seen = seen || strings.Contains(log, tc.wantLine)
				if packs := packFiles(t, f.path); len(packs) > tc.compact {
					t.Errorf("sync %d: %d packs", i, len(packs))
				}
			}
			if !seen {
				t.Errorf("log never said %q", tc.wantLine)
			}
			if tc.wantPruned && exec.Command("git", "-C", f.path, "cat-file", "-e", abandoned).Run() == nil {
				t.Errorf("force-pushed-away commit %s survived", abandoned)
			}
			testkit.Git(t, f.path, "fsck", "--no-progress", "--no-dangling")
			if b := testkit.ReadIfExists(filepath.Join(f.path, ".git", "shallow")); strings.Count(b, "\n") > redundantPackCheck+1 { // pruned at each check
				t.Errorf(".git/shallow keeps growing:\n%s", b)
			}
			assertClean(t, f.path, f.up.Head(t, "main"))
			f.up.Commit(t, "main", map[string]string{"a": "after"}, "after")
			f.sync(t, tg)
			assertClean(t, f.path, f.up.Head(t, "main"))
		})
	}
}

func TestConcurrentSyncsOfDifferentPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sha := f.up.Commit(t, "main", map[string]string{"a": "1", "b/c": "2"}, "one")
	url := f.up.ServeHTTP(t)
	var wg sync.WaitGroup
	paths := make([]string, 6)
	for i := range paths {
		paths[i] = filepath.Join(t.TempDir(), "wc")
		wg.Go(func() {
			tg := f.target()
			tg.Path = paths[i]
			if i%2 == 0 {
				tg.Remote = url
			}
			if _, err := f.s.Sync(context.Background(), tg, nil); err != nil {
				t.Errorf("sync %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for _, p := range paths {
		assertClean(t, p, sha)
	}
}

// TestInterruptedCheckoutResumes stops a checkout half-way (as a timeout
// would) and checks that the index written then lets the next sync finish
// without reporting its own files as local edits.
func TestInterruptedCheckoutResumes(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "a"})
	many := make(map[string]string)
	for i := range 200 {
		many[fmt.Sprintf("d%d/f%03d", i%7, i)] = fmt.Sprint(i)
	}
	sha := f.up.Commit(t, "main", many, "many")

	wc, commit, jl := openFetched(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	co, err := newCheckout(ctx, wc, wc.headCommit(), commit, jl, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := co.run(); err != context.Canceled || co.written == 0 || co.written >= 200 {
		t.Fatalf("run = %v after %d files", err, co.written)
	}

	res, _ := f.sync(t, f.target())
	if len(res.Overwritten) != 0 || res.Written != 200-co.written {
		t.Errorf("resumed: %+v (first run wrote %d)", res, co.written)
	}
	assertClean(t, f.path, sha)
}

// TestMergeKeepsLargestPack checks that merging the packs of a full-history
// working copy leaves the largest pack (the first clone's) untouched.
func TestMergeKeepsLargestPack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.compactPacks = 4
	tg := f.target()
	tg.Depth = 0
	big := make(map[string]string)
	for i := range 300 {
		big[fmt.Sprintf("d%d/f%03d", i%5, i)] = strings.Repeat(fmt.Sprint(i), 50)
	}
	f.up.Commit(t, "main", big, "big")
	f.sync(t, tg)
	base := packFiles(t, f.path)
	if len(base) != 1 {
		t.Fatalf("after clone: %d packs, want 1", len(base))
	}
	baseInfo, err := os.Stat(base[0])
	if err != nil {
		t.Fatal(err)
	}
	merged := false
	for i := 1; i <= 3; i++ {
		f.up.Commit(t, "main", map[string]string{"small": fmt.Sprint(i)}, "small")
		_, log := f.sync(t, tg)
		merged = merged || strings.Contains(log, "merged 3 packs into one")
	}
	if !merged {
		t.Fatal("no merge happened")
	}
	packs := packFiles(t, f.path)
	if len(packs) != 2 {
		t.Errorf("after merge: %d packs, want 2: %v", len(packs), packs)
	}
	fi, err := os.Stat(base[0])
	if err != nil {
		t.Fatalf("largest pack is gone: %v", err)
	}
	if fi.Size() != baseInfo.Size() || !fi.ModTime().Equal(baseInfo.ModTime()) {
		t.Errorf("largest pack changed: %d bytes at %s, was %d at %s",
			fi.Size(), fi.ModTime(), baseInfo.Size(), baseInfo.ModTime())
	}
	testkit.Git(t, f.path, "fsck", "--no-progress", "--no-dangling")
	assertClean(t, f.path, f.up.Head(t, "main"))
}

// packFiles lists the pack files of the working copy's object store.
func packFiles(t *testing.T, wc string) []string {
	t.Helper()
	return packGlob(t, wc, "*.pack")
}

// packGlob lists the files of the working copy's pack folder that match
// pattern.
func packGlob(t *testing.T, wc, pattern string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(wc, ".git", "objects", "pack", pattern))
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestNoDescriptorLeak checks that the pack files a sync keeps open are
// closed when it ends. Not parallel: it counts the process's descriptors.
func TestNoDescriptorLeak(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts /proc/self/fd")
	}
	f := newFixture(t)
	f.s.compactPacks = 5
	tg := f.target()
	tg.Depth = 0
	f.up.Commit(t, "main", map[string]string{"a": "0"}, "c0")
	f.sync(t, tg) // warm up: the runtime opens some descriptors once
	before := openFDs(t)
	for i := 1; i <= 20; i++ {
		f.up.Commit(t, "main", map[string]string{"a": fmt.Sprint(i)}, "next")
		f.sync(t, tg)
	}
	deadline := time.Now().Add(5 * time.Second)
	after := openFDs(t)
	for after > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // a child's pipes may close late
		after = openFDs(t)
	}
	if after > before {
		t.Errorf("open descriptors: %d before 20 syncs, %d after", before, after)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The daemon's log lines carry the deployed commit as "commit", since the
// caller's logger already has "sha" (the delivered commit), and durations
// in milliseconds as "_ms" fields: no key appears twice in a line.
func TestLogFields(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "1"})
	f.s.staleLock = 0
	sha := f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	testkit.WriteFile(t, filepath.Join(f.path, "a"), "local edit")
	testkit.WriteFile(t, filepath.Join(f.path, ".git", "index.lock"), "")
	var buf bytes.Buffer
	logger := zerolog.New(&buf).With().Str("sha", "delivered").Logger()
	if _, err := f.s.Sync(logger.WithContext(context.Background()), f.target(), nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"working copy synced":                  `"commit":"` + sha + `"`,
		"local change overwritten by checkout": `"commit":"` + sha + `"`,
		"removed stale index.lock":             `"age_ms":`,
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(line, `"sha":`); n != 1 {
			t.Errorf("%d sha fields in %s", n, line)
		}
		for msg, field := range want {
			if strings.Contains(line, `"message":"`+msg+`"`) {
				if !strings.Contains(line, field) {
					t.Errorf("line lacks %s: %s", field, line)
				}
				delete(want, msg)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("lines missing: %v\n%s", want, buf.String())
	}
}

// Upkeep records the packs it leaves; the sync after, when it fetched
// nothing, finds the same packs and skips the upkeep; one that fetched
// does not.
func TestUpkeepSkippedWhenNothingWasFetched(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.up.Commit(t, "main", map[string]string{"a": "1"}, "one")
	f.sync(t, f.target())
	packsNow := func() []plumbing.Hash {
		repo, err := plainOpen(f.path)
		if err != nil {
			t.Fatal(err)
		}
		wc := newWorkingCopy(f.path, repo)
		defer wc.close()
		packs, err := repo.Storer.(storer.PackedObjectStorer).ObjectPacks()
		if err != nil {
			t.Fatal(err)
		}
		if !readPackState(wc.gitDir).same(packs) {
			t.Errorf("the packs %v are not those upkeep recorded", packs)
		}
		return packs
	}
	before := packsNow()
	f.sync(t, f.target()) // nothing new
	if after := packsNow(); len(after) != len(before) {
		t.Errorf("a no-op sync changed the packs: %v → %v", before, after)
	}
	f.up.Commit(t, "main", map[string]string{"a": "2"}, "two")
	repo, _ := plainOpen(f.path)
	wc := newWorkingCopy(f.path, repo)
	defer wc.close()
	if _, err := fetchRef(context.Background(), wc, "refs/heads/main", 1, &remote{url: f.up.Path()}, newJobLog(io.Discard, nil)); err != nil {
		t.Fatal(err)
	}
	packs, _ := repo.Storer.(storer.PackedObjectStorer).ObjectPacks()
	if readPackState(wc.gitDir).same(packs) {
		t.Error("after a fetch the packs still look like those upkeep left")
	}
}

// Upkeep removes the temporary files a failed pack write left behind.
func TestUpkeepRemovesUnfinishedPackFiles(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a": "1"})
	junk := filepath.Join(f.path, ".git", "objects", "pack", "tmp_pack_123456")
	testkit.WriteFile(t, junk, "PACK half of a pack")
	_, log := f.sync(t, f.target())
	if testkit.Exists(junk) {
		t.Error("the unfinished pack file is still there")
	}
	assertLogHas(t, log, "removed 1 unfinished pack files a failed write left")
}

// Upkeep refuses, and deletes no pack, when an object the working copy's
// commit needs is in no pack: the walk of reachable objects no longer
// looks every blob up, so the callers must find it missing themselves.
func TestUpkeepRefusesAMissingBlob(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"drop", "compact"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			f, _ := newDeployed(t, map[string]string{"a": "keep", "b": "lost"})
			lost := testkit.Git(t, f.path, "rev-parse", "HEAD:b")
			objects := strings.Fields(testkit.Git(t, f.path, "rev-list", "--objects", "--all"))
			var keep []string
			for _, o := range objects {
				if len(o) == 40 && o != lost {
					keep = append(keep, o)
				}
			}
			packDir := filepath.Join(f.path, ".git", "objects", "pack")
			old, _ := filepath.Glob(filepath.Join(packDir, "pack-*"))
			cmd := exec.Command("git", "pack-objects", "-q", filepath.Join(packDir, "pack"))
			cmd.Dir, cmd.Stdin = f.path, strings.NewReader(strings.Join(keep, "\n")+"\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git pack-objects: %v: %s", err, out)
			}
			for _, p := range old {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			wc, pos, packs := openPacks(t, f.path)
			if len(packs) != 1 {
				t.Fatalf("packs %v, want 1", packs)
			}
			var err error
			if how == "drop" {
				_, err = dropRedundantPacks(wc, pos, packs)
			} else {
				_, err = compact(wc, pos, packs)
			}
			if err == nil {
				t.Fatalf("%s with blob %s missing: no error", how, lost)
			}
			after, _ := filepath.Glob(filepath.Join(packDir, "pack-*.pack"))
			if len(after) != 1 || !strings.Contains(after[0], packs[0].String()) {
				t.Errorf("%s failed (%v) but the packs are now %v", how, err, after)
			}
		})
	}
}

// In a shallow working copy whose references all name its commit, the
// objects reachable are read from the index and its cache-tree, and they
// are exactly those the walk finds; in any other state the walk decides.
func TestReachableFromIndexAsTheWalk(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, nestedFiles)
	f.up.Commit(t, "main", map[string]string{"app/sub/deep/c.txt": "changed", "web/new.txt": "new"}, "second")
	f.sync(t, f.target())
	check := func(name string, wantFast bool) {
		t.Helper()
		wc, _, _ := openPacks(t, f.path)
		shallow, err := wc.repo.Storer.Shallow()
		if err != nil {
			t.Fatal(err)
		}
		walked, err := reachable(wc.repo.Storer, shallow)
		if err != nil {
			t.Fatal(err)
		}
		fast := reachableFromIndex(wc, shallow)
		if (fast != nil) != wantFast {
			t.Fatalf("%s: read from the index: %v, want %v", name, fast != nil, wantFast)
		}
		if fast != nil && !maps.Equal(fast, walked) {
			t.Errorf("%s: %d objects from the index, %d walked, not the same", name, len(fast), len(walked))
		}
	}
	check("after two syncs", true)
	head := testkit.Git(t, f.path, "rev-parse", "HEAD")
	testkit.Git(t, f.path, "update-ref", "refs/tags/other", head+"^{tree}")
	check("a reference to a tree", false)
	testkit.Git(t, f.path, "update-ref", "-d", "refs/tags/other")
	testkit.WriteFile(t, filepath.Join(f.path, "app", "a.go"), "staged")
	testkit.Git(t, f.path, "add", "app/a.go")
	check("a staged change", false)
}
