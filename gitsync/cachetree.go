package gitsync

import (
	"crypto/sha1"
	"encoding/binary"
	"hash"
	"io"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// cacheTree is git's cache-tree index extension ("TREE") for an index that
// holds exactly the leaves of one tree: each directory's tree hash and how
// many index entries it covers. git keeps it up to date (invalidating the
// directories along a path it changes), and a sync whose target is the
// tree at its root needs to read no tree object at all.
type cacheTree struct {
	name  string // the directory's own name; "" for the root
	count int    // index entries below it
	hash  plumbing.Hash
	subs  []*cacheTree
}

// complete reports whether every directory covers at least one entry: git
// leaves empty directories out of the trees it writes, so an index cannot
// give such a tree back. Like git's own cache-tree after `git reset
// --hard`, the hashes are those of the trees read, as they are.
func (t *cacheTree) complete() bool {
	if t.count == 0 {
		return false
	}
	for _, s := range t.subs {
		if !s.complete() {
			return false
		}
	}
	return true
}

// subMap indexes t's subdirectories by name; nil for a nil t.
func (t *cacheTree) subMap() map[string]*cacheTree {
	if t == nil {
		return nil
	}
	m := make(map[string]*cacheTree, len(t.subs))
	for _, s := range t.subs {
		m[s.name] = s
	}
	return m
}

// encode appends the extension's payload: the directories in pre-order,
// each as "name\0count subtrees\n" and its hash.
func (t *cacheTree) encode(b []byte) []byte {
	b = append(b, t.name...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(t.count), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(t.subs)), 10)
	b = append(b, '\n')
	b = append(b, t.hash[:]...)
	for _, s := range t.subs {
		b = s.encode(b)
	}
	return b
}

// indexCacheTree rebuilds the cache-tree of an index as read by go-git
// (which lists the valid directories in pre-order and drops invalidated
// ones). It returns nil unless the root is valid, covers all n entries,
// and the list is a whole tree whose counts add up: only then does the
// index hold exactly the tree at its root.
func indexCacheTree(c *index.Tree, n int) *cacheTree {
	if c == nil || len(c.Entries) == 0 || c.Entries[0].Path != "" || c.Entries[0].Entries != n {
		return nil
	}
	t, rest, ok := readCacheTree(c.Entries, 0)
	if !ok || len(rest) != 0 {
		return nil
	}
	return t
}

// readCacheTree reads one directory and its subdirectories from the head
// of entries, refusing a shape that does not add up.
func readCacheTree(entries []index.TreeEntry, depth int) (*cacheTree, []index.TreeEntry, bool) {
	if len(entries) == 0 || depth > maxTreeDepth {
		return nil, nil, false
	}
	e := entries[0]
	if e.Entries <= 0 || e.Trees < 0 || e.Trees > len(entries)-1 || (depth > 0 && checkName(e.Path) != nil) {
		return nil, nil, false
	}
	t := &cacheTree{name: e.Path, count: e.Entries, hash: e.Hash, subs: make([]*cacheTree, 0, e.Trees)}
	rest, below := entries[1:], 0
	for range e.Trees {
		var s *cacheTree
		var ok bool
		if s, rest, ok = readCacheTree(rest, depth+1); !ok {
			return nil, nil, false
		}
		t.subs = append(t.subs, s)
		below += s.count
	}
	return t, rest, below <= t.count
}

// writeIndex writes entries to w as a version 2 index, with t as its
// cache-tree when t is not nil. go-git's encoder writes no extension, so
// its trailing checksum is held back, the extension appended and the
// checksum computed again over everything.
func writeIndex(w io.Writer, entries map[string]*index.Entry, t *cacheTree) error {
	idx := &index.Index{Version: 2, Entries: make([]*index.Entry, 0, len(entries))}
	for _, e := range entries {
		idx.Entries = append(idx.Entries, e)
	}
	if t == nil {
		return index.NewEncoder(w).Encode(idx)
	}
	hw := &holdBack{w: w, sum: sha1.New()}
	if err := index.NewEncoder(hw).Encode(idx); err != nil {
		return err
	}
	payload := t.encode(nil)
	ext := binary.BigEndian.AppendUint32([]byte("TREE"), uint32(len(payload)))
	if _, err := hw.emit(append(ext, payload...)); err != nil {
		return err
	}
	_, err := w.Write(hw.sum.Sum(nil))
	return err
}

// holdBack passes what is written on to w and into sum, except the last
// sha1.Size bytes so far (go-git's trailing checksum), which it drops.
type holdBack struct {
	w    io.Writer
	sum  hash.Hash
	tail []byte
}

func (h *holdBack) Write(p []byte) (int, error) {
	h.tail = append(h.tail, p...)
	if n := len(h.tail) - sha1.Size; n > 0 {
		if _, err := h.emit(h.tail[:n]); err != nil {
			return 0, err
		}
		h.tail = append(h.tail[:0], h.tail[n:]...)
	}
	return len(p), nil
}

func (h *holdBack) emit(p []byte) (int, error) {
	h.sum.Write(p)
	return h.w.Write(p)
}
