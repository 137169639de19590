package gitsync

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// A pack is indexed here in two reads, as `git index-pack` does, instead of
// through go-git's parser, which keeps the content of every delta base it
// resolves in a 96 MiB cache (a full-history first clone of a large
// repository peaked at 2.6 times git's memory with it):
//
//  1. scanPack reads the pack once as it arrives, keeping of each entry its
//     offset, sizes, CRC-32 and, for a whole object, its hash; a delta is
//     linked to its base (an earlier entry by offset, or a hash).
//  2. a resolver starts from each whole object that deltas build on and
//     walks down to its deltas, depth first: each delta is read from the
//     file, applied to its base's content and hashed. Only the contents
//     along the chain being walked are held, and not even those when they
//     pass heldLimit: a base dropped then is made again from its chain when
//     its next delta needs it.

// heldLimit bounds the bytes of delta bases a pack's indexing holds at
// once, beyond the one base in use.
const heldLimit = 32 << 20

// maxDeltaDepth is git's longest delta chain (pack-objects' 12-bit depth).
const maxDeltaDepth = 4095

// noEntry ends a list of entries (packEntry.kid and .next).
const noEntry = -1

// errBaseNotFound is a delta whose base is neither in the pack nor made
// from it.
var errBaseNotFound = errors.New("delta base not found in the pack")

// packEntry is what indexing knows of one entry of a pack.
type packEntry struct {
	off  int64
	size int64 // the inflated size the entry declares (a delta's own size)
	hash plumbing.Hash
	crc  uint32
	typ  plumbing.ObjectType // as the entry says: a whole object's type, or a delta
	kid  int32               // first delta built on this entry by offset
	next int32               // next delta on the same base by offset
}

func (e *packEntry) isDelta() bool { return e.typ.IsDelta() }

// packScan is the first read of a pack.
type packScan struct {
	entries []packEntry
	// byRef are the ref-deltas by the hash of their base.
	byRef map[plumbing.Hash][]int32
	sum   plumbing.Hash // the trailing checksum
	end   int64         // where it is
	// early takes the whole objects it wants as they are read (nil: none);
	// buf holds such an object's content.
	early *earlyCheckout
	buf   sliceWriter
}

// scanPack reads a whole pack from r, copying it to w (checking every
// entry's inflated size and the trailing checksum), and records its
// entries. early (or nil) is handed the whole objects it wants as they
// are read.
func scanPack(r io.Reader, w io.Writer, early *earlyCheckout) (*packScan, error) {
	p := newPackReader(r, w, true)
	count, err := p.header()
	if err != nil {
		return nil, err
	}
	ps := &packScan{entries: make([]packEntry, 0, min(count, 1<<20)), byRef: map[plumbing.Hash][]int32{},
		early: early}
	for range count {
		if err := ps.scanEntry(p); err != nil {
			return nil, err
		}
	}
	ps.end = p.off
	if ps.sum, err = p.trailer(); err != nil {
		return nil, err
	}
	return ps, nil
}

// scanEntry reads the next entry of p.
func (ps *packScan) scanEntry(p *packReader) error {
	oh, err := p.entry()
	if err != nil {
		return fmt.Errorf("read entry: %w", err)
	}
	i := int32(len(ps.entries))
	e := packEntry{off: oh.off, size: oh.size, typ: oh.typ, kid: noEntry, next: noEntry}
	var w io.Writer = io.Discard
	var h plumbing.Hasher
	taken := false // the content (or a delta's data) goes to ps.buf, then to early
	switch oh.typ {
	case plumbing.OFSDeltaObject:
		b, found := slices.BinarySearchFunc(ps.entries, oh.base, func(e packEntry, off int64) int {
			return cmp.Compare(e.off, off)
		})
		if !found {
			return fmt.Errorf("%w: offset delta at %d names no entry", packfile.ErrMalformedPackFile, oh.off)
		}
		e.next, ps.entries[b].kid = ps.entries[b].kid, i
		if taken = ps.early.wantsDelta(oh.base, oh.size); taken {
			ps.buf.b = slices.Grow(ps.buf.b[:0], int(oh.size)+1) // see chainWalk.read
			w = &ps.buf
		}
	case plumbing.REFDeltaObject:
		ps.byRef[oh.ref] = append(ps.byRef[oh.ref], i)
	case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		h = plumbing.NewHasher(oh.typ, oh.size)
		w = h
		if taken = ps.early.wants(oh.typ, oh.size); taken {
			ps.buf.b = slices.Grow(ps.buf.b[:0], int(oh.size)+1) // see chainWalk.read
			w = &ps.buf
		}
	default:
		return fmt.Errorf("%w: entry at %d has type %d", packfile.ErrMalformedPackFile, oh.off, oh.typ)
	}
	if e.crc, err = p.inflate(w, oh.size); err != nil {
		return fmt.Errorf("read entry at %d: %w", oh.off, err)
	}
	if h.Hash != nil {
		if taken {
			_, _ = h.Write(ps.buf.b) // a hash's Write does not fail
		}
		e.hash = h.Sum()
	}
	switch {
	case taken && h.Hash != nil:
		ps.early.object(oh.off, oh.typ, e.hash, ps.buf.b)
	case taken:
		ps.early.delta(oh.off, oh.base, ps.buf.b)
	}
	ps.entries = append(ps.entries, e)
	return nil
}

// resolveWorkers is how many goroutines resolve a pack's deltas, as git's
// index-pack resolves on a thread per core: each walks the deltas built on
// one whole object at a time, with its own chain and share of the limit.
var resolveWorkers = min(runtime.GOMAXPROCS(0), 4)

// resolveAlone is the number of entries under which one goroutine
// resolves them.
const resolveAlone = 256

// resolver is the second read: it walks from the whole objects down their
// deltas, adding every object to the index.
type resolver struct {
	ps    *packScan
	f     io.ReaderAt // the whole (completed) pack
	idx   *idxfile.Writer
	limit int64
	// workers is resolveWorkers (tests set it).
	workers int
	// mu guards ps.byRef; refsLeft is its length, read without the lock
	// when no ref-delta is left (the usual pack: deltas by offset).
	mu       sync.Mutex
	refsLeft atomic.Int64
	done     atomic.Int64
}

// chainWalk is one goroutine's walk: the chain of the delta it resolves.
type chainWalk struct {
	r     *resolver
	pr    *packReader
	limit int64
	chain []link // the bases of the delta being resolved, root first
	held  int64  // bytes held in chain
	delta []byte // the last delta read
}

// link is one object of the chain being walked, with its content unless
// it was dropped to stay under the limit.
type link struct {
	i    int32
	data []byte
}

// newResolver resolves the entries of ps, reading contents from f, the
// pack, and adding each object to idx (whose Add takes a lock), holding
// at most limit bytes of bases in all.
func newResolver(ps *packScan, f io.ReaderAt, idx *idxfile.Writer, limit int64) *resolver {
	r := &resolver{ps: ps, f: f, idx: idx, limit: limit, workers: resolveWorkers}
	r.refsLeft.Store(int64(len(ps.byRef)))
	return r
}

// resolveFrom resolves the whole objects from entry from on, and the
// deltas built on them, on up to resolveWorkers goroutines that take the
// whole objects in turn. Each delta is resolved by the goroutine that
// walks its base, so no two write the same entry.
func (r *resolver) resolveFrom(from int) error {
	n := r.workers
	if len(r.ps.entries)-from < resolveAlone {
		n = 1
	}
	var (
		next  atomic.Int64
		stop  atomic.Bool
		once  sync.Once
		first error
		wg    sync.WaitGroup
	)
	next.Store(int64(from))
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &chainWalk{r: r, pr: newPackReader(nil, nil, false), limit: r.limit / int64(n)}
			for !stop.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(r.ps.entries)) {
					return
				}
				if r.ps.entries[i].isDelta() {
					continue
				}
				if err := w.visit(int32(i), nil); err != nil {
					once.Do(func() { first = err })
					stop.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// missing are the bases of the ref-deltas not resolved yet, sorted: after
// resolveFrom(0), those the pack does not hold.
func (r *resolver) missing() []plumbing.Hash {
	out := slices.Collect(maps.Keys(r.ps.byRef))
	slices.SortFunc(out, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// complete reports an entry that no base resolved.
func (r *resolver) complete() error {
	if left := len(r.ps.entries) - int(r.done.Load()); left != 0 {
		return fmt.Errorf("%w: %d of %d entries", errBaseNotFound, left, len(r.ps.entries))
	}
	return nil
}

// refKids takes the ref-deltas built on the object h: a ref-delta is
// resolved once, from the first object of its base's hash (the pack may
// hold the base twice).
func (r *resolver) refKids(h plumbing.Hash) []int32 {
	if r.refsLeft.Load() == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kids, ok := r.ps.byRef[h]
	if ok {
		delete(r.ps.byRef, h)
		r.refsLeft.Add(-1)
	}
	return kids
}

// visit adds entry i, whose content is data (nil: not read yet), to the
// index and resolves the deltas built on it.
func (w *chainWalk) visit(i int32, data []byte) error {
	r := w.r
	e := &r.ps.entries[i]
	r.idx.Add(e.hash, uint64(e.off), e.crc)
	r.done.Add(1)
	kids := r.refKids(e.hash)
	if e.kid == noEntry && len(kids) == 0 {
		return nil
	}
	if len(w.chain) >= maxDeltaDepth {
		return fmt.Errorf("%w: delta chain longer than %d", packfile.ErrMalformedPackFile, maxDeltaDepth)
	}
	w.push(i, data)
	defer w.pop()
	for k := e.kid; k != noEntry; k = r.ps.entries[k].next {
		if err := w.resolve(k); err != nil {
			return err
		}
	}
	for _, k := range kids {
		if err := w.resolve(k); err != nil {
			return err
		}
	}
	return nil
}

// resolve makes delta k's content from the top of the chain, hashes it and
// visits it.
func (w *chainWalk) resolve(k int32) error {
	base, err := w.top()
	if err != nil {
		return err
	}
	data, err := w.apply(k, base)
	if err != nil {
		return err
	}
	// A delta keeps its entry's type: its object's is its chain's root's.
	e := &w.r.ps.entries[k]
	e.hash = plumbing.ComputeHash(w.r.ps.entries[w.chain[0].i].typ, data)
	return w.visit(k, data)
}

// apply reads delta k and applies it to base.
func (w *chainWalk) apply(k int32, base []byte) ([]byte, error) {
	if err := w.read(k, &w.delta); err != nil {
		return nil, err
	}
	out, err := packfile.PatchDelta(base, w.delta)
	if err != nil {
		return nil, fmt.Errorf("apply delta at %d: %w", w.r.ps.entries[k].off, err)
	}
	return out, nil
}

// read inflates entry i into *buf.
func (w *chainWalk) read(i int32, buf *[]byte) error {
	ps := w.r.ps
	e := &ps.entries[i]
	end := ps.end
	if int(i)+1 < len(ps.entries) {
		end = ps.entries[i+1].off
	}
	w.pr.reset(io.NewSectionReader(w.r.f, e.off, end-e.off), e.off)
	sw := sliceWriter{b: (*buf)[:0]}
	if cap(sw.b) <= int(e.size) { // one byte more: inflate reads past the size to check it
		sw.b = make([]byte, 0, e.size+1)
	}
	_, err := w.pr.entry()
	if err == nil {
		_, err = w.pr.inflate(&sw, e.size)
	}
	if err != nil {
		return fmt.Errorf("read entry at %d: %w", e.off, err)
	}
	*buf = sw.b
	return nil
}

// push adds entry i with its content to the chain, dropping the contents
// of the oldest links while the chain holds more than the limit.
func (w *chainWalk) push(i int32, data []byte) {
	w.chain = append(w.chain, link{i: i, data: data})
	w.held += int64(len(data))
	w.trim()
}

// trim drops the contents of the oldest links while the chain holds more
// than the limit; the last link's is in use.
func (w *chainWalk) trim() {
	for j := 0; w.held > w.limit && j < len(w.chain)-1; j++ {
		w.held -= int64(len(w.chain[j].data))
		w.chain[j].data = nil
	}
}

func (w *chainWalk) pop() {
	w.held -= int64(len(w.chain[len(w.chain)-1].data))
	w.chain = w.chain[:len(w.chain)-1]
}

// top is the content of the chain's last object, made again from the
// nearest link that still holds its content (or from the root's entry)
// when it was dropped or never read.
func (w *chainWalk) top() ([]byte, error) {
	last := len(w.chain) - 1
	if d := w.chain[last].data; d != nil {
		return d, nil
	}
	j := last
	for j > 0 && w.chain[j].data == nil {
		j--
	}
	data := w.chain[j].data
	if data == nil { // j is the root: a whole object
		if err := w.read(w.chain[j].i, &data); err != nil {
			return nil, err
		}
	}
	for j++; j <= last; j++ {
		var err error
		if data, err = w.apply(w.chain[j].i, data); err != nil {
			return nil, err
		}
	}
	w.chain[last].data = data
	w.held += int64(len(data))
	w.trim()
	return data, nil
}

// sliceWriter appends what is written to b.
type sliceWriter struct{ b []byte }

func (w *sliceWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ReadFrom reads r to its end into b's spare capacity, growing b only when
// that is full, so that an inflater writes straight into b.
func (w *sliceWriter) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if len(w.b) == cap(w.b) {
			w.b = slices.Grow(w.b, 4<<10)
		}
		m, err := r.Read(w.b[len(w.b):cap(w.b)])
		w.b = w.b[:len(w.b)+m]
		n += int64(m)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
