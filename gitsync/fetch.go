package gitsync

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
)

// unshallowDepth is the depth git itself sends for --unshallow.
const unshallowDepth = 1<<31 - 1

// Local refs of what is fetched without a branch or tag name of its own: a
// commit by its hash (dropped after, HEAD holds the commit), and a short
// name, which the remote resolves (refs/tags/N before refs/heads/N). They
// live under a prefix of their own, so they never clash with a branch.
const (
	wantRef  = plumbing.ReferenceName("refs/wh-gitd/want")
	shortRef = plumbing.ReferenceName("refs/wh-gitd/ref")
)

// fetched is what fetchCommit found.
type fetched struct {
	commit plumbing.Hash // to check out
	tip    plumbing.Hash // what Target.Ref points at; zero when not fetched
}

// fetchCommit fetches t.Ref and returns the commit to check out: t.Commit,
// obtained by hash or by deepening if the fetch did not bring it, or else
// the ref's tip. A ref the remote does not have (a deleted branch) is no
// error when t.Commit is set: the commit is then looked for by its hash and
// on t.Fallback, and so it is when t.Ref is empty.
func (s *Syncer) fetchCommit(ctx context.Context, wc *workingCopy, t Target, rem *remote, jl *jobLog) (fetched, error) {
	var f fetched
	if t.Ref != "" && t.Ref != t.Commit { // GitHub allows a deployment's ref to be its SHA
		tip, err := fetchRef(ctx, wc, t.Ref, t.Depth, rem, jl)
		switch {
		case err == nil:
			f.tip = tip
		case t.Commit != "" && errors.Is(err, git.NoMatchingRefSpecError{}):
			jl.printf("%s is not on %s (deleted since?); looking for commit %s elsewhere", t.Ref, originName, t.Commit[:7])
		default:
			return f, err
		}
	}
	if t.Commit == "" {
		f.commit = f.tip
		return f, nil
	}
	f.commit = plumbing.NewHash(t.Commit)
	if !f.tip.IsZero() && f.commit != f.tip {
		jl.printf("%s is at %s; checking out %s", t.Ref, short(f.tip), short(f.commit))
	}
	if hasCommit(wc, f.commit) {
		return f, nil
	}
	if err := obtain(ctx, wc, t, rem, f.commit, !f.tip.IsZero(), jl); err != nil {
		return f, err
	}
	return f, nil
}

// refSpec maps a remote ref to its local name: branches to
// refs/remotes/origin/B, tags to themselves, a short name to shortRef,
// always forced (+) so that a force-push is never ignored. go-git resolves
// a short source as git does (plumbing.RefRevParseRules).
func refSpec(ref string) (config.RefSpec, plumbing.ReferenceName) {
	name := plumbing.ReferenceName(ref)
	local := name
	switch {
	case name.IsBranch():
		local = plumbing.NewRemoteReferenceName(originName, name.Short())
	case !name.IsTag():
		local = shortRef
	}
	return config.RefSpec("+" + ref + ":" + local.String()), local
}

// fetchDepth is the depth to fetch at and its name for the log: a working
// copy made shallow whose depth is now 0 is unshallowed.
func fetchDepth(wc *workingCopy, depth int) (int, string) {
	switch {
	case depth > 0:
		return depth, fmt.Sprintf("depth %d", depth)
	case isShallow(wc):
		return unshallowDepth, "unshallow"
	}
	return 0, "full history"
}

// fetchRef fetches ref at depth and returns the commit it points at.
func fetchRef(ctx context.Context, wc *workingCopy, ref string, depth int, rem *remote, jl *jobLog) (plumbing.Hash, error) {
	spec, local := refSpec(ref)
	depth, what := fetchDepth(wc, depth)
	jl.printf("fetch %s from %s (%s)", ref, originName, what)
	if err := fetch(ctx, wc, rem, spec, depth); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s from %s: %w", ref, rem.url, err)
	}
	if depth == unshallowDepth {
		if err := fixShallow(wc); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("update shallow list: %w", err)
		}
	}
	r, err := wc.repo.Reference(local, true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s after fetch: %w", local, err)
	}
	return peel(wc, r.Hash())
}

// fetch runs one fetch of spec from origin (see fetchSpec); already up to
// date is success.
func fetch(ctx context.Context, wc *workingCopy, rem *remote, spec config.RefSpec, depth int) error {
	err := fetchSpec(ctx, wc, rem, spec, depth)
	if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if e := hostKeyError(err, rem.host); e != nil {
		return e
	}
	if e := dubiousOwnership(err); e != nil {
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

// obtain gets a commit the ref's fetch did not bring: by its hash (when
// the server allows it), then by deepening the ref's history, then by
// fetching and deepening the fallback branch.
func obtain(ctx context.Context, wc *workingCopy, t Target, rem *remote, want plumbing.Hash, refFound bool, jl *jobLog) error {
	byHash := fetchByHash(ctx, wc, t, rem, want, jl)
	if byHash == nil && hasCommit(wc, want) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fetch %s from %s: %w", short(want), rem.url, ctx.Err())
	}
	if refFound {
		if err := deepen(ctx, wc, t.Ref, t.Depth, rem, want, jl); err != nil || hasCommit(wc, want) {
			return err
		}
	}
	if t.Fallback != "" && (!refFound || t.Fallback != t.Ref) {
		jl.printf("looking for %s on %s", short(want), t.Fallback)
		if _, err := fetchRef(ctx, wc, t.Fallback, t.Depth, rem, jl); err != nil {
			return err
		}
		if err := deepen(ctx, wc, t.Fallback, t.Depth, rem, want, jl); err != nil || hasCommit(wc, want) {
			return err
		}
	}
	return notFound(t, want, refFound, byHash)
}

// fetchByHash fetches want by its hash at the target's depth and returns
// why that did not work: the fetch's error, or errNotServed.
func fetchByHash(ctx context.Context, wc *workingCopy, t Target, rem *remote, want plumbing.Hash, jl *jobLog) error {
	depth, what := fetchDepth(wc, t.Depth)
	jl.printf("commit %s is not here; fetching it by hash (%s)", short(want), what)
	spec := config.RefSpec("+" + want.String() + ":" + wantRef.String())
	err := fetch(ctx, wc, rem, spec, depth)
	_ = wc.repo.Storer.RemoveReference(wantRef) // HEAD will hold the commit
	if err == nil && depth == unshallowDepth {
		err = fixShallow(wc)
	}
	switch {
	case err == nil && hasCommit(wc, want):
		return nil
	case err == nil:
		err = errNotServed
	case errors.Is(err, git.ErrExactSHA1NotSupported):
		err = errNoHashFetch
		jl.printf("the server does not allow fetching a commit by hash")
	default:
		err = fmt.Errorf("fetch %s by hash from %s: %w", short(want), rem.url, err)
		jl.printf("%v", err)
	}
	return err
}

var (
	errNoHashFetch = errors.New("the server does not allow fetching a commit by hash")
	errNotServed   = errors.New("the server did not send it")
)

// deepen fetches ref deeper, then whole, until want is there; a working
// copy that is not shallow has nothing more to fetch.
func deepen(ctx context.Context, wc *workingCopy, ref string, depth int, rem *remote, want plumbing.Hash, jl *jobLog) error {
	spec, _ := refSpec(ref)
	for _, d := range []int{max(100, 10*depth), unshallowDepth} {
		if !isShallow(wc) || hasCommit(wc, want) {
			return nil
		}
		jl.printf("deepen %s to %s to find %s", ref, depthName(d), short(want))
		if err := fetch(ctx, wc, rem, spec, d); err != nil {
			return fmt.Errorf("deepen %s from %s: %w", ref, rem.url, err)
		}
		if err := fixShallow(wc); err != nil {
			return fmt.Errorf("update shallow list: %w", err)
		}
	}
	return nil
}

// notFound says where want was looked for in vain.
func notFound(t Target, want plumbing.Hash, refFound bool, byHash error) error {
	var where []string
	if refFound {
		where = append(where, t.Ref)
	}
	if t.Fallback != "" && (!refFound || t.Fallback != t.Ref) {
		where = append(where, t.Fallback)
	}
	switch {
	case refFound || len(where) > 0 && byHash == errNotServed:
		return fmt.Errorf("commit %s not found on %s after fetch", short(want), strings.Join(where, " or "))
	case len(where) > 0:
		return fmt.Errorf("commit %s not found on %s after fetch (by hash: %w)", short(want), where[0], byHash)
	case t.Ref != "":
		return fmt.Errorf("commit %s not found: %s is not on the remote and no fallback branch is set "+
			"(by hash: %w)", short(want), t.Ref, byHash)
	}
	return fmt.Errorf("commit %s not found by hash and no fallback branch is set: %w", short(want), byHash)
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

// hasObject reports whether the working copy stores h. It looks the hash
// up without reading the object: EncodedObject inflated every blob the
// in-process fetch asked about (a third of a large incremental sync).
func hasObject(wc *workingCopy, h plumbing.Hash) bool {
	return wc.st.HasEncodedObject(h) == nil
}
