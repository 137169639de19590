package gitsync

import (
	"crypto/sha1"
	"encoding/binary"
	"io"
	"slices"
	"strconv"
	"time"

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

// each calls fn with the hash of t and of every directory below it.
func (t *cacheTree) each(fn func(plumbing.Hash)) {
	fn(t.hash)
	for _, s := range t.subs {
		s.each(fn)
	}
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

// writeIndex writes entries to w as a version 2 index, sorted by name,
// with t as its cache-tree extension when t is not nil, and the trailing
// SHA-1. It writes what go-git's index encoder writes for these entries
// (which never carry stages or extended flags here), without its
// reflection: on a large working copy the encoder took a sixth of an
// incremental sync.
func writeIndex(w io.Writer, entries map[string]*index.Entry, t *cacheTree) error {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	slices.Sort(names)
	sum := sha1.New()
	out := io.MultiWriter(w, sum)
	b := make([]byte, 0, 64<<10)
	b = append(b, "DIRC"...)
	b = binary.BigEndian.AppendUint32(b, 2)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, n := range names {
		b = appendIndexEntry(b, entries[n])
		if len(b) >= 60<<10 {
			if _, err := out.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if t != nil {
		payload := t.encode(nil)
		b = binary.BigEndian.AppendUint32(append(b, "TREE"...), uint32(len(payload)))
		b = append(b, payload...)
	}
	if _, err := out.Write(b); err != nil {
		return err
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// indexEntryFixed is the size of an index entry before its name.
const indexEntryFixed = 62

// appendIndexEntry appends e as a version 2 index entry: stat data, mode,
// hash, flags (stage and name length), the name, and 1 to 8 NULs.
func appendIndexEntry(b []byte, e *index.Entry) []byte {
	b = appendIndexTime(b, e.CreatedAt)
	b = appendIndexTime(b, e.ModifiedAt)
	for _, v := range []uint32{e.Dev, e.Inode, uint32(e.Mode), e.UID, e.GID, e.Size} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = append(b, e.Hash[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(e.Stage&0x3)<<12|uint16(min(len(e.Name), 0xfff)))
	b = append(b, e.Name...)
	var pad [8]byte
	return append(b, pad[:8-(indexEntryFixed+len(e.Name))%8]...)
}

// appendIndexTime appends t's seconds and nanoseconds (zeros for a zero
// or negative time).
func appendIndexTime(b []byte, t time.Time) []byte {
	if t.IsZero() || t.Unix() < 0 {
		return append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}
