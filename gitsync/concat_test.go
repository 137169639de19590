package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wh-gitd/wh-gitd/gitsync/gitsynctest"
	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// TestMergeConcatenatesPacks merges packs whose objects are deltas of
// each other (a file edited a little at each fetch) by concatenation, and
// git finds the result whole; a pack all of whose objects an earlier one
// holds adds nothing. Over smart HTTP every fetch is a thin pack completed
// with copies of bases the older packs hold: they are left out, not
// encoded again.
func TestMergeConcatenatesPacks(t *testing.T) {
	t.Parallel()
	for _, http := range []bool{false, true} {
		t.Run(fmt.Sprintf("http=%v", http), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.s.compactPacks = 100 // merged by hand below
			tg := f.target()
			tg.Depth = 0
			if http {
				tg.Remote = f.up.ServeHTTP(t)
			}
			text := strings.Repeat("a line of text that stays the same\n", 200)
			f.up.Commit(t, "main", map[string]string{"big": text, "other": "x"}, "first")
			f.sync(t, tg)
			for i := range 4 {
				f.up.Commit(t, "main", map[string]string{"big": text + fmt.Sprintf("edit %d\n", i)}, "edit")
				f.sync(t, tg)
			}
			checkMerge(t, f, http)
		})
	}
}

// checkMerge merges the working copy's five packs; thin says they hold
// copies of bases (completed thin packs).
func checkMerge(t *testing.T, f *fixture, thin bool) {
	t.Helper()
	wc, pos, packs := openPacks(t, f.path)
	if len(packs) != 5 {
		t.Fatalf("packs = %v; want 5", packs)
	}
	dir := filepath.Join(f.path, ".git", "objects", "pack")
	if total, unique := objectCounts(t, dir, packs); thin != (total > unique) {
		t.Fatalf("%d objects in the packs, %d distinct; want copies of bases: %v", total, unique, thin)
	}
	m, objects, copied, err := mergePacks(wc, pos, packs)
	if err != nil || m != 4 || !copied {
		t.Fatalf("mergePacks = %d, %d, copied %v, %v; want 4 packs merged, copied", m, objects, copied, err)
	}
	if got := len(packFiles(t, f.path)); got != 2 {
		t.Errorf("after merge: %d packs, want 2", got)
	}
	testkit.Git(t, f.path, "fsck", "--no-progress", "--no-dangling", "--strict")
	for _, p := range packFiles(t, f.path) {
		testkit.Git(t, f.path, "verify-pack", strings.TrimSuffix(p, ".pack")+".idx")
	}
	assertClean(t, f.path, f.up.Head(t, "main"))
	left, err := pos.ObjectPacks()
	if err != nil {
		t.Fatal(err)
	}
	one, err := packEntries(packIdxPath(dir, left[0]))
	if err != nil {
		t.Fatal(err)
	}
	if _, n, err := concatPacks(dir, []plumbing.Hash{left[0], left[0]}); err != nil || n != len(one) {
		t.Errorf("a pack twice: %d objects, %v; want %d", n, err, len(one))
	}
}

// objectCounts counts the objects of the packs, and the distinct ones.
func objectCounts(t *testing.T, dir string, packs []plumbing.Hash) (total, unique int) {
	t.Helper()
	seen := map[plumbing.Hash]struct{}{}
	for _, p := range packs {
		entries, err := packEntries(packIdxPath(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			seen[e.Hash] = struct{}{}
		}
		total += len(entries)
	}
	return total, len(seen)
}

// Objects an older pack already holds are left out wherever they lie in a
// newer pack, and the newer pack's offset deltas that spanned them get
// their new distances: git finds every object of both packs in the one
// written, and nothing else.
func TestConcatLeavesOutObjectsSentTwice(t *testing.T) {
	t.Parallel()
	up := gitsynctest.NewUpstream(t)
	text := strings.Repeat("a line of text that stays the same\n", 200)
	for i := range 8 {
		up.Commit(t, "main", map[string]string{"big": text + fmt.Sprintf("edit %d\n", i),
			fmt.Sprintf("s%d", i): fmt.Sprintf("small file %d\n", i)}, "edit")
	}
	repo := filepath.Join(t.TempDir(), "r.git")
	testkit.Git(t, t.TempDir(), "init", "-q", "--bare", repo)
	dir := filepath.Join(repo, "objects", "pack")
	var all, small []string
	for _, l := range strings.Split(up.Git(t, "rev-list", "--objects", "main"), "\n") {
		all = append(all, strings.Fields(l)[0])
		if f := strings.Fields(l); len(f) == 2 && strings.HasPrefix(f[1], "s") {
			small = append(small, f[0])
		}
	}
	older := up.GitInput(t, strings.Join(small, "\n")+"\n", "pack-objects", "-q", "--window=0", dir+"/pack")
	newer := up.GitInput(t, strings.Join(all, "\n")+"\n", "pack-objects", "-q", "--window=10", "--delta-base-offset", dir+"/pack")
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "pack-"+older+".pack"), past, past); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(testkit.Git(t, repo, "verify-pack", "-v", filepath.Join(dir, "pack-"+newer+".idx")), "chain length") {
		t.Fatal("the newer pack has no deltas: nothing to check")
	}
	packs := []plumbing.Hash{plumbing.NewHash(newer), plumbing.NewHash(older)}
	merged, n, err := concatPacks(dir, packs)
	if err != nil || n != len(all) {
		t.Fatalf("concatPacks = %d objects, %v; want %d", n, err, len(all))
	}
	for _, p := range []string{older, newer} {
		for _, ext := range []string{".pack", ".idx"} {
			if err := os.Remove(filepath.Join(dir, "pack-"+p+ext)); err != nil {
				t.Fatal(err)
			}
		}
	}
	testkit.Git(t, repo, "verify-pack", filepath.Join(dir, "pack-"+merged.String()+".idx"))
	got := testkit.Git(t, repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
	if lines := strings.Split(got, "\n"); len(lines) != len(all) {
		t.Errorf("%d objects in the merged pack, want %d", len(lines), len(all))
	}
	testkit.Git(t, repo, "fsck", "--no-progress", "--strict", "--no-dangling")
}

// A pack damaged on disk is not copied: each entry is checked against the
// CRC-32 its index holds, and nothing is left behind.
func TestConcatRefusesADamagedPack(t *testing.T) {
	t.Parallel()
	up := gitsynctest.NewUpstream(t)
	up.Commit(t, "main", map[string]string{"a": strings.Repeat("text\n", 100), "b": "b"}, "one")
	repo := filepath.Join(t.TempDir(), "r.git")
	testkit.Git(t, t.TempDir(), "init", "-q", "--bare", repo)
	dir := filepath.Join(repo, "objects", "pack")
	p := up.GitInput(t, up.Git(t, "rev-list", "--objects", "main")+"\n", "pack-objects", "-q", dir+"/pack")
	path := filepath.Join(dir, "pack-"+p+".pack")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := concatPacks(dir, []plumbing.Hash{plumbing.NewHash(p)}); err == nil || !strings.Contains(err.Error(), "CRC-32") {
		t.Errorf("concatPacks of a damaged pack = %v, want a CRC-32 mismatch", err)
	}
	if names, _ := filepath.Glob(filepath.Join(dir, "*")); len(names) != 2 {
		t.Errorf("files in the pack folder %v, want the pack and its index alone", names)
	}
}
