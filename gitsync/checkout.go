package gitsync

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ctxCheckEvery is how many files are written between context checks.
const ctxCheckEvery = 64

// checkout brings the worktree and the index from the baseline (what the
// index says is on disk) to the target tree, touching only what differs,
// like `git reset --hard` and unlike go-git's Reset, which removes
// untracked and ignored files. Nothing is ever written through a symlink.
type checkout struct {
	ctx    context.Context
	wc     *workingCopy
	target map[string]leaf
	base   baseline
	// tree is the target's cache-tree (nil when it cannot have one);
	// fromIndex says the index already carried it, so that no tree object
	// was read.
	tree      *cacheTree
	fromIndex bool
	// next becomes the new index; it always describes the disk, so it can
	// be written even when the checkout stops half-way. Writers update
	// it, changed and written under mu.
	next    map[string]*index.Entry
	changed bool
	mu      sync.Mutex
	w       *writers
	// dirs caches relative directories known to be real directories.
	dirs map[string]bool
	jl   *jobLog
	// pre holds lstats taken ahead, for large checkouts.
	pre *preload
	// hashBuf is read through when a file's content must be hashed.
	hashBuf []byte
	// fresh says the working copy had no commit and no index: files that
	// are not there yet are created in place (see writeFile).
	fresh bool
	// packed reads whole blobs from the packs for the writers, when the
	// checkout writes many files; hdr reads their entries' headers.
	packed *packedBlobs
	hdr    *packReader

	written, removed int
	// early are the files a first clone wrote as its pack arrived, taken
	// as written when they are still as written (see earlyCheckout).
	early map[string]*index.Entry
	// fromPacks counts the files written from blobs read by packedBlobs.
	fromPacks   int
	fromEarly   int // the files taken from early
	overwritten []string
}

// newCheckout prepares the checkout of commit over prev; early are the
// files and trees a first clone took as its pack arrived (or nil).
func newCheckout(ctx context.Context, wc *workingCopy, prev, commit plumbing.Hash, jl *jobLog,
	early *earlyCheckout) (*checkout, error) {
	c, err := wc.repo.CommitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("read commit: %w", err)
	}
	base, err := loadBaseline(wc, prev, jl)
	if err != nil {
		return nil, err
	}
	co := &checkout{ctx: ctx, wc: wc, base: base, dirs: make(map[string]bool), jl: jl,
		fresh: prev.IsZero() && len(base.entries) == 0, early: early.files()}
	if co.target = base.targetLeaves(c.TreeHash); co.target != nil {
		co.tree, co.fromIndex = base.tree, base.tree != nil && base.tree.hash == c.TreeHash
	} else if co.target, co.tree, err = flattenCached(early.objects(wc.repo.Storer), c.TreeHash, &base); err != nil {
		return nil, err
	}
	co.next = make(map[string]*index.Entry, len(co.target))
	for p, e := range base.entries {
		co.next[p] = e
	}
	return co, nil
}

// run applies the checkout under .git/index.lock and writes the index
// (also after an error, so that it matches what was done). The index
// carries the target's cache-tree once the whole target is in place, and
// is written for it alone when it lacked that one.
func (c *checkout) run() error {
	if c.inPlace() {
		return nil
	}
	lock, err := lockIndex(c.wc.gitDir)
	if err != nil {
		return err
	}
	err = c.apply()
	var tree *cacheTree
	if err == nil {
		tree = c.tree
	}
	if !c.changed && (tree == nil || c.fromIndex) {
		lock.release()
		return err
	}
	if werr := lock.commit(c.next, tree); err == nil {
		err = werr
	}
	return err
}

func (c *checkout) apply() error {
	if err := c.removeStale(); err != nil {
		return err
	}
	c.openPacked()
	c.w = startWriters(c.wrote, c.fresh)
	restore := c.wc.st.boundCache(checkoutCacheSize)
	err := c.placeAll()
	restore()
	if werr := c.w.wait(); err == nil {
		err = werr
	}
	if c.packed != nil {
		c.packed.close()
	}
	return err
}

// openPacked lets the writers read blobs from the packs themselves when
// the checkout will write at least packedReadMin files. If the packs
// cannot be opened so, go-git reads every blob, as for a small checkout.
func (c *checkout) openPacked() {
	if c.expectedWrites() < packedReadMin {
		return
	}
	b, err := c.wc.st.packedView()
	if err != nil {
		c.jl.logger.Debug().Err(err).Str("path", c.wc.path).Msg("blobs read through go-git")
		return
	}
	c.packed, c.hdr = b, &packReader{buf: make([]byte, 16)}
}

// expectedWrites counts the target's files that the index does not
// already say are there, up to packedReadMin.
func (c *checkout) expectedWrites() int {
	if c.fresh {
		return len(c.target) - len(c.early)
	}
	n := 0
	for p, l := range c.target {
		if !holds(c.base.entries[p], l) {
			if n++; n >= packedReadMin {
				break
			}
		}
	}
	return n
}

// inPlace reports whether nothing is to be written, the index included:
// the index already describes the target (its entries and, when the
// target has one, its cache-tree) and every file's stat data is as the
// index recorded it, as for a no-op sync of an untouched working copy. It
// writes nothing, so it takes no lock; any doubt (a changed stat, a racily
// clean entry, a missing file) leaves the decision to the full checkout,
// which takes the lock and looks again.
func (c *checkout) inPlace() bool {
	if c.fresh || len(c.base.entries) != len(c.target) || c.tree != nil && !c.fromIndex {
		return false
	}
	paths := make([]string, 0, len(c.target))
	for p, l := range c.target {
		if !holds(c.base.entries[p], l) {
			return false
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	c.pre = startPreload(paths, c.full)
	defer func() { c.pre = nil }()
	for i, p := range paths {
		if i%ctxCheckEvery == ctxCheckEvery-1 && c.ctx.Err() != nil {
			return false
		}
		_, fi, err := c.lstatAt(i, p)
		if err != nil || fi == nil {
			return false
		}
		b := c.base.entries[p]
		if b.Mode == filemode.Submodule {
			if !fi.IsDir() {
				return false
			}
			continue
		}
		if !matchesMode(b.Mode, fi) || !statClean(b, fi, c.base.modTime) {
			return false
		}
	}
	return true
}

// holds reports whether index entry b records leaf l (b may be nil).
func holds(b *index.Entry, l leaf) bool {
	return b != nil && b.Hash == l.hash && b.Mode == l.mode
}

// placeAll places every path of the target, in order.
func (c *checkout) placeAll() error {
	paths := make([]string, 0, len(c.target))
	for p := range c.target {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	c.pre = startPreload(paths, c.full)
	for i, p := range paths {
		if i%ctxCheckEvery == ctxCheckEvery-1 {
			if err := c.ctx.Err(); err != nil {
				return err
			}
		}
		if err := c.w.failed(); err != nil {
			return err
		}
		if err := c.place(i, p, c.target[p]); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	return nil
}

// removeStale deletes tracked files the target does not have, then the
// directories this left empty.
func (c *checkout) removeStale() error {
	var gone []string
	for p := range c.base.entries {
		if _, ok := c.target[p]; !ok {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	for _, p := range gone {
		if err := c.removeTracked(p, c.base.entries[p]); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		delete(c.next, p)
		c.changed = true
	}
	c.pruneDirs(gone)
	return nil
}

func (c *checkout) removeTracked(p string, e *index.Entry) error {
	full, fi, err := c.lstat(p)
	if fi == nil || err != nil {
		return err
	}
	if e.Mode == filemode.Submodule {
		if fi.IsDir() && os.Remove(full) != nil {
			c.jl.printf("kept submodule directory %s: not empty", p)
		}
		return nil
	}
	if fi.IsDir() {
		return nil // a directory now stands there; it is untracked: keep it
	}
	if !c.unchanged(e, full, fi) {
		c.report(p, "removed locally edited file: %s")
	}
	if err := os.Remove(full); err != nil {
		return err
	}
	c.removed++
	return nil
}

// pruneDirs removes the now-empty parents of removed files, deepest first,
// except those the target still needs.
func (c *checkout) pruneDirs(gone []string) {
	if len(gone) == 0 {
		return
	}
	needed := make(map[string]bool)
	for p := range c.target {
		for d := path.Dir(p); d != "." && !needed[d]; d = path.Dir(d) {
			needed[d] = true
		}
	}
	candidates := make(map[string]bool)
	for _, p := range gone {
		for d := path.Dir(p); d != "." && !needed[d] && !candidates[d]; d = path.Dir(d) {
			candidates[d] = true
		}
	}
	dirs := make([]string, 0, len(candidates))
	for d := range candidates {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if _, fi, _ := c.lstat(d); fi != nil && fi.IsDir() && os.Remove(c.full(d)) == nil {
			delete(c.dirs, d)
		}
	}
}

// place makes p hold leaf l: unchanged files cost one lstat, files whose
// stat changed are hashed, and only differing ones are written.
func (c *checkout) place(i int, p string, l leaf) error {
	full, fi, err := c.lstatAt(i, p)
	if err != nil {
		return err
	}
	if l.mode == filemode.Submodule {
		return c.placeGitlink(p, l, full, fi)
	}
	if fi == nil {
		return c.write(p, l, full)
	}
	if e := c.early[p]; earlyDone(e, l, fi) {
		c.set(p, e)
		c.mu.Lock()
		c.written++
		c.mu.Unlock()
		c.fromEarly++
		return nil
	}
	b := c.base.entries[p]
	clean := b != nil && matchesMode(b.Mode, fi) && statClean(b, fi, c.base.modTime)
	if clean && holds(b, l) {
		return nil
	}
	if clean {
		return c.write(p, l, full)
	}
	if fi.IsDir() {
		c.report(p+"/", "replaced untracked directory: %s")
		if err := os.RemoveAll(full); err != nil {
			return err
		}
		return c.write(p, l, full)
	}
	h, _ := c.hash(full, fi) // unreadable: treated as different
	if matchesMode(l.mode, fi) && h == l.hash {
		c.refresh(p, l, fi)
		return nil
	}
	switch {
	case b == nil:
		c.report(p, "replaced untracked file: %s")
	case !matchesMode(b.Mode, fi) || h != b.Hash:
		c.report(p, "overwrote local edits: %s")
	}
	return c.write(p, l, full)
}

func (c *checkout) placeGitlink(p string, l leaf, full string, fi fs.FileInfo) error {
	if fi != nil && !fi.IsDir() {
		c.report(p, "replaced untracked file: %s")
		if err := os.Remove(full); err != nil {
			return err
		}
		fi = nil
	}
	if fi == nil {
		if err := c.ensureParents(p); err != nil {
			return err
		}
		if err := os.Mkdir(full, 0o755); err != nil {
			return err
		}
	}
	if !holds(c.base.entries[p], l) {
		c.set(p, newEntry(p, l, nil))
	}
	return nil
}

// write puts the blob of l at full, replacing any non-directory there:
// a whole blob in a pack is read and written by the writers when they
// read packs (see packedBlobs); otherwise a file of at most asyncBlobMax
// bytes is read here and written by the writers, anything else here.
func (c *checkout) write(p string, l leaf, full string) error {
	if err := c.ensureParents(p); err != nil {
		return err
	}
	if c.packed != nil && l.mode != filemode.Symlink {
		if at, ok := c.packed.locate(l.hash, c.hdr); ok {
			return c.w.submit(writeJob{p: p, full: full, l: l, packed: at, perm: filePerm(l.mode)})
		}
	}
	blob, err := c.wc.repo.BlobObject(l.hash)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", short(l.hash), err)
	}
	if l.mode != filemode.Symlink && blob.Size <= asyncBlobMax {
		data, err := c.w.readBlob(blob)
		if err != nil {
			return fmt.Errorf("read blob %s: %w", short(l.hash), err)
		}
		return c.w.submit(writeJob{p: p, full: full, l: l, data: data, perm: filePerm(l.mode)})
	}
	if err := writeStream(full, l, blob, c.fresh); err != nil {
		return err
	}
	fi, err := os.Lstat(full)
	if err != nil {
		return err
	}
	c.wrote(writeJob{p: p, l: l}, fi)
	return nil
}

// writeStream writes a symlink or a large file from its blob.
func writeStream(full string, l leaf, blob *object.Blob, fresh bool) error {
	r, err := blob.Reader()
	if err != nil {
		return fmt.Errorf("read blob %s: %w", short(l.hash), err)
	}
	defer r.Close()
	if l.mode != filemode.Symlink {
		return writeFile(full, r, filePerm(l.mode), fresh)
	}
	target, err := io.ReadAll(io.LimitReader(r, maxSymlinkTarget+1))
	if err != nil {
		return err
	}
	if len(target) > maxSymlinkTarget {
		return fmt.Errorf("symlink target longer than %d bytes", maxSymlinkTarget)
	}
	return writeSymlink(full, string(target))
}

// wrote records a file written, from the checkout or from a writer.
func (c *checkout) wrote(j writeJob, fi fs.FileInfo) {
	c.set(j.p, newEntry(j.p, j.l, fi))
	c.mu.Lock()
	c.written++
	if j.packed.pack != nil {
		c.fromPacks++
	}
	c.mu.Unlock()
}

// set records p's new index entry; the writers call it too.
func (c *checkout) set(p string, e *index.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next[p] = e
	c.changed = true
}

func filePerm(m filemode.FileMode) fs.FileMode {
	if m == filemode.Executable {
		return 0o755
	}
	return 0o644
}

// ensureParents makes every leading directory of p a real directory,
// replacing a file or symlink standing in the way (as git does), so that
// nothing is ever written through a symlink.
func (c *checkout) ensureParents(p string) error {
	dir := path.Dir(p)
	if dir == "." || c.dirs[dir] {
		return nil
	}
	if err := c.ensureParents(dir); err != nil {
		return err
	}
	full := c.full(dir)
	fi, err := os.Lstat(full)
	switch {
	case err == nil && fi.IsDir():
	case err == nil:
		c.report(dir, "replaced untracked file with a directory: %s")
		if err := os.Remove(full); err != nil {
			return err
		}
		if err := os.Mkdir(full, 0o755); err != nil {
			return err
		}
	case isNotExist(err):
		if err := os.Mkdir(full, 0o755); err != nil {
			return err
		}
	default:
		return err
	}
	c.dirs[dir] = true
	return nil
}

// lstat returns p's full path and its lstat, or a nil FileInfo when p does
// not exist or a leading component is not a real directory (then p is, for
// git, not there: nothing is read or removed through a symlink).
func (c *checkout) lstat(p string) (string, fs.FileInfo, error) {
	full := c.full(p)
	if !c.realParents(p) {
		return full, nil, nil
	}
	fi, err := os.Lstat(full)
	if isNotExist(err) {
		return full, nil, nil
	}
	return full, fi, err
}

// lstatAt is lstat of the i-th path of placeAll, preloaded when it can be.
func (c *checkout) lstatAt(i int, p string) (string, fs.FileInfo, error) {
	if c.pre == nil {
		return c.lstat(p)
	}
	full := c.full(p)
	fi, err := c.pre.stat(i)
	if !c.realParents(p) || isNotExist(err) {
		return full, nil, nil
	}
	return full, fi, err
}

func (c *checkout) realParents(p string) bool {
	dir := path.Dir(p)
	if dir == "." || c.dirs[dir] {
		return true
	}
	if !c.realParents(dir) {
		return false
	}
	fi, err := os.Lstat(c.full(dir))
	if err != nil || !fi.IsDir() {
		return false
	}
	c.dirs[dir] = true
	return true
}

// unchanged reports whether the file on disk is still what entry e says.
func (c *checkout) unchanged(e *index.Entry, full string, fi fs.FileInfo) bool {
	if !matchesMode(e.Mode, fi) {
		return false
	}
	if statClean(e, fi, c.base.modTime) {
		return true
	}
	h, err := c.hash(full, fi)
	return err == nil && h == e.Hash
}

// hash is hashPath through the checkout's one buffer (it runs on the
// checkout's goroutine only).
func (c *checkout) hash(full string, fi fs.FileInfo) (plumbing.Hash, error) {
	if c.hashBuf == nil {
		c.hashBuf = make([]byte, 32<<10)
	}
	return hashPath(full, fi, c.hashBuf)
}

// refresh records fresh stat data for a file whose content was verified.
func (c *checkout) refresh(p string, l leaf, fi fs.FileInfo) {
	c.set(p, newEntry(p, l, fi))
}

func (c *checkout) report(p, format string) {
	c.overwritten = append(c.overwritten, p)
	c.jl.printf(format, p)
}

func (c *checkout) full(p string) string {
	return filepath.Join(c.wc.path, filepath.FromSlash(p))
}
