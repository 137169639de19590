package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

const originName = "origin"

const (
	// objectCacheSize bounds go-git's cache of decoded objects per sync
	// (its default is 96 MiB, which a sync does not need).
	objectCacheSize = 8 << 20
	// checkoutCacheSize bounds it while a checkout writes files: enough
	// for the delta bases of the next blobs, not for every blob written.
	checkoutCacheSize = 1 << 20
)

// workingCopy is an opened repository with its worktree.
type workingCopy struct {
	path   string // the worktree
	gitDir string // usually path/.git
	repo   *git.Repository
	st     *storage // keeps pack files open: close when done
	// early writes a first clone's files as its pack arrives (nil: no).
	early *earlyCheckout
}

// newWorkingCopy wraps repo, opened or made with newStorage, for path.
func newWorkingCopy(path string, repo *git.Repository) *workingCopy {
	st := repo.Storer.(*storage)
	return &workingCopy{path: path, gitDir: st.Filesystem().Root(), repo: repo, st: st}
}

// close releases the pack files the storage keeps open.
func (wc *workingCopy) close() error {
	return wc.st.Close()
}

// packsDeleted makes the storage forget the indexes of deleted packs: it
// keeps their files open, so it would go on finding their objects.
func (wc *workingCopy) packsDeleted() {
	wc.st.Reindex()
}

// open opens the working copy at t.Path, creating it (git init) when the
// path is missing or empty, and points origin at the remote. created says
// whether the folder had no .git before.
func (s *Syncer) open(t Target, rem *remote, jl *jobLog) (wc *workingCopy, created bool, err error) {
	parent := filepath.Dir(t.Path)
	if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
		return nil, false, fmt.Errorf("open working copy %s: parent directory %s does not exist", t.Path, parent)
	}
	repo, created, err := openOrInit(t.Path, rem, jl)
	if err != nil {
		return nil, false, fmt.Errorf("open working copy %s: %w", t.Path, err)
	}
	wc = newWorkingCopy(t.Path, repo)
	if err := ensureOrigin(repo, rem.url, jl); err != nil {
		_ = wc.close()
		return nil, false, fmt.Errorf("set origin of %s: %w", t.Path, err)
	}
	return wc, created, nil
}

// notAClone is the refusal of a folder that holds files but no clone.
const notAClone = "exists, is not empty and is not a git working copy; refusing to touch it " +
	"(empty it, or clone the repository into it with git; add files such as .env after the first deploy)"

func openOrInit(path string, rem *remote, jl *jobLog) (*git.Repository, bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(path, 0o755); err != nil {
			return nil, false, err
		}
		repo, err := initRepo(path, rem, jl)
		return repo, err == nil, err
	case err != nil:
		return nil, false, err
	case !fi.IsDir():
		return nil, false, errors.New("exists and is not a directory")
	}
	repo, err := plainOpen(path)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		return initFolder(path, rem, jl)
	}
	if err != nil {
		return nil, false, err
	}
	if cfg, err := repo.Config(); err == nil && cfg.Core.IsBare {
		_ = repo.Storer.(*storage).Close()
		return nil, false, errors.New("is a bare repository, not a working copy")
	}
	return repo, false, nil
}

// initFolder makes the repository of a folder that has none: an empty one,
// or one holding only the .git of a first sync killed inside git init
// (nothing in it can be lost: it is made again). created is false then.
func initFolder(path string, rem *remote, jl *jobLog) (*git.Repository, bool, error) {
	created := true
	if halfMade(path) {
		jl.printf("%s/.git was left half-made by an interrupted sync; making it again", path)
		if err := os.RemoveAll(filepath.Join(path, git.GitDirName)); err != nil {
			return nil, false, err
		}
		created = false
	}
	empty, err := isEmptyDir(path)
	if err != nil {
		return nil, false, err
	}
	if !empty {
		return nil, false, errors.New(notAClone)
	}
	repo, err := initRepo(path, rem, jl)
	return repo, created && err == nil, err
}

// storage is go-git's filesystem storage with its object cache at hand,
// and its objects read from the packs by packObjects when they are there.
type storage struct {
	*filesystem.Storage
	objects *cache.ObjectLRU
	gitDir  string
	packs   *packObjects // opened at the first object read
}

// EncodedObject reads h from the packs (packObjects) and otherwise
// through go-git (a loose object, or one of an alternate repository).
func (st *storage) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj, ok := st.objects.Get(h); ok {
		if t != plumbing.AnyObject && obj.Type() != t {
			return nil, plumbing.ErrObjectNotFound
		}
		return obj, nil
	}
	obj, packed, err := st.read(h)
	if err == nil && !packed {
		return st.Storage.EncodedObject(t, h)
	}
	if err != nil {
		return nil, err
	}
	if t != plumbing.AnyObject && obj.Type() != t {
		return nil, plumbing.ErrObjectNotFound
	}
	if _, lazy := obj.(*lazyObject); !lazy {
		st.objects.Put(obj)
	}
	return obj, nil
}

// HasEncodedObject looks h up in the packs' indexes, then as go-git does.
func (st *storage) HasEncodedObject(h plumbing.Hash) error {
	for range 2 {
		if st.openPacks() != nil {
			break
		}
		if _, _, ok := st.packs.find(h); ok {
			return nil
		}
		if looseObject(st.gitDir, h) {
			break
		}
		if !st.packsChanged() {
			return plumbing.ErrObjectNotFound
		}
	}
	return st.Storage.HasEncodedObject(h)
}

// read reads h from the packs; packed is false (and err nil) when
// go-git's storage is to read it: the packs could not be opened, or h is
// kept loose or behind alternates, or is a delta on such a base. A pack
// stored since they were opened without a Reindex (go-git's own pack
// writer) is found by looking at the folder again on a miss; an object
// found nowhere is plumbing.ErrObjectNotFound.
func (st *storage) read(h plumbing.Hash) (obj plumbing.EncodedObject, packed bool, err error) {
	for range 2 {
		if st.openPacks() != nil {
			return nil, false, nil
		}
		obj, found, err := st.packs.object(h)
		switch {
		case errors.Is(err, errNotPacked):
			return nil, false, nil
		case found || err != nil:
			return obj, found, err
		case looseObject(st.gitDir, h):
			return nil, false, nil
		case !st.packsChanged():
			return nil, true, plumbing.ErrObjectNotFound
		}
	}
	return nil, true, plumbing.ErrObjectNotFound
}

// packsChanged reports whether the pack folder changed since the packs
// were opened, and if so forgets them (to be opened again) and makes
// go-git's storage read its indexes again.
func (st *storage) packsChanged() bool {
	if !st.packs.packs.changed(st.gitDir) {
		return false
	}
	st.Reindex()
	return true
}

func (st *storage) openPacks() error {
	if st.packs != nil {
		return st.packs.refresh()
	}
	p, err := openPackObjects(st.gitDir, func() int { return int(st.objects.MaxSize) })
	if err != nil {
		return err
	}
	st.packs = p
	return nil
}

// packedView is the packs as the storage has them open, for reading
// whole objects from them on other goroutines (packedBlobs); closing it
// does nothing, and they stay open until the storage is closed.
func (st *storage) packedView() (*packedBlobs, error) {
	if err := st.openPacks(); err != nil {
		return nil, err
	}
	return st.packs.packs.viewOf(), nil
}

// Reindex makes both readers see the packs as they are now (this one at
// its next read, and without reading again the indexes it has open).
func (st *storage) Reindex() {
	st.Storage.Reindex()
	if st.packs != nil {
		st.packs.stale = true
	}
}

// Close releases the packs and their indexes.
func (st *storage) Close() error {
	st.packs.close()
	st.packs = nil
	return st.Storage.Close()
}

// newStorage is go-git's filesystem storage with the pack files kept open
// (go-git otherwise reopens a pack for every object read), the pack
// indexes read through a buffer and a small object cache. Its Close must
// be called.
func newStorage(dot billy.Filesystem) *storage {
	objects := cache.NewObjectLRU(objectCacheSize)
	return &storage{Storage: filesystem.NewStorageWithOptions(packIndexFS{dot}, objects,
		filesystem.Options{KeepDescriptors: true}), objects: objects, gitDir: dot.Root()}
}

// boundCache bounds the object cache, and the delta bases packObjects
// keeps, to size until the returned function is called. The cache keeps
// decoded objects that the next reads may need again, trees and delta
// bases above all; a checkout writing files reads each blob once, and
// filling the cache with them would only hold memory (every object read
// from a pack is cached). Like the rest of the storage, it is for one
// goroutine at a time.
func (st *storage) boundCache(size cache.FileSize) (restore func()) {
	was := st.objects.MaxSize
	st.objects.MaxSize = size
	return func() { st.objects.MaxSize = was }
}

// plainOpen is git.PlainOpen with newStorage: a path without .git is
// opened as a bare repository, and a .git file is followed to its gitdir.
func plainOpen(path string) (*git.Repository, error) {
	wt := osfs.New(path)
	var dot billy.Filesystem = wt
	fi, err := wt.Stat(git.GitDirName)
	switch {
	case err == nil && fi.IsDir():
		dot = osfs.New(filepath.Join(path, git.GitDirName))
	case err == nil:
		if dot, err = gitdirLink(path); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist):
		wt = nil
	default:
		return nil, err
	}
	if _, err := dot.Stat(""); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, git.ErrRepositoryNotExists
		}
		return nil, err
	}
	st := newStorage(dot)
	repo, err := git.Open(st, wt)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return repo, nil
}

// gitdirLink reads a .git file ("gitdir: DIR") as git.PlainOpen does.
func gitdirLink(path string) (billy.Filesystem, error) {
	b, err := os.ReadFile(filepath.Join(path, git.GitDirName))
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(string(b), "gitdir: ")
	if !ok {
		return nil, errors.New(".git file has no gitdir: prefix")
	}
	dir := strings.TrimSpace(strings.Split(rest, "\n")[0])
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(path, dir)
	}
	return osfs.New(dir), nil
}

func initRepo(path string, rem *remote, jl *jobLog) (*git.Repository, error) {
	jl.printf("clone %s into %s", rem.url, path)
	st := newStorage(osfs.New(filepath.Join(path, git.GitDirName)))
	repo, err := git.Init(st, osfs.New(path))
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return repo, nil
}

// halfMade reports whether path holds a .git directory and nothing else.
func halfMade(path string) bool {
	names, err := os.ReadDir(path)
	return err == nil && len(names) == 1 && names[0].Name() == git.GitDirName && names[0].IsDir()
}

func isEmptyDir(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// ensureOrigin makes origin point at url: only the configured remote is
// ever fetched, whatever the working copy had before.
func ensureOrigin(repo *git.Repository, url string, jl *jobLog) error {
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	rc, ok := cfg.Remotes[originName]
	if ok && len(rc.URLs) == 1 && rc.URLs[0] == url {
		return nil
	}
	if ok && len(rc.URLs) > 0 {
		jl.printf("set origin to %s (was %s)", url, redactURL(rc.URLs[0]))
	}
	cfg.Remotes[originName] = &config.RemoteConfig{
		Name:  originName,
		URLs:  []string{url},
		Fetch: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*"},
	}
	return repo.SetConfig(cfg)
}

// headCommit is the commit HEAD resolves to, or the zero hash.
func (wc *workingCopy) headCommit() plumbing.Hash {
	ref, err := wc.repo.Head()
	if err != nil {
		return plumbing.ZeroHash
	}
	if _, err := wc.repo.CommitObject(ref.Hash()); err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// waitIndexLock waits for a .git/index.lock held by another git process to
// go away, and removes one older than s.staleLock: a process that was killed
// while holding it would otherwise wedge every later sync.
func (s *Syncer) waitIndexLock(ctx context.Context, wc *workingCopy, jl *jobLog) error {
	lock := filepath.Join(wc.gitDir, "index.lock")
	for {
		fi, err := os.Lstat(lock)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", lock, err)
		}
		if age := time.Since(fi.ModTime()); age >= s.staleLock {
			if err := os.Remove(lock); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale %s: %w", lock, err)
			}
			jl.printf("removed stale .git/index.lock (%s old, left by a git process that died)",
				age.Round(time.Second))
			jl.logger.Warn().Str("path", wc.path).Int64("age_ms", age.Milliseconds()).Msg("removed stale index.lock")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s held by another git process: %w", lock, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// setHead points HEAD at the local branch of ref (created or moved to
// commit), or detaches it at commit for a tag.
func setHead(wc *workingCopy, ref string, commit plumbing.Hash) error {
	name := plumbing.ReferenceName(ref)
	st := wc.repo.Storer
	if !name.IsBranch() {
		if err := setReference(st, plumbing.NewHashReference(plumbing.HEAD, commit)); err != nil {
			return fmt.Errorf("set HEAD to %s: %w", short(commit), err)
		}
		return nil
	}
	if err := setReference(st, plumbing.NewHashReference(name, commit)); err != nil {
		return fmt.Errorf("set %s to %s: %w", name, short(commit), err)
	}
	if err := setReference(st, plumbing.NewSymbolicReference(plumbing.HEAD, name)); err != nil {
		return fmt.Errorf("set HEAD to %s: %w", name, err)
	}
	return nil
}

// setReference stores ref unless the repository already has it exactly
// so: a sync that changes nothing rewrites no file in .git.
func setReference(st storer.ReferenceStorer, ref *plumbing.Reference) error {
	cur, err := st.Reference(ref.Name())
	if err == nil && cur.Type() == ref.Type() && cur.Hash() == ref.Hash() && cur.Target() == ref.Target() {
		return nil
	}
	return st.SetReference(ref)
}
