package gitsync

import (
	"container/list"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packObjects reads a working copy's objects from its packs for the
// storage (see storage.EncodedObject), through the packs' indexes searched
// in place (packIndex) and with deltas resolved here. go-git's storage
// decodes every pack index of the repository at the first object read,
// again after each fetch stores a pack, and builds a map from offset to
// name of every object in a pack the first time it resolves a delta
// there: for a working copy of 90,000 objects that was about 40 ms of CPU
// and 12 MB of memory per sync, most of it for the few hundred objects a
// sync reads. go-git's storage is still there for what is not read here:
// loose objects, alternates, and its own iteration and pack writing.
//
// Like the storage, it is for one goroutine at a time.
type packObjects struct {
	gitDir string
	packs  *packedBlobs
	// retired are packs gone from the folder since they were opened: kept
	// open until close, as views of the packs (viewOf) may still read them.
	retired []*packedFile
	stale   bool // the folder is to be read again at the next use
	pr      *packReader
	bases   baseCache
	sum     hash.Hash
}

const (
	// maxDeltaChain bounds a chain of deltas (git makes them at most
	// 4,095 long).
	maxDeltaChain = 10000
	// lazyObjectMin is the size from which a whole object is read when its
	// content is read, not when it is found, as go-git does.
	lazyObjectMin = 1 << 20
	// objectFirstRead is how much the first read of an entry asks for:
	// most trees, commits and deltas are smaller.
	objectFirstRead = 4 << 10
)

// errNotPacked is for a delta whose base is in none of the packs (kept
// loose): go-git's storage reads it.
var errNotPacked = errors.New("a delta base is not in a pack")

// openPackObjects opens the packs at gitDir; limit is how many bytes of
// delta bases to keep (the storage's object cache's size, which a
// checkout bounds as it writes files).
func openPackObjects(gitDir string, limit func() int) (*packObjects, error) {
	b, err := openPackedBlobs(gitDir)
	if err != nil {
		return nil, err
	}
	return &packObjects{gitDir: gitDir, packs: b, pr: newPackReader(nil, nil, false), sum: sha1.New(),
		bases: baseCache{limit: limit, at: map[baseKey]*list.Element{}}}, nil
}

// refresh reads the pack folder again if it was marked stale: packs that
// were open stay so (their indexes are not read again), new ones are
// opened, and those gone are retired.
func (o *packObjects) refresh() error {
	if !o.stale {
		return nil
	}
	b, gone, err := reopenPackedBlobs(o.gitDir, o.packs)
	if err != nil {
		return err
	}
	o.packs, o.stale = b, false
	o.retired = append(o.retired, gone...)
	return nil
}

func (o *packObjects) close() {
	if o == nil {
		return
	}
	o.packs.close()
	for _, p := range o.retired {
		p.close()
	}
	o.retired = nil
}

// find is the pack and offset of h; ok is false when no pack lists it.
func (o *packObjects) find(h plumbing.Hash) (*packedFile, int64, bool) {
	for _, p := range o.packs.packs {
		if off, ok := p.idx.find(h); ok {
			return p, off, true
		}
	}
	return nil, 0, false
}

// object reads h from the packs; found is false when no pack lists it.
// A delta on a base no pack lists is errNotPacked. A whole object of
// lazyObjectMin bytes or more is read when its content is. Any other
// object is checked to hash to its name: one that does not is an error.
func (o *packObjects) object(h plumbing.Hash) (obj plumbing.EncodedObject, found bool, err error) {
	p, off, ok := o.find(h)
	if !ok {
		return nil, false, nil
	}
	if at, t, whole := p.wholeAt(off, o.pr); whole && at.size >= lazyObjectMin {
		return &lazyObject{at: at, typ: t, hash: h}, true, nil
	}
	t, data, err := o.at(p, off, 0)
	if err != nil {
		return nil, true, fmt.Errorf("read object %s: %w", h, err)
	}
	if o.hash(t, data) != h {
		return nil, true, fmt.Errorf("object %s is corrupt here: it does not hash to its name", h)
	}
	return memoryObject(t, data), true, nil
}

// hash names data as an object of type t (with crypto/sha1: a check of
// what was read, against the name the pack's index gives it).
func (o *packObjects) hash(t plumbing.ObjectType, data []byte) (h plumbing.Hash) {
	o.sum.Reset()
	o.sum.Write(t.Bytes())
	o.sum.Write([]byte{' '})
	o.sum.Write(strconv.AppendInt(nil, int64(len(data)), 10))
	o.sum.Write([]byte{0})
	o.sum.Write(data)
	copy(h[:], o.sum.Sum(nil))
	return h
}

// at reads the object whose entry is at off in p, resolving a delta
// through its bases; depth is the number of deltas above it.
func (o *packObjects) at(p *packedFile, off int64, depth int) (plumbing.ObjectType, []byte, error) {
	if t, data, ok := o.bases.get(p, off); ok {
		return t, data, nil
	}
	if off < packHeaderSize || off >= p.data {
		return 0, nil, fmt.Errorf("%w: entry at %d is outside the pack", packfile.ErrMalformedPackFile, off)
	}
	o.pr.reset(&entryReader{r: io.NewSectionReader(p.f, off, p.data-off), first: objectFirstRead}, off)
	eh, err := o.pr.entry()
	if err != nil {
		return 0, nil, fmt.Errorf("entry at %d: %w", off, err)
	}
	w := sliceWriter{b: make([]byte, 0, eh.size+1)} // one byte more: inflate reads past the size
	if _, err := o.pr.inflate(&w, eh.size); err != nil {
		return 0, nil, fmt.Errorf("entry at %d: %w", off, err)
	}
	bp, boff := p, eh.base
	switch eh.typ {
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		return eh.typ, w.b, nil
	case plumbing.OFSDeltaObject:
	case plumbing.REFDeltaObject:
		var ok bool
		if bp, boff, ok = o.find(eh.ref); !ok {
			return 0, nil, errNotPacked
		}
	default:
		return 0, nil, fmt.Errorf("%w: entry at %d of type %d", packfile.ErrMalformedPackFile, off, eh.typ)
	}
	if depth >= maxDeltaChain {
		return 0, nil, fmt.Errorf("%w: a chain of more than %d deltas", packfile.ErrMalformedPackFile, maxDeltaChain)
	}
	t, base, err := o.at(bp, boff, depth+1)
	if err != nil {
		return 0, nil, err
	}
	o.bases.put(bp, boff, t, base)
	data, err := packfile.PatchDelta(base, w.b)
	if err != nil {
		return 0, nil, fmt.Errorf("delta at %d: %w", off, err)
	}
	return t, data, nil
}

// lazyObject is a large whole object in a pack, read when its content
// is (go-git's storage does the same with such objects).
type lazyObject struct {
	at   blobAt
	typ  plumbing.ObjectType
	hash plumbing.Hash
}

func (p *lazyObject) Hash() plumbing.Hash         { return p.hash }
func (p *lazyObject) Type() plumbing.ObjectType   { return p.typ }
func (p *lazyObject) SetType(plumbing.ObjectType) {}
func (p *lazyObject) Size() int64                 { return p.at.size }
func (p *lazyObject) SetSize(int64)               {}
func (p *lazyObject) Writer() (io.WriteCloser, error) {
	return nil, errors.New("a packed object is read-only")
}

// Reader reads the object's content from its pack, which fails unless
// the entry inflates to exactly its size.
func (p *lazyObject) Reader() (io.ReadCloser, error) {
	r, err := p.at.stream(newPackReader(nil, nil, false))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(r), nil
}

// baseCache keeps the latest resolved delta bases, by where they are, up
// to limit() bytes: a tree walk reads many deltas on the same few bases.
type baseCache struct {
	limit func() int
	size  int
	order list.List // of *cachedBase, the latest used first
	at    map[baseKey]*list.Element
}

type baseKey struct {
	pack *packedFile
	off  int64
}

type cachedBase struct {
	key  baseKey
	typ  plumbing.ObjectType
	data []byte
}

func (c *baseCache) get(p *packedFile, off int64) (plumbing.ObjectType, []byte, bool) {
	e, ok := c.at[baseKey{p, off}]
	if !ok {
		return 0, nil, false
	}
	c.order.MoveToFront(e)
	b := e.Value.(*cachedBase)
	return b.typ, b.data, true
}

func (c *baseCache) put(p *packedFile, off int64, t plumbing.ObjectType, data []byte) {
	k := baseKey{p, off}
	limit := c.limit()
	if _, ok := c.at[k]; ok || len(data) > limit/4 {
		return
	}
	c.at[k] = c.order.PushFront(&cachedBase{key: k, typ: t, data: data})
	c.size += len(data)
	for c.size > limit {
		last := c.order.Back()
		b := c.order.Remove(last).(*cachedBase)
		delete(c.at, b.key)
		c.size -= len(b.data)
	}
}

// looseObject reports whether h is kept loose in the repository at
// gitDir, or may be found through alternates: objects go-git's storage
// reads, not packObjects.
func looseObject(gitDir string, h plumbing.Hash) bool {
	hex := h.String()
	for _, p := range []string{filepath.Join(gitDir, "objects", hex[:2], hex[2:]),
		filepath.Join(gitDir, "objects", "info", "alternates")} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}
