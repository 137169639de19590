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
	out, _, err := flattenCached(s, tree)
	return out, err
}

// flattenCached is flattenTree that also returns the tree's cache-tree, or
// nil when an index of its leaves could not carry one (see complete).
func flattenCached(s storer.EncodedObjectStorer, tree plumbing.Hash) (map[string]leaf, *cacheTree, error) {
	out := make(map[string]leaf)
	root := &cacheTree{hash: tree}
	if err := walkTree(s, root, "", 0, out); err != nil {
		return nil, nil, err
	}
	if !root.complete() {
		root = nil
	}
	return out, root, nil
}

// walkTree adds the leaves of the tree node.hash to out and fills node's
// count and subdirectories.
func walkTree(s storer.EncodedObjectStorer, node *cacheTree, prefix string, depth int, out map[string]leaf) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("invalid tree: nested deeper than %d at %q", maxTreeDepth, prefix)
	}
	t, err := object.GetTree(s, node.hash)
	if err != nil {
		return fmt.Errorf("read tree %s at %q: %w", short(node.hash), prefix, err)
	}
	seen := make(map[string]bool, len(t.Entries))
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
			err = walkTree(s, sub, p+"/", depth+1, out)
			node.subs = append(node.subs, sub)
			node.count += sub.count
		case filemode.Regular, filemode.Deprecated, filemode.Executable, filemode.Symlink, filemode.Submodule:
			out[p] = leaf{mode: canonicalMode(e.Mode), hash: e.Hash}
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
