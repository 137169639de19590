package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// maxHavesPerRef bounds the commits of each local ref offered to the
// server as "have" (go-git's own fetch offers as many).
const maxHavesPerRef = 100

// fetchSpec fetches the one ref (or commit hash) spec names and points the
// spec's local ref at it. It speaks upload-pack itself rather than through
// go-git's Remote.Fetch, which never asks for a thin pack: with a thin pack
// the server leaves out the objects of the commits offered as haves, so a
// shallow fetch of a new commit brings what changed, not the whole tree.
// Nothing is changed unless the pack is stored whole. A repository on a
// local path is read in this process when it can be (fetchLocal).
func fetchSpec(ctx context.Context, wc *workingCopy, rem *remote, spec config.RefSpec, depth int) (err error) {
	if dir := localGitDir(rem); dir != "" {
		if err := fetchLocal(ctx, wc, dir, spec, depth); !errors.Is(err, errNotInProcess) {
			return err
		}
	}
	sess, err := uploadPackSession(rem)
	if err != nil {
		return err
	}
	defer closeInto(sess, &err)
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	want, err := remoteTarget(spec, ar)
	if err != nil {
		return err
	}
	wc.early.expect(peeled(ar, want))
	if wanted(wc, want, depth) {
		if err := fetchPack(ctx, wc, sess, ar, want, depth); err != nil {
			return err
		}
	}
	return setReference(wc.repo.Storer, plumbing.NewHashReference(spec.Dst(""), want))
}

// uploadPackSession opens the transport to the remote as go-git's own
// fetch does (the transport of the URL's scheme, the remote's proxy).
func uploadPackSession(rem *remote) (transport.UploadPackSession, error) {
	ep, err := transport.NewEndpoint(rem.url)
	if err != nil {
		return nil, err
	}
	ep.Proxy = rem.proxy
	c, err := client.NewClient(ep)
	if err != nil {
		return nil, err
	}
	return c.NewUploadPackSession(ep, rem.auth)
}

// noRemoteRef is go-git's NoMatchingRefSpecError for a name resolved here.
type noRemoteRef struct{ name string }

func (e noRemoteRef) Error() string { return fmt.Sprintf("couldn't find remote ref %q", e.name) }

// Is makes errors.Is(err, git.NoMatchingRefSpecError{}) hold.
func (e noRemoteRef) Is(target error) bool {
	_, ok := target.(git.NoMatchingRefSpecError)
	return ok
}

// remoteTarget is what spec's source names on the remote: a hash (if the
// server lets a client ask for one), or a ref resolved as git resolves a
// short name (plumbing.RefRevParseRules).
func remoteTarget(spec config.RefSpec, ar *packp.AdvRefs) (plumbing.Hash, error) {
	if spec.IsExactSHA1() {
		if !ar.Capabilities.Supports(capability.AllowReachableSHA1InWant) &&
			!ar.Capabilities.Supports(capability.AllowTipSHA1InWant) {
			return plumbing.ZeroHash, git.ErrExactSHA1NotSupported
		}
		return plumbing.NewHash(spec.Src()), nil
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return resolveRemote(spec, refs)
}

// resolveRemote resolves spec's source among a remote's refs as git
// resolves a short name (plumbing.RefRevParseRules).
func resolveRemote(spec config.RefSpec, refs storer.ReferenceStorer) (plumbing.Hash, error) {
	for _, rule := range plumbing.RefRevParseRules {
		name := plumbing.ReferenceName(fmt.Sprintf(rule, spec.Src()))
		if r, err := storer.ResolveReference(refs, name); err == nil {
			return r.Hash(), nil
		}
	}
	return plumbing.ZeroHash, noRemoteRef{name: spec.Src()}
}

// peeled is what the remote says the annotated tag h tags, when h is a
// tag it advertises with its peeled value; else h.
func peeled(ar *packp.AdvRefs, h plumbing.Hash) plumbing.Hash {
	for name, r := range ar.References {
		if p, ok := ar.Peeled[name]; ok && r == h {
			return p
		}
	}
	return h
}

// wanted reports whether want must be fetched: it is not here, or the
// copy is shallow and the fetch may deepen it (go-git's rule).
func wanted(wc *workingCopy, want plumbing.Hash, depth int) bool {
	return !hasObject(wc, want) || depth != 1 && isShallow(wc)
}

// fetchPack asks for want at depth, offering the local refs' commits as
// haves and asking for a thin pack when there are any, then stores the
// pack and the server's shallow list.
func fetchPack(ctx context.Context, wc *workingCopy, sess transport.UploadPackSession, ar *packp.AdvRefs,
	want plumbing.Hash, depth int) (err error) {
	req, err := uploadRequest(wc, ar, want, depth)
	if err != nil {
		return err
	}
	resp, err := sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return nil // the haves cover the wants
	}
	if err != nil {
		return err
	}
	defer closeInto(resp, &err)
	if err := storePack(wc, demux(req.Capabilities, resp), len(req.Haves) > 0); err != nil {
		return err
	}
	if depth == 0 {
		return nil
	}
	return updateShallow(wc, resp.ShallowUpdate)
}

// uploadRequest is go-git's request (side-band, ofs-delta, no-progress,
// the shallow list and depth) plus thin-pack. go-git hides thin-pack from
// the advertised capabilities; every git server offers it.
func uploadRequest(wc *workingCopy, ar *packp.AdvRefs, want plumbing.Hash, depth int) (*packp.UploadPackRequest, error) {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Wants = []plumbing.Hash{want}
	if ar.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return nil, err
		}
	}
	if depth != 0 {
		req.Depth = packp.DepthCommits(depth)
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return nil, err
		}
		shallow, err := wc.repo.Storer.Shallow()
		if err != nil {
			return nil, fmt.Errorf("read shallow list: %w", err)
		}
		req.Shallows = shallow
	}
	haves, err := localHaves(wc, depth)
	if err != nil {
		return nil, err
	}
	req.Haves = haves
	if len(haves) > 0 && !req.Capabilities.Supports(capability.ThinPack) {
		if err := req.Capabilities.Set(capability.ThinPack); err != nil {
			return nil, err
		}
	}
	return req, nil
}

// localHaves lists the commits of every local ref, at most maxHavesPerRef
// (or depth) of each, as go-git's fetch offers them.
func localHaves(wc *workingCopy, depth int) ([]plumbing.Hash, error) {
	perRef := maxHavesPerRef
	if depth > 0 && depth < perRef {
		perRef = depth
	}
	refs, err := wc.repo.Storer.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("read local refs: %w", err)
	}
	seen := map[plumbing.Hash]bool{}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && !seen[r.Hash()] {
			haveFrom(wc, r.Hash(), perRef, seen)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read local refs: %w", err)
	}
	haves := make([]plumbing.Hash, 0, len(seen))
	for h := range seen {
		haves = append(haves, h)
	}
	return haves, nil
}

// haveFrom adds up to n commits of tip's history to seen; a ref that is not
// a commit is offered as it is, one that is not here not at all.
func haveFrom(wc *workingCopy, tip plumbing.Hash, n int, seen map[plumbing.Hash]bool) {
	c, err := object.GetCommit(wc.repo.Storer, tip)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return
	}
	if err != nil {
		seen[tip] = true
		return
	}
	// A shallow copy's history ends early: what was walked is kept.
	_ = object.NewCommitPreorderIter(c, seen, nil).ForEach(func(c *object.Commit) error {
		seen[c.Hash] = true
		if n--; n == 0 {
			return storer.ErrStop
		}
		return nil
	})
}

// demux takes the pack out of its side-band, when one was asked for.
func demux(caps *capability.List, r io.Reader) io.Reader {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	}
	return r
}

// updateShallow applies the server's shallow and unshallow lines to the
// shallow list.
func updateShallow(wc *workingCopy, upd packp.ShallowUpdate) error {
	if len(upd.Shallows) == 0 && len(upd.Unshallows) == 0 {
		return nil
	}
	list, err := wc.repo.Storer.Shallow()
	if err != nil {
		return fmt.Errorf("read shallow list: %w", err)
	}
	set := make(map[plumbing.Hash]bool, len(list)+len(upd.Shallows))
	for _, h := range append(list, upd.Shallows...) {
		set[h] = true
	}
	for _, h := range upd.Unshallows {
		delete(set, h)
	}
	next := make([]plumbing.Hash, 0, len(set))
	for h := range set {
		next = append(next, h)
	}
	if err := setShallow(wc, next); err != nil {
		return fmt.Errorf("update shallow list: %w", err)
	}
	return nil
}

// closeInto closes c and keeps its error in *err when there is none yet.
func closeInto(c io.Closer, err *error) {
	if cerr := c.Close(); *err == nil {
		*err = cerr
	}
}
