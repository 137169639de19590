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
	ps, err := scanPack(r, f)
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
// header's new count and the new trailing checksum.
func appendBases(wc *workingCopy, f *os.File, ps *packScan, bases []plumbing.Hash) error {
	end := ps.end
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	cw := &countWriter{w: bw, n: end}
	zw, _ := zlib.NewWriterLevel(cw, zlib.BestSpeed) // the level is valid
	for _, h := range bases {
		e, err := appendObject(cw, zw, wc, h)
		if err != nil {
			return err
		}
		ps.entries = append(ps.entries, e)
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
	_, err := f.WriteAt(ps.sum[:], cw.n)
	return err
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

// appendObject writes the local object h at w's end as a whole
// (undeltified) pack entry, compressed with zw (reset to w), checking that
// its content still hashes to its name, and returns the entry.
func appendObject(w *countWriter, zw *zlib.Writer, wc *workingCopy, h plumbing.Hash) (packEntry, error) {
	e := packEntry{off: w.n, hash: h, kid: noEntry, next: noEntry}
	obj, err := wc.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return e, fmt.Errorf("read delta base %s: %w", h, err)
	}
	e.typ, e.size = obj.Type(), obj.Size()
	crc := crc32.NewIEEE()
	out := io.MultiWriter(w, crc)
	if _, err := out.Write(entryHeader(e.typ, e.size)); err != nil {
		return e, err
	}
	rd, err := obj.Reader()
	if err != nil {
		return e, fmt.Errorf("read delta base %s: %w", h, err)
	}
	defer rd.Close()
	sum := plumbing.NewHasher(e.typ, e.size)
	zw.Reset(out)
	n, err := io.Copy(io.MultiWriter(zw, sum), rd)
	if err != nil {
		return e, fmt.Errorf("read delta base %s: %w", h, err)
	}
	if err := zw.Close(); err != nil {
		return e, err
	}
	if n != e.size || sum.Sum() != h {
		return e, fmt.Errorf("delta base %s is corrupt here", h)
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
