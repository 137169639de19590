package gitsync

import (
	"errors"
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
// git finds the result whole; packs sharing an object are refused.
func TestMergeConcatenatesPacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.compactPacks = 100 // merged by hand below
	tg := f.target()
	tg.Depth = 0
	text := strings.Repeat("a line of text that stays the same\n", 200)
	f.up.Commit(t, "main", map[string]string{"big": text, "other": "x"}, "first")
	f.sync(t, tg)
	for i := range 4 {
		f.up.Commit(t, "main", map[string]string{"big": text + fmt.Sprintf("edit %d\n", i)}, "edit")
		f.sync(t, tg)
	}
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
	n, err := packObjectCount(dir, packs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := concatPacks(repo.Storer, dir, []plumbing.Hash{packs[0], packs[0]}, n); !errors.Is(err, errDuplicateObjects) {
		t.Errorf("concatPacks of a pack with itself = %v, want errDuplicateObjects", err)
	}
	m, objects, err := mergePacks(wc, pos, packs)
	if err != nil || m != 4 {
		t.Fatalf("mergePacks = %d, %d, %v; want 4 packs merged", m, objects, err)
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
