package gitsync

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxTreeDepth bounds directory nesting, against crafted trees.
const maxTreeDepth = 256

// leaf is a non-directory entry of a tree: a file, a symlink or a gitlink.
type leaf struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// flattenTree lists every leaf of the tree by slash-separated path. It
// rejects paths that could escape the working copy or touch .git: names
// that are empty, ".", "..", contain a slash or NUL, or equal ".git" in
// any case; and a name that appears twice in one tree (a file and a
// directory of the same name).
func flattenTree(s storer.EncodedObjectStorer, tree plumbing.Hash) (map[string]leaf, error) {
	out, _, err := flattenCached(s, tree, nil)
	return out, err
}

// flattenCached is flattenTree that also returns the tree's cache-tree, or
// nil when an index of its leaves could not carry one (see complete). The
// directories base's cache-tree has at the same path with the same hash
// take their leaves from base's entries, and are not read again (nil:
// every tree is read).
func flattenCached(s storer.EncodedObjectStorer, tree plumbing.Hash, base *baseline) (map[string]leaf, *cacheTree, error) {
	out := make(map[string]leaf)
	root := &cacheTree{hash: tree}
	w := treeWalk{s: s, base: base, out: out}
	if base != nil {
		w.known = base.tree
	}
	if err := w.walk(root, "", 0, w.known); err != nil {
		return nil, nil, err
	}
	if !root.complete() {
		root = nil
	}
	return out, root, nil
}

// treeWalk is one flattening of a tree.
type treeWalk struct {
	s     storer.EncodedObjectStorer
	base  *baseline
	known *cacheTree
	out   map[string]leaf
}

// walk adds the leaves of the tree node.hash to out and fills node's
// count and subdirectories; known is the baseline's directory at the same
// path, or nil.
func (w treeWalk) walk(node *cacheTree, prefix string, depth int, known *cacheTree) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("invalid tree: nested deeper than %d at %q", maxTreeDepth, prefix)
	}
	t, err := object.GetTree(w.s, node.hash)
	if err != nil {
		return fmt.Errorf("read tree %s at %q: %w", short(node.hash), prefix, err)
	}
	seen := make(map[string]bool, len(t.Entries))
	subs := known.subMap()
	for _, e := range t.Entries {
		if err := checkName(e.Name); err != nil {
			return fmt.Errorf("invalid tree: entry %q in %q: %w", e.Name, prefix, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("invalid tree: duplicate entry %q in %q", e.Name, prefix)
		}
		seen[e.Name] = true
		p := prefix + e.Name
		switch e.Mode {
		case filemode.Dir:
			sub := &cacheTree{name: e.Name, hash: e.Hash}
			if k := subs[e.Name]; k != nil && k.hash == e.Hash && w.base.leavesUnder(p+"/", k.count, w.out) {
				sub = k // unchanged since the baseline: its leaves are the index's
			} else {
				err = w.walk(sub, p+"/", depth+1, k)
			}
			node.subs = append(node.subs, sub)
			node.count += sub.count
		case filemode.Regular, filemode.Deprecated, filemode.Executable, filemode.Symlink, filemode.Submodule:
			w.out[p] = leaf{mode: canonicalMode(e.Mode), hash: e.Hash}
			node.count++
		default:
			err = fmt.Errorf("invalid tree: entry %q has unsupported mode %o", p, uint32(e.Mode))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func canonicalMode(m filemode.FileMode) filemode.FileMode {
	if m == filemode.Deprecated {
		return filemode.Regular
	}
	return m
}

// checkName rejects a tree entry name that is unsafe to create on disk.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("name %q is not allowed", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("name contains a slash or NUL")
	case strings.EqualFold(name, ".git"):
		return fmt.Errorf("name %q is reserved for git", name)
	}
	return nil
}
