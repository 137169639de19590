package gitsync

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// baseline is what is believed to be on disk: the index's entries, or
// HEAD's tree without stat data when there is no usable index.
type baseline struct {
	entries map[string]*index.Entry
	// modTime is the index file's mtime, for the racy-clean check.
	modTime time.Time
	// tree is the index's cache-tree when the index holds exactly the
	// leaves of the tree at its root (and nothing git flags otherwise).
	tree *cacheTree
	// paths are the entries' paths in order, when tree is set.
	paths []string
	// headTree and leaves are HEAD's tree and its leaves when the
	// entries were made from them.
	headTree plumbing.Hash
	leaves   map[string]leaf
}

func loadBaseline(wc *workingCopy, prev plumbing.Hash, jl *jobLog) (baseline, error) {
	idx, err := readIndexFile(wc)
	if err == nil && (len(idx.Entries) > 0 || prev.IsZero()) {
		return fromIndex(idx, jl), nil
	}
	if err != nil {
		jl.printf("cannot read .git/index (%v); comparing with HEAD instead", err)
	}
	b := baseline{entries: make(map[string]*index.Entry)}
	if prev.IsZero() {
		return b, nil
	}
	c, err := wc.repo.CommitObject(prev)
	if err != nil {
		return b, fmt.Errorf("read HEAD %s: %w", short(prev), err)
	}
	leaves, err := flattenTree(wc.repo.Storer, c.TreeHash)
	if err != nil {
		return b, fmt.Errorf("read HEAD %s: %w", short(prev), err)
	}
	for p, l := range leaves {
		b.entries[p] = newEntry(p, l, nil) // no stat data: hashed once
	}
	b.headTree, b.leaves = c.TreeHash, leaves
	return b, nil
}

func fromIndex(idx *index.Index, jl *jobLog) baseline {
	b := baseline{entries: make(map[string]*index.Entry, len(idx.Entries)), modTime: idx.ModTime}
	plain := true
	for _, e := range idx.Entries {
		if err := checkPath(e.Name); err != nil {
			jl.printf("ignored index entry %q: %v", e.Name, err)
			plain = false
			continue
		}
		if _, dup := b.entries[e.Name]; dup {
			plain = false
			continue // merge conflict stages: one entry is enough
		}
		if e.Stage != 0 || e.IntentToAdd || e.SkipWorktree {
			// A conflict, an intent-to-add or a sparse entry: taken as a
			// plain entry whose file must be hashed (the index written is
			// version 2, without those flags).
			c := *e
			c.ModifiedAt, c.Stage, c.IntentToAdd, c.SkipWorktree = time.Time{}, 0, false, false
			e = &c
			plain = false
		}
		plain = plain && leafMode(e.Mode)
		b.entries[e.Name] = e
	}
	if plain {
		b.tree = indexCacheTree(idx.Cache, len(idx.Entries))
	}
	if b.tree != nil {
		b.paths = make([]string, 0, len(idx.Entries))
		for _, e := range idx.Entries {
			b.paths = append(b.paths, e.Name)
		}
		if !slices.IsSorted(b.paths) {
			b.tree, b.paths = nil, nil
		}
	}
	return b
}

// leavesUnder adds to out the leaves of the entries below the directory
// prefix ("dir/"), when there are exactly n of them, as the cache-tree
// says there are; otherwise it adds nothing and returns false.
func (b *baseline) leavesUnder(prefix string, n int, out map[string]leaf) bool {
	if b == nil || b.paths == nil {
		return false
	}
	i, _ := slices.BinarySearch(b.paths, prefix)
	j := i
	for j < len(b.paths) && strings.HasPrefix(b.paths[j], prefix) {
		j++
	}
	if j-i != n {
		return false
	}
	for _, p := range b.paths[i:j] {
		e := b.entries[p]
		out[p] = leaf{mode: e.Mode, hash: e.Hash}
	}
	return true
}

// targetLeaves returns the leaves of tree when the baseline already holds
// them (the index's cache-tree, or HEAD's tree, is that tree), so that no
// tree object is read; otherwise nil.
func (b baseline) targetLeaves(tree plumbing.Hash) map[string]leaf {
	switch {
	case b.tree != nil && b.tree.hash == tree:
		out := make(map[string]leaf, len(b.entries))
		for p, e := range b.entries {
			out[p] = leaf{mode: e.Mode, hash: e.Hash}
		}
		return out
	case b.leaves != nil && b.headTree == tree:
		return b.leaves
	}
	return nil
}

// leafMode reports whether m is a mode git writes in an index entry.
func leafMode(m filemode.FileMode) bool {
	switch m {
	case filemode.Regular, filemode.Executable, filemode.Symlink, filemode.Submodule:
		return true
	}
	return false
}

// checkPath applies checkName to every component of a slash path.
func checkPath(p string) error {
	for name := range strings.SplitSeq(p, "/") {
		if err := checkName(name); err != nil {
			return err
		}
	}
	return nil
}

// indexLock is .git/index.lock, taken for the whole checkout as git does,
// then renamed over .git/index.
type indexLock struct {
	path, index string
	f           *os.File
}

func lockIndex(gitDir string) (*indexLock, error) {
	l := &indexLock{path: filepath.Join(gitDir, "index.lock"), index: filepath.Join(gitDir, "index")}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("lock %s: another git process is using this working copy", l.path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock index: %w", err)
	}
	l.f = f
	return l, nil
}

// commit writes entries as the new index, with t as its cache-tree when
// t is not nil, and releases the lock.
func (l *indexLock) commit(entries map[string]*index.Entry, t *cacheTree) error {
	bw := bufio.NewWriter(l.f)
	err := writeIndex(bw, entries, t)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(l.path, l.index)
	}
	if err != nil {
		os.Remove(l.path)
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// release drops the lock without writing an index.
func (l *indexLock) release() {
	l.f.Close()
	os.Remove(l.path)
}
