package gitsync

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

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
	repo, err := plainOpen(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWorkingCopy(f.path, repo)
	defer wc.close()
	pos := repo.Storer.(storer.PackedObjectStorer)
	packs, err := pos.ObjectPacks()
	if err != nil || len(packs) != 5 {
		t.Fatalf("packs = %v, %v; want 5", packs, err)
	}
	dir := filepath.Join(f.path, ".git", "objects", "pack")
	if total, unique := objectCounts(t, dir, packs); thin != (total > unique) {
		t.Fatalf("%d objects in the packs, %d distinct; want copies of bases: %v", total, unique, thin)
	}
	blocks, n, err := planBlocks(dir, []plumbing.Hash{packs[0], packs[0]})
	if err != nil || len(blocks) != 2 || blocks[1].end != packHeaderSize {
		t.Errorf("a pack twice: %+v, %d, %v; want its second copy empty", blocks, n, err)
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
