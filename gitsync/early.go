package gitsync

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// A first clone writes its files while its pack is still arriving. The
// pack's first read (scanPack) inflates every whole object to name it by
// its hash; for a first clone into an empty folder it hands the commit to
// check out, its trees and its small blobs to an earlyCheckout, which
// follows the tree from the commit as the objects come (git sends a tree
// before what it holds) and gives each blob the tree names to the writers
// at once. The checkout that follows the fetch then finds those files in
// place and only looks at them, instead of inflating every blob a second
// time and writing it after the whole pack was read.
//
// Nothing is written that the commit does not hold: a tree or blob is
// taken only when its hash, computed from the content just inflated, is
// the one its parent tree names, from the commit asked for down (for an
// annotated tag, the commit the remote advertises as its peeled value, or
// the one the tag object names when it comes first). Whatever
// arrives otherwise (a delta, a blob past earlyBlobMax, a symlink, an
// object before the tree that names it) is left to the checkout. When the
// fetch fails, or brings another commit than the one expected, every file
// and folder written early is removed, so the folder is as it was.

const (
	// earlyTreeMax bounds the size of a tree read early; the files of a
	// larger one are left to the checkout.
	earlyTreeMax = 4 << 20
	// earlyBlobMax bounds the size of a blob written early; the scan holds
	// one such blob, and the writers another while they write it.
	earlyBlobMax = 1 << 20
	// earlyKeptMax bounds the bytes of trees and tree deltas kept as
	// bases while trees are expected.
	earlyKeptMax = 32 << 20
)

// earlyCheckout is the early part of a first clone's checkout.
type earlyCheckout struct {
	path string // the working copy
	// commit is the commit to check out; zero until the fetch knows it.
	commit plumbing.Hash
	// trees and blobs are the objects expected, with the paths that hold
	// them: a tree's folder ("" for the root, else ending in "/"), a blob's
	// files.
	trees map[plumbing.Hash][]string
	blobs map[plumbing.Hash][]earlyFile
	// made are the folders made; top the names made in the working copy's
	// own folder, which is all an undo removes.
	made map[string]bool
	top  map[string]bool
	// kept are the trees read while trees are expected, by pack offset, so
	// that a tree sent as a delta (as at full history) can be made from
	// its base; keptBytes is what they hold.
	kept      map[int64]keptTree
	keptBytes int64
	// recent are the trees made last from deltas; next is the oldest.
	recent [earlyMade]madeTree
	next   int
	// taken are the trees taken, by hash, which the checkout reads from
	// here rather than make them again from their deltas.
	taken map[plumbing.Hash][]byte
	w     *writers
	jl    *jobLog
	sent  int // files handed to the writers
	// rooted: the commit was read, its tree is expected; stopped:
	// something was not as expected, nothing more is written early;
	// closed: its pack is read, no more objects come.
	rooted, stopped, closed bool

	mu      sync.Mutex
	entries map[string]*index.Entry // what the writers wrote
}

// madeTree is a tree made from its delta, at the delta's offset.
type madeTree struct {
	off  int64
	tree []byte
}

// keptTree is a whole tree's content (base < 0) or a delta's data, with
// the offset of its base.
type keptTree struct {
	data []byte
	base int64
}

type earlyFile struct {
	p    string
	mode filemode.FileMode
}

// newEarlyCheckout returns an earlyCheckout for wc when it is a first
// clone (no commit, no pack) into a folder that holds nothing but .git,
// else nil. commit is the commit to check out, when the target names one.
func newEarlyCheckout(wc *workingCopy, commit plumbing.Hash, jl *jobLog) *earlyCheckout {
	if !firstFetch(wc) || !onlyGitDir(wc.path) {
		return nil
	}
	return &earlyCheckout{
		path:    wc.path,
		jl:      jl,
		commit:  commit,
		trees:   map[plumbing.Hash][]string{},
		blobs:   map[plumbing.Hash][]earlyFile{},
		made:    map[string]bool{},
		kept:    map[int64]keptTree{},
		taken:   map[plumbing.Hash][]byte{},
		top:     map[string]bool{},
		entries: map[string]*index.Entry{},
	}
}

// onlyGitDir says whether the folder at path holds nothing but .git.
func onlyGitDir(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(0)
	if err != nil {
		return false
	}
	for _, n := range names {
		if n != git.GitDirName {
			return false
		}
	}
	return true
}

// expect sets the commit to check out, unless the target named one.
func (e *earlyCheckout) expect(h plumbing.Hash) {
	if e != nil && e.commit.IsZero() {
		e.commit = h
	}
}

// wants says whether scanPack should hand over the whole object of type
// t and size n: the commit, the tags and trees that may lead to it, and
// the blobs small enough to be written from memory.
func (e *earlyCheckout) wants(t plumbing.ObjectType, n int64) bool {
	if e == nil || e.stopped || e.closed || e.commit.IsZero() {
		return false
	}
	switch t {
	case plumbing.CommitObject, plumbing.TagObject:
		return !e.rooted && n <= earlyTreeMax
	case plumbing.TreeObject:
		return n <= earlyTreeMax && len(e.trees) > 0
	case plumbing.BlobObject:
		return n <= earlyBlobMax && len(e.blobs) > 0
	}
	return false
}

// object takes the whole object at pack offset off that the scan read
// (data is the scan's; a tree is copied to be kept as a base).
func (e *earlyCheckout) object(off int64, t plumbing.ObjectType, h plumbing.Hash, data []byte) {
	var err error
	switch t {
	case plumbing.CommitObject:
		err = e.takeCommit(h, data)
	case plumbing.TagObject:
		err = e.takeTag(h, data)
	case plumbing.TreeObject:
		e.keep(off, data, -1)
		err = e.takeTree(h, data)
	case plumbing.BlobObject:
		err = e.takeBlob(h, data)
	}
	if err != nil {
		e.stopped = true
	}
}

func (e *earlyCheckout) takeCommit(h plumbing.Hash, data []byte) error {
	if h != e.commit {
		return nil
	}
	var c object.Commit
	if err := c.Decode(memoryObject(plumbing.CommitObject, data)); err != nil {
		return err
	}
	e.trees[c.TreeHash] = []string{""}
	e.rooted = true
	return nil
}

// takeTag follows an annotated tag that was asked for to what it tags.
func (e *earlyCheckout) takeTag(h plumbing.Hash, data []byte) error {
	if h != e.commit {
		return nil
	}
	var t object.Tag
	if err := t.Decode(memoryObject(plumbing.TagObject, data)); err != nil {
		return err
	}
	e.commit = t.Target
	return nil
}

// wantsDelta says whether scanPack should hand over the offset delta of
// n bytes whose base is at pack offset base: one built on a kept tree,
// while trees are expected.
func (e *earlyCheckout) wantsDelta(base, n int64) bool {
	if e == nil || e.stopped || e.closed || !e.rooted || len(e.trees) == 0 || n > earlyTreeMax {
		return false
	}
	_, ok := e.kept[base]
	return ok
}

// delta takes the offset delta at off built on the kept tree at base (data
// is the scan's): it is kept, and the tree it makes is taken when it is
// expected.
func (e *earlyCheckout) delta(off, base int64, data []byte) {
	e.keep(off, data, base)
	tree, err := e.make(off)
	if err == nil {
		err = e.takeTree(plumbing.ComputeHash(plumbing.TreeObject, tree), tree)
	}
	if err != nil {
		e.stopped = true
	}
}

// keep keeps a copy of data as the tree or delta at off, while the
// kept bytes stay under earlyKeptMax.
func (e *earlyCheckout) keep(off int64, data []byte, base int64) {
	if len(e.trees) == 0 || e.keptBytes+int64(len(data)) > earlyKeptMax {
		return
	}
	e.kept[off] = keptTree{data: bytes.Clone(data), base: base}
	e.keptBytes += int64(len(data))
}

// make is the tree at off, made from the nearest tree of its chain of
// kept deltas whose content is at hand: a whole tree, or one made lately.
// git writes a delta's base just before it when it was not written yet,
// so a chain mostly arrives in order and each tree is one delta from the
// last made. Offsets of bases only go down, so the walk ends.
func (e *earlyCheckout) make(off int64) ([]byte, error) {
	var chain [][]byte
	k, ok := e.kept[off]
	tree, made := []byte(nil), false
	for ok && k.base >= 0 {
		if chain = append(chain, k.data); len(chain) > maxDeltaDepth {
			return nil, errors.New("delta chain too long")
		}
		if tree, made = e.lately(k.base); made {
			break
		}
		k, ok = e.kept[k.base]
	}
	switch {
	case !ok:
		return nil, errors.New("delta base not kept")
	case !made:
		tree = k.data
	}
	for i := len(chain) - 1; i >= 0; i-- {
		var err error
		if tree, err = packfile.PatchDelta(tree, chain[i]); err != nil {
			return nil, err
		}
	}
	e.remember(off, tree)
	return tree, nil
}

// earlyMade is how many trees made from deltas are remembered.
const earlyMade = 64

// lately is the tree made lately for the delta at off, if it is remembered.
func (e *earlyCheckout) lately(off int64) ([]byte, bool) {
	for i := range e.recent {
		if r := &e.recent[i]; r.off == off && r.tree != nil {
			return r.tree, true
		}
	}
	return nil, false
}

// remember keeps tree as made for off, in place of the oldest one.
func (e *earlyCheckout) remember(off int64, tree []byte) {
	e.recent[e.next] = madeTree{off: off, tree: tree}
	e.next = (e.next + 1) % len(e.recent)
}

func (e *earlyCheckout) takeTree(h plumbing.Hash, data []byte) error {
	dirs, ok := e.trees[h]
	if !ok {
		return nil
	}
	delete(e.trees, h)
	e.taken[h] = bytes.Clone(data)
	if len(e.trees) == 0 { // every tree is here: no base is needed now
		clear(e.kept)
		e.keptBytes = 0
		e.recent = [earlyMade]madeTree{}
	}
	var t object.Tree
	if err := t.Decode(memoryObject(plumbing.TreeObject, data)); err != nil {
		return err
	}
	seen := make(map[string]bool, len(t.Entries))
	for _, te := range t.Entries {
		if checkName(te.Name) != nil || seen[te.Name] {
			return errors.New("invalid tree") // the checkout says why
		}
		seen[te.Name] = true
	}
	for _, dir := range dirs {
		if strings.Count(dir, "/") >= maxTreeDepth {
			return errors.New("tree too deep")
		}
		for _, te := range t.Entries {
			switch p := dir + te.Name; te.Mode {
			case filemode.Dir:
				e.trees[te.Hash] = append(e.trees[te.Hash], p+"/")
			case filemode.Regular, filemode.Deprecated, filemode.Executable:
				e.blobs[te.Hash] = append(e.blobs[te.Hash], earlyFile{p: p, mode: canonicalMode(te.Mode)})
			}
		}
	}
	return nil
}

func (e *earlyCheckout) takeBlob(h plumbing.Hash, data []byte) error {
	files, ok := e.blobs[h]
	if !ok {
		return nil
	}
	delete(e.blobs, h)
	if e.w == nil {
		e.w = startWriters(e.wrote, true)
	}
	for _, f := range files {
		if err := e.mkdirs(path.Dir(f.p)); err != nil {
			return err
		}
		if !strings.Contains(f.p, "/") {
			e.top[f.p] = true
		}
		bp := e.w.bufs.Get().(*[]byte)
		buf := append((*bp)[:0], data...)
		j := writeJob{p: f.p, full: e.full(f.p), l: leaf{mode: f.mode, hash: h}, data: buf, perm: filePerm(f.mode)}
		if err := e.w.submit(j); err != nil {
			e.w.putBuffer(buf)
			return err
		}
		e.sent++
	}
	return nil
}

// mkdirs makes the folder dir (slash-separated, relative) and its parents.
func (e *earlyCheckout) mkdirs(dir string) error {
	if dir == "." || e.made[dir] {
		return nil
	}
	if err := e.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(e.full(dir), 0o755); err != nil {
		return err // one that is there was not made here: it stays
	}
	e.made[dir] = true
	if path.Dir(dir) == "." {
		e.top[dir] = true
	}
	return nil
}

// wrote records a file a writer wrote.
func (e *earlyCheckout) wrote(j writeJob, fi fs.FileInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.entries[j.p] = newEntry(j.p, j.l, fi)
}

func (e *earlyCheckout) full(p string) string {
	return filepath.Join(e.path, filepath.FromSlash(p))
}

// close ends the objects taken: its pack is read (or failed).
func (e *earlyCheckout) close() {
	if e != nil {
		e.closed = true
	}
}

// settle waits for the writers and returns e when the sync goes on to
// check out commit (ok) and files were written for it; otherwise, or
// when a writer failed, it removes them all and returns nil.
func (e *earlyCheckout) settle(commit plumbing.Hash, ok bool) *earlyCheckout {
	if e == nil {
		return nil
	}
	e.closed = true
	if e.w != nil && e.w.wait() != nil {
		ok = false
	}
	e.w = nil
	if !ok || commit != e.commit || len(e.entries) == 0 {
		e.undo()
		return nil
	}
	return e
}

// files are the files written early, by path (nil for a nil e).
func (e *earlyCheckout) files() map[string]*index.Entry {
	if e == nil {
		return nil
	}
	return e.entries
}

// undo removes everything written early: the folders made at the top
// and the files handed to the writers there, written or not.
func (e *earlyCheckout) undo() {
	if e == nil {
		return
	}
	if e.w != nil {
		_ = e.w.wait()
		e.w = nil
	}
	var failed error
	for name := range e.top {
		if err := os.RemoveAll(e.full(name)); err != nil {
			failed = err
		}
	}
	if e.sent > 0 {
		e.jl.printf("removed the %d files written as the pack arrived", e.sent)
	}
	if failed != nil {
		e.jl.printf("could not remove them all: %v", failed)
	}
	e.sent = 0
	clear(e.top)
	clear(e.entries)
}

// objects is st, but for the trees e took, which are read from memory.
func (e *earlyCheckout) objects(st storer.EncodedObjectStorer) storer.EncodedObjectStorer {
	if e == nil || len(e.taken) == 0 {
		return st
	}
	return earlyTrees{EncodedObjectStorer: st, trees: e.taken}
}

// earlyTrees serves the trees an earlyCheckout took from memory, every
// other object from the storage it wraps.
type earlyTrees struct {
	storer.EncodedObjectStorer
	trees map[plumbing.Hash][]byte
}

func (s earlyTrees) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if data, ok := s.trees[h]; ok && (t == plumbing.TreeObject || t == plumbing.AnyObject) {
		return memoryObject(plumbing.TreeObject, data), nil
	}
	return s.EncodedObjectStorer.EncodedObject(t, h)
}

// memoryObject wraps data as an object of type t for go-git's decoders.
func memoryObject(t plumbing.ObjectType, data []byte) plumbing.EncodedObject {
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	_, _ = o.Write(data) // a MemoryObject's Write does not fail
	return o
}

// earlyDone is how a checkout takes a file written early for p: it is
// taken when it holds l and is still as the writer left it.
func earlyDone(e *index.Entry, l leaf, fi fs.FileInfo) bool {
	return e != nil && holds(e, l) && matchesMode(e.Mode, fi) &&
		uint32(fi.Size()) == e.Size && fi.ModTime().Equal(e.ModifiedAt) && sameInode(e, fi)
}
