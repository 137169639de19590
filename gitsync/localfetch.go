package gitsync

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// localObjectLimit is the most objects a fetch from a local path reads in
// this process. Past it (first clones of large repositories) git's
// upload-pack, which sends the objects as they are stored, compressed and
// deltified, is faster than decoding and encoding each one here.
const localObjectLimit = 4096

// firstFetchLimit is how many packed objects an upstream may hold for the
// first fetch into an empty working copy to be tried in this process. The
// walk gives up at localObjectLimit objects, and on the way it reads
// every tree it adds; at full history nearly everything in the upstream is
// wanted, and at depth 1 an upstream this large almost always has a tip
// tree past the limit too. A large repository's first clone read trees
// for 0.15 s before git's upload-pack started. The cost of guessing wrong
// is once per working copy: git's start-up instead of the in-process path.
func firstFetchLimit(depth int) int {
	if depth == 1 {
		return 8 * localObjectLimit
	}
	return localObjectLimit
}

// firstFetch says whether wc has no commit and no pack yet.
func firstFetch(wc *workingCopy) bool {
	if !wc.headCommit().IsZero() {
		return false
	}
	packs, err := wc.st.ObjectPacks()
	return err == nil && len(packs) == 0
}

// packedObjects counts the objects in the packs of the repository at dir,
// from each version 2 index's fan-out table; -1 when an index cannot be
// read that way. Loose objects are not counted.
func packedObjects(dir string) int {
	idx, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.idx"))
	if err != nil {
		return -1
	}
	n := 0
	for _, name := range idx {
		c, err := indexCount(name)
		if err != nil {
			return -1
		}
		n += c
	}
	return n
}

// indexCount reads the number of objects a version 2 pack index lists: the
// last entry of its fan-out table.
func indexCount(name string) (int, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var b [8 + 256*4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return 0, err
	}
	if !bytes.Equal(b[:8], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return 0, fmt.Errorf("%s: not a version 2 pack index", name)
	}
	return int(binary.BigEndian.Uint32(b[len(b)-4:])), nil
}

// errNotInProcess says a local fetch is left to git's upload-pack.
var errNotInProcess = errors.New("not fetched in-process")

// localGitDir is the repository of a local-path remote that this process
// may read itself: a plain repository (no alternates) owned by this
// process's user, as git's safe.directory rule allows without settings.
// It is "" for any other remote: git's upload-pack reads those, with its
// own checks.
func localGitDir(rem *remote) string {
	if rem.host != "" {
		return ""
	}
	ep, err := transport.NewEndpoint(rem.url)
	if err != nil || ep.Protocol != "file" {
		return ""
	}
	for _, dir := range []string{filepath.Join(ep.Path, ".git"), ep.Path} {
		fi, err := os.Stat(filepath.Join(dir, "HEAD"))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "objects", "info", "alternates")); err == nil {
			return ""
		}
		if owner(dir) != os.Geteuid() {
			return ""
		}
		return dir
	}
	return ""
}

// fetchLocal fetches spec from the repository at dir without running git:
// it resolves the ref there, finds the objects of the wanted commit that
// the working copy lacks (at depth 1 the commit and the trees and blobs
// it does not have; at full history also the commits back to one it has)
// and stores them as one pack. It answers errNotInProcess when git's
// upload-pack must do it: a hash or a deepening asked for, a shallow copy
// to complete, more than localObjectLimit objects, or a repository that
// lacks an object (a shallow upstream).
func fetchLocal(ctx context.Context, wc *workingCopy, dir string, spec config.RefSpec, depth int) (err error) {
	if spec.IsExactSHA1() || depth > 1 || depth == 0 && isShallow(wc) {
		return errNotInProcess // git's upload-pack decides whether a hash may be asked for
	}
	if firstFetch(wc) && packedObjects(dir) > firstFetchLimit(depth) {
		return errNotInProcess
	}
	up := newStorage(osfs.New(dir))
	defer closeInto(up, &err)
	want, err := resolveRemote(spec, up)
	if err != nil {
		return err
	}
	wc.early.expect(want)
	if wanted(wc, want, depth) {
		if err := copyObjects(ctx, wc, up.Storage, want, depth); err != nil {
			return err
		}
	}
	return setReference(wc.repo.Storer, plumbing.NewHashReference(spec.Dst(""), want))
}

// copyObjects stores what the working copy lacks of want at depth.
func copyObjects(ctx context.Context, wc *workingCopy, up *filesystem.Storage, want plumbing.Hash, depth int) error {
	set := &sendSet{up: up, has: func(h plumbing.Hash) bool { return hasObject(wc, h) },
		seen: map[plumbing.Hash]bool{}}
	shallow, err := set.walk(ctx, want, depth)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return errNotInProcess
	}
	if err != nil {
		return err
	}
	if len(set.out) > 0 {
		if err := storeEncoded(wc, up, set.out); err != nil {
			return err
		}
	}
	if shallow.IsZero() {
		return nil
	}
	return updateShallow(wc, packp.ShallowUpdate{Shallows: []plumbing.Hash{shallow}})
}

// storeEncoded encodes the objects hashes names, read from up, as a pack
// (no deltas: few objects, or small ones) and stores it as a fetched pack.
func storeEncoded(wc *workingCopy, up storer.EncodedObjectStorer, hashes []plumbing.Hash) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := packfile.NewEncoder(pw, up, false).Encode(hashes, 0)
		pw.CloseWithError(err)
	}()
	err := storePack(wc, pr, false)
	pr.CloseWithError(errors.Join(err, io.ErrClosedPipe))
	<-done
	return err
}

// sendSet gathers the objects to copy, in the order found.
type sendSet struct {
	up   storer.EncodedObjectStorer
	has  func(plumbing.Hash) bool
	seen map[plumbing.Hash]bool
	out  []plumbing.Hash
}

// add notes h unless it was seen or the working copy has it, and says
// whether it did.
func (s *sendSet) add(h plumbing.Hash) (bool, error) {
	if s.seen[h] || s.has(h) {
		return false, nil
	}
	s.seen[h] = true
	s.out = append(s.out, h)
	if len(s.out) > localObjectLimit {
		return false, errNotInProcess
	}
	return true, nil
}

// walk adds want (peeling annotated tags) and, for each commit, its tree:
// at depth 1 only the wanted commit, which it returns as the new shallow
// boundary; at full history the commits back to those the working copy
// has.
func (s *sendSet) walk(ctx context.Context, want plumbing.Hash, depth int) (shallow plumbing.Hash, err error) {
	h, err := s.peel(want)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	queue := []plumbing.Hash{h}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return plumbing.ZeroHash, err
		}
		h, queue = queue[0], queue[1:]
		added, err := s.add(h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if !added {
			continue
		}
		c, err := object.GetCommit(s.up, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if err := s.tree(c.TreeHash); err != nil {
			return plumbing.ZeroHash, err
		}
		if depth == 1 {
			return h, nil // the shallow boundary, as git's upload-pack says it
		}
		queue = append(queue, c.ParentHashes...)
	}
	return plumbing.ZeroHash, nil
}

// peel adds the annotated tags want leads through and returns the commit.
func (s *sendSet) peel(want plumbing.Hash) (plumbing.Hash, error) {
	h := want
	for range 10 {
		o, err := s.up.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
		default:
			return plumbing.ZeroHash, errNotInProcess // a tag of a tree or blob
		}
		if _, err := s.add(h); err != nil {
			return plumbing.ZeroHash, err
		}
		tag, err := object.DecodeTag(s.up, o)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, fmt.Errorf("tag %s: more than 10 tags in a chain", want)
}

// tree adds the tree h and what it holds, except the trees the working
// copy has: it has everything under them.
func (s *sendSet) tree(h plumbing.Hash) error {
	added, err := s.add(h)
	if err != nil || !added {
		return err
	}
	t, err := object.GetTree(s.up, h)
	if err != nil {
		return err
	}
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Submodule:
		case filemode.Dir:
			err = s.tree(e.Hash)
		default:
			_, err = s.add(e.Hash)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
