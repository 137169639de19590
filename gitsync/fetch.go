package gitsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// unshallowDepth is the depth git itself sends for --unshallow.
const unshallowDepth = 1<<31 - 1

// wantRef temporarily holds a commit fetched by its hash.
const wantRef = plumbing.ReferenceName("refs/wh-gitd/want")

// fetchCommit fetches t.Ref and returns the commit to check out: t.Commit,
// obtained by hash or by deepening if the fetch did not bring it, or else
// the ref's tip.
func (s *Syncer) fetchCommit(ctx context.Context, wc *workingCopy, t Target, rem *remote, jl *jobLog) (plumbing.Hash, error) {
	tip, err := fetchRef(ctx, wc, t, rem, jl)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if t.Commit == "" {
		return tip, nil
	}
	want := plumbing.NewHash(t.Commit)
	if want != tip {
		jl.printf("%s is at %s; checking out %s", t.Ref, short(tip), short(want))
	}
	if hasCommit(wc, want) {
		return want, nil
	}
	if err := obtain(ctx, wc, t, rem, want, jl); err != nil {
		return plumbing.ZeroHash, err
	}
	if !hasCommit(wc, want) {
		return plumbing.ZeroHash, fmt.Errorf("commit %s not found on %s after fetch", short(want), t.Ref)
	}
	return want, nil
}

// refSpec maps a remote ref to its local name: branches to
// refs/remotes/origin/B, tags to themselves, always forced (+) so that a
// force-push is never ignored.
func refSpec(ref string) (config.RefSpec, plumbing.ReferenceName) {
	name := plumbing.ReferenceName(ref)
	local := name
	if name.IsBranch() {
		local = plumbing.NewRemoteReferenceName(originName, name.Short())
	}
	return config.RefSpec("+" + ref + ":" + local.String()), local
}

// fetchRef fetches t.Ref at t.Depth and returns the commit it points at.
// A working copy made shallow whose Depth is now 0 is unshallowed.
func fetchRef(ctx context.Context, wc *workingCopy, t Target, rem *remote, jl *jobLog) (plumbing.Hash, error) {
	spec, local := refSpec(t.Ref)
	depth, what := t.Depth, fmt.Sprintf("depth %d", t.Depth)
	if depth == 0 {
		what = "full history"
		if isShallow(wc) {
			depth, what = unshallowDepth, "unshallow"
		}
	}
	jl.printf("fetch %s from %s (%s)", t.Ref, originName, what)
	if err := fetch(ctx, wc, rem, spec, depth); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w", t.Ref, rem.url, err)
	}
	if depth == unshallowDepth {
		if err := fixShallow(wc); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("update shallow list: %w", err)
		}
	}
	ref, err := wc.repo.Reference(local, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s after fetch: %w", local, err)
	}
	return peel(wc, ref.Hash())
}

// fetch runs one fetch of spec from origin; already up to date is success.
func fetch(ctx context.Context, wc *workingCopy, rem *remote, spec config.RefSpec, depth int) error {
	err := wc.repo.FetchContext(ctx, &git.FetchOptions{
		RemoteName:   originName,
		RemoteURL:    rem.url,
		RefSpecs:     []config.RefSpec{spec},
		Depth:        depth,
		Auth:         rem.auth,
		ProxyOptions: rem.proxy,
		Tags:         git.NoTags,
		Force:        true,
	})
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if e := hostKeyError(err, rem.host); e != nil {
		return e
	}
	return tidyTransportError(err, rem.auth != nil)
}

// peel follows annotated tags down to a commit.
func peel(wc *workingCopy, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		tag, err := wc.repo.TagObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			if _, err := wc.repo.CommitObject(h); err != nil {
				return plumbing.ZeroHash, fmt.Errorf("read commit %s: %w", short(h), err)
			}
			return h, nil
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("read tag %s: %w", short(h), err)
		}
		if tag.TargetType != plumbing.CommitObject && tag.TargetType != plumbing.TagObject {
			return plumbing.ZeroHash, fmt.Errorf("tag %s points at a %s, not a commit", short(h), tag.TargetType)
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, fmt.Errorf("tag %s: too many nested tags", short(h))
}

// obtain tries to get a commit the ref's fetch did not bring: by its hash
// (when the server allows it), then by deepening the ref's history.
func obtain(ctx context.Context, wc *workingCopy, t Target, rem *remote, want plumbing.Hash, jl *jobLog) error {
	jl.printf("commit %s is not in the fetched history; fetching it by hash", short(want))
	spec := config.RefSpec("+" + want.String() + ":" + wantRef.String())
	err := fetch(ctx, wc, rem, spec, t.Depth)
	_ = wc.repo.Storer.RemoveReference(wantRef) // HEAD will hold the commit
	if err == nil && hasCommit(wc, want) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fetch %s from %s: %w", short(want), rem.url, ctx.Err())
	}
	switch {
	case errors.Is(err, git.ErrExactSHA1NotSupported):
		jl.printf("the server does not allow fetching a commit by hash")
	case err != nil:
		jl.printf("fetch by hash failed: %v", err)
	}
	if !isShallow(wc) {
		return nil
	}
	spec, _ = refSpec(t.Ref)
	for _, depth := range []int{max(100, 10*t.Depth), unshallowDepth} {
		jl.printf("deepen %s to %s to find %s", t.Ref, depthName(depth), short(want))
		if err := fetch(ctx, wc, rem, spec, depth); err != nil {
			return fmt.Errorf("deepen %s from %s: %w", t.Ref, rem.url, err)
		}
		if err := fixShallow(wc); err != nil {
			return fmt.Errorf("update shallow list: %w", err)
		}
		if hasCommit(wc, want) {
			return nil
		}
	}
	return nil
}

func depthName(depth int) string {
	if depth == unshallowDepth {
		return "full history"
	}
	return fmt.Sprintf("%d commits", depth)
}

func hasCommit(wc *workingCopy, h plumbing.Hash) bool {
	c, err := wc.repo.CommitObject(h)
	if err != nil {
		return false
	}
	_, err = wc.repo.TreeObject(c.TreeHash)
	return err == nil
}

func isShallow(wc *workingCopy) bool {
	list, err := wc.repo.Storer.Shallow()
	return err == nil && len(list) > 0
}

// fixShallow drops from .git/shallow the commits whose parents are all
// present now. go-git ignores the server's "unshallow" lines when a fetch
// deepens history, so without this the shallow list would keep cutting
// history that is there (for git, and for compaction).
func fixShallow(wc *workingCopy) error {
	list, err := wc.repo.Storer.Shallow()
	if err != nil || len(list) == 0 {
		return err
	}
	keep := list[:0:0]
	for _, h := range list {
		c, err := wc.repo.CommitObject(h)
		if err != nil {
			continue // not here at all: nothing to cut
		}
		for _, p := range c.ParentHashes {
			if !hasObject(wc, p) {
				keep = append(keep, h)
				break
			}
		}
	}
	return setShallow(wc, keep)
}

// setShallow writes the shallow list, removing the file when it is empty
// (an empty file still makes some tools think the repository is shallow).
func setShallow(wc *workingCopy, list []plumbing.Hash) error {
	if len(list) > 0 {
		return wc.repo.Storer.SetShallow(list)
	}
	err := os.Remove(filepath.Join(wc.gitDir, "shallow"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func hasObject(wc *workingCopy, h plumbing.Hash) bool {
	_, err := wc.repo.Storer.EncodedObject(plumbing.AnyObject, h)
	return err == nil
}
