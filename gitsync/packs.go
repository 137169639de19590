package gitsync

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// dropRedundantPacks deletes the packs holding no reachable object that a
// newer pack (or a loose object) does not also hold, and returns how many
// it deleted. Nothing is deleted unless every reachable object is found.
func dropRedundantPacks(wc *workingCopy, pos storer.PackedObjectStorer, packs []plumbing.Hash) (int, error) {
	reachableSet, shallow, err := reachableIn(wc)
	if err != nil {
		return 0, err
	}
	need := make(map[plumbing.Hash]struct{}, len(reachableSet))
	for h := range reachableSet {
		need[h] = struct{}{}
	}
	if los, ok := wc.repo.Storer.(storer.LooseObjectStorer); ok {
		_ = los.ForEachObjectHash(func(h plumbing.Hash) error {
			delete(need, h)
			return nil
		})
	}
	dir := filepath.Join(wc.gitDir, "objects", "pack")
	var redundant []plumbing.Hash
	for _, p := range newestFirst(dir, packs) {
		covers, err := coverFrom(filepath.Join(dir, "pack-"+p.String()+".idx"), need)
		if err != nil {
			return 0, err
		}
		if !covers {
			redundant = append(redundant, p)
		}
	}
	if len(need) > 0 {
		return 0, fmt.Errorf("%d reachable objects are in no pack", len(need))
	}
	for _, p := range redundant {
		if err := pos.DeleteOldObjectPackAndIndex(p, time.Time{}); err != nil {
			return 0, fmt.Errorf("delete old pack %s: %w", p, err)
		}
	}
	wc.packsDeleted()
	return len(redundant), pruneShallow(wc, shallow, reachableSet)
}

// coverFrom removes from need the objects the pack index holds and
// reports whether it held any.
func coverFrom(idxPath string, need map[plumbing.Hash]struct{}) (bool, error) {
	idx, err := readPackIndex(idxPath)
	if err != nil {
		return false, err
	}
	covers := false
	for h := range need {
		if ok, _ := idx.Contains(h); ok {
			delete(need, h)
			covers = true
		}
	}
	return covers, nil
}

// newestFirst orders packs by the modification time of their files.
func newestFirst(dir string, packs []plumbing.Hash) []plumbing.Hash {
	mtime := make(map[plumbing.Hash]time.Time, len(packs))
	for _, p := range packs {
		if fi, err := os.Stat(filepath.Join(dir, "pack-"+p.String()+".pack")); err == nil {
			mtime[p] = fi.ModTime()
		}
	}
	out := append([]plumbing.Hash(nil), packs...)
	sort.SliceStable(out, func(i, j int) bool { return mtime[out[i]].After(mtime[out[j]]) })
	return out
}

// reachableFromIndex is what reachable finds, without reading a tree, in
// the usual shallow working copy: every reference (HEAD too) names one
// shallow commit, and the index's cache-tree is whole and holds that
// commit's tree. The cache-tree then names every tree of it, and the
// index every blob: a root hash that matches cannot come from wrong
// hashes below it. Anything else returns nil, and the caller walks.
func reachableFromIndex(wc *workingCopy, shallow []plumbing.Hash) map[plumbing.Hash]struct{} {
	commit, ok := onlyCommit(wc)
	if !ok || !slices.Contains(shallow, commit) {
		return nil
	}
	c, err := object.GetCommit(wc.repo.Storer, commit)
	if err != nil {
		return nil
	}
	idx, err := readIndexFile(wc)
	if err != nil {
		return nil
	}
	t := indexCacheTree(idx.Cache, len(idx.Entries))
	if t == nil || !t.complete() || t.hash != c.TreeHash {
		return nil
	}
	seen := map[plumbing.Hash]struct{}{commit: {}}
	t.each(func(h plumbing.Hash) { seen[h] = struct{}{} })
	for _, e := range idx.Entries {
		if e.Stage != 0 { // a conflict (go-git's index.Merged is 1, not the 0 an index holds)
			return nil
		}
		if e.Mode != filemode.Submodule {
			seen[e.Hash] = struct{}{}
		}
	}
	return seen
}

// onlyCommit is the one object every reference and HEAD name, if they
// name one.
func onlyCommit(wc *workingCopy) (plumbing.Hash, bool) {
	tips, err := refTips(wc.repo.Storer)
	if err != nil || len(tips) == 0 {
		return plumbing.ZeroHash, false
	}
	for _, h := range tips[1:] {
		if h != tips[0] {
			return plumbing.ZeroHash, false
		}
	}
	return tips[0], true
}
