package gitsync

import (
	"bufio"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// storePack writes the pack read from r into the working copy's object
// store as a pack file with its index (see indexpack.go). A pack that may
// be thin (one asked for with haves) is first completed as `git index-pack
// --fix-thin` does: the objects its deltas name as bases but it does not
// hold are read from the local object store and appended, and the
// header's object count and the trailing checksum are written anew. The
// pack and its index are synced to disk before they are renamed into
// place. A pack that does not check out (a bad checksum, a base that is
// nowhere) is refused and leaves nothing.
func storePack(wc *workingCopy, r io.Reader, thin bool) error {
	dir := filepath.Join(wc.gitDir, "objects", "pack")
	f, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return fmt.Errorf("store pack: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	stored, err := indexPack(wc, dir, f, r, thin)
	if err != nil {
		return fmt.Errorf("store pack: %w", err)
	}
	if stored {
		wc.st.Reindex()
	}
	return nil
}

// indexPack receives the pack into f, indexes it, completes it first if
// it is thin, and installs both in dir. An empty pack is not stored.
func indexPack(wc *workingCopy, dir string, f *os.File, r io.Reader, thin bool) (bool, error) {
	ps, err := scanPack(r, f, wc.early)
	wc.early.close() // one pack: a later one would be thin against this one
	if err != nil || len(ps.entries) == 0 {
		return false, err
	}
	idx := new(idxfile.Writer)
	res := newResolver(ps, f, idx, heldLimit)
	if err := errors.Join(idx.OnHeader(uint32(len(ps.entries))), res.resolveFrom(0)); err != nil {
		return false, err
	}
	if missing := res.missing(); len(missing) > 0 {
		if err := completeThin(wc, f, ps, missing, thin); err != nil {
			return false, err
		}
		if err := res.resolveFrom(len(ps.entries) - len(missing)); err != nil {
			return false, err
		}
	}
	if err := errors.Join(res.complete(), f.Sync(), idx.OnFooter(ps.sum)); err != nil {
		return false, err
	}
	return true, installPack(dir, f.Name(), ps.sum, idx)
}

// completeThin appends the bases missing from a thin pack, which the
// working copy must have.
func completeThin(wc *workingCopy, f *os.File, ps *packScan, missing []plumbing.Hash, thin bool) error {
	if !thin {
		return fmt.Errorf("%w: %s", errBaseNotFound, missing[0])
	}
	if err := checkBases(wc, missing); err != nil {
		return err
	}
	if err := appendBases(wc, f, ps, missing); err != nil {
		return fmt.Errorf("complete thin pack: %w", err)
	}
	return nil
}

// checkBases makes sure each missing base is in the local object store
// (a pack or a loose object); one that is not makes the pack unusable.
func checkBases(wc *workingCopy, missing []plumbing.Hash) error {
	for _, h := range missing {
		err := wc.st.HasEncodedObject(h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return fmt.Errorf("delta base %s is neither in the pack nor here", h)
		}
		if err != nil {
			return fmt.Errorf("read delta base %s: %w", h, err)
		}
	}
	return nil
}

// appendBases writes the local objects bases as whole entries over the
// trailer of the pack in f, adds them to ps, and writes the
// header's new count and the new trailing checksum. The objects are read
// here and compressed and written by a goroutine of its own, so that
// inflating one (go-git's storage is for one goroutine at a time)
// overlaps compressing the one before. When there are many, a base kept
// whole in a local pack is copied as its entry lies there, checked but not
// compressed again (readRaw).
func appendBases(wc *workingCopy, f *os.File, ps *packScan, bases []plumbing.Hash) error {
	end := ps.end
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	cw := &countWriter{w: bw, n: end}
	work := make(chan wholeObject, baseQueue)
	written := make(chan error, 1)
	var failed atomic.Bool
	held := newByteBudget(baseBytes)
	go func() {
		zw, _ := zlib.NewWriterLevel(cw, zlib.BestSpeed) // the level is valid
		var err error
		for o := range work {
			if err == nil {
				var e packEntry
				if o.raw != nil {
					e, err = appendRaw(cw, o)
				} else {
					e, err = appendObject(cw, zw, o)
				}
				if err == nil {
					ps.entries = append(ps.entries, e)
				} else {
					failed.Store(true) // the reader stops
				}
			}
			held.give(len(o.data) + len(o.raw))
		}
		written <- err
	}()
	var packed *packedBlobs
	if len(bases) >= rawBasesMin {
		if b, err := wc.st.packedView(); err == nil {
			packed = b
			defer b.close()
		}
	}
	hdr, pr := &packReader{buf: make([]byte, 16)}, (*packReader)(nil)
	var err error
	for _, h := range bases {
		if failed.Load() {
			break
		}
		var o wholeObject
		if at, t, ok := packed.whole(h, hdr); ok {
			if pr == nil {
				pr = newPackReader(nil, nil, false)
			}
			o, err = readRaw(at, t, h, held, pr)
		} else {
			o, err = readWhole(wc, h, held)
		}
		if err != nil {
			break
		}
		work <- o
	}
	close(work)
	if werr := <-written; err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	count := binary.BigEndian.AppendUint32(nil, uint32(len(ps.entries)))
	if _, err := f.WriteAt(count, 8); err != nil {
		return err
	}
	sum := sha1.New()
	if _, err := io.Copy(sum, io.NewSectionReader(f, 0, cw.n)); err != nil {
		return err
	}
	copy(ps.sum[:], sum.Sum(nil))
	ps.end = cw.n
	_, err = f.WriteAt(ps.sum[:], cw.n)
	return err
}

const (
	// baseQueue bounds the delta bases read and waiting to be compressed,
	baseQueue = 4
	// and baseBytes their size, but for one base larger than that alone.
	baseBytes = 8 << 20
	// rawBasesMin is the number of bases from which they are looked for in
	// the local packs, to be copied as they lie (opening the packs'
	// indexes for that costs more than it saves for a few).
	rawBasesMin = 64
)

// wholeObject is a local object read in full: its content, or (raw) its
// whole entry as a local pack stores it, of size bytes inflated.
type wholeObject struct {
	hash plumbing.Hash
	typ  plumbing.ObjectType
	data []byte
	raw  []byte
	size int64
	crc  uint32 // of raw
}

// countWriter counts what it writes to w, starting at n.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// readWhole reads the local object h in full, checking that its content
// still hashes to its name; its size is taken from held before it is read
// (and given back here on an error).
func readWhole(wc *workingCopy, h plumbing.Hash, held *byteBudget) (o wholeObject, err error) {
	obj, err := wc.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return o, fmt.Errorf("read delta base %s: %w", h, err)
	}
	held.take(int(obj.Size()))
	defer func() {
		if err != nil {
			held.give(int(obj.Size()))
		}
	}()
	rd, err := obj.Reader()
	if err != nil {
		return o, fmt.Errorf("read delta base %s: %w", h, err)
	}
	defer rd.Close()
	o = wholeObject{hash: h, typ: obj.Type(), data: make([]byte, obj.Size())}
	if _, err := io.ReadFull(rd, o.data); err != nil {
		return o, fmt.Errorf("read delta base %s: %w", h, err)
	}
	if n, _ := rd.Read(make([]byte, 1)); n != 0 || plumbing.ComputeHash(o.typ, o.data) != h {
		return o, fmt.Errorf("delta base %s is corrupt here", h)
	}
	return o, nil
}

// readRaw reads the whole entry of the local object h (of type t) at at,
// as it is stored, to be copied into the pack without compressing it
// again: it must inflate to its size with content that hashes to h, and
// what is copied must have the CRC-32 of what was inflated. Its size is
// taken from held (and given back here on an error).
func readRaw(at blobAt, t plumbing.ObjectType, h plumbing.Hash, held *byteBudget, pr *packReader) (wholeObject, error) {
	// Inflated once to check it and to find where it ends (zlib reads no
	// further than its stream), then copied.
	pr.reset(at.reader(), at.off)
	eh, err := pr.entry()
	sum := plumbing.NewHasher(t, eh.size)
	var crc uint32
	if err == nil {
		crc, err = pr.inflate(sum, eh.size)
	}
	if err == nil && (eh.typ != t || sum.Sum() != h) {
		err = errors.New("does not hash to its name")
	}
	var raw []byte
	if err == nil {
		raw = make([]byte, pr.off-at.off)
		held.take(len(raw))
		if _, err = at.pack.f.ReadAt(raw, at.off); err == nil && crc32.ChecksumIEEE(raw) != crc {
			err = errors.New("changed while it was read")
		}
		if err != nil {
			held.give(len(raw))
		}
	}
	if err != nil {
		return wholeObject{}, fmt.Errorf("delta base %s is corrupt here: %w", h, err)
	}
	return wholeObject{hash: h, typ: t, raw: raw, size: eh.size, crc: crc}, nil
}

// appendRaw writes o's stored entry at w's end and returns the entry.
func appendRaw(w *countWriter, o wholeObject) (packEntry, error) {
	e := packEntry{off: w.n, hash: o.hash, kid: noEntry, next: noEntry, typ: o.typ, size: o.size, crc: o.crc}
	_, err := w.Write(o.raw)
	return e, err
}

// appendObject writes o at w's end as a whole (undeltified) pack entry,
// compressed with zw (reset to w), and returns the entry.
func appendObject(w *countWriter, zw *zlib.Writer, o wholeObject) (packEntry, error) {
	e := packEntry{off: w.n, hash: o.hash, kid: noEntry, next: noEntry, typ: o.typ, size: int64(len(o.data))}
	crc := crc32.NewIEEE()
	out := io.MultiWriter(w, crc)
	if _, err := out.Write(entryHeader(e.typ, e.size)); err != nil {
		return e, err
	}
	zw.Reset(out)
	if _, err := zw.Write(o.data); err != nil {
		return e, err
	}
	if err := zw.Close(); err != nil {
		return e, err
	}
	e.crc = crc.Sum32()
	return e, nil
}

// entryHeader is a pack entry's type and size: the type in bits 4-6 of the
// first byte with the size's low 4 bits, then 7 bits a byte, the high bit
// saying another byte follows.
func entryHeader(t plumbing.ObjectType, size int64) []byte {
	out := []byte{byte(t)<<4 | byte(size&0x0f)}
	for size >>= 4; size > 0; size >>= 7 {
		out[len(out)-1] |= 0x80
		out = append(out, byte(size&0x7f))
	}
	return out
}
