package gitsync

import (
	"io"
	"maps"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// treeCounter is a storage that counts the trees read through it.
type treeCounter struct {
	storer.EncodedObjectStorer
	trees int
}

func (c *treeCounter) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := c.EncodedObjectStorer.EncodedObject(t, h)
	if err == nil && o.Type() == plumbing.TreeObject {
		c.trees++
	}
	return o, err
}

// Flattening a new tree against the index reads only the trees of the
// directories that changed (and the root), and gives the same leaves as
// reading every tree.
func TestFlattenReusesUnchangedDirectories(t *testing.T) {
	t.Parallel()
	f, _ := newDeployed(t, map[string]string{"a/1": "1", "a/deep/2": "2", "b/3": "3", "c/4": "4", "top": "t"})
	next := f.up.Commit(t, "main", map[string]string{"b/3": "33", "b/new": "n"}, "change b")
	repo, err := plainOpen(f.path)
	if err != nil {
		t.Fatal(err)
	}
	wc := newWorkingCopy(f.path, repo)
	defer wc.close()
	if _, err := fetchRef(t.Context(), wc, "refs/heads/main", 1, &remote{url: f.up.Path()}, newJobLog(io.Discard, nil)); err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(plumbing.NewHash(next))
	if err != nil {
		t.Fatal(err)
	}
	base, err := loadBaseline(wc, plumbing.ZeroHash, newJobLog(io.Discard, nil))
	if err != nil || base.tree == nil {
		t.Fatalf("baseline without a cache-tree: %v", err)
	}
	counter := &treeCounter{EncodedObjectStorer: repo.Storer}
	got, tree, err := flattenCached(counter, c.TreeHash, &base)
	if err != nil {
		t.Fatal(err)
	}
	want, wantTree, err := flattenCached(repo.Storer, c.TreeHash, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("leaves %v, want %v", got, want)
	}
	if string(tree.encode(nil)) != string(wantTree.encode(nil)) {
		t.Error("the cache-trees differ")
	}
	if counter.trees != 2 {
		t.Errorf("read %d trees, want 2 (the root and b)", counter.trees)
	}
}
