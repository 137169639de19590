package gitsync

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packTrailerSize is a pack's trailing SHA-1 of everything before it (its
// header, packHeaderSize, is in concat.go).
const packTrailerSize = sha1.Size

// storePack writes the pack read from r into the working copy's object
// store as a pack file with its index. A pack that may be thin (one asked
// for with haves) is first completed as `git index-pack --fix-thin` does:
// the objects its deltas name as bases but it does not hold are read from
// the local object store and appended, and the header's object count and
// the trailing checksum are written anew. A pack that does not check out
// (a bad checksum, a base that is nowhere) is refused and leaves nothing.
func storePack(wc *workingCopy, r io.Reader, thin bool) error {
	if !thin {
		if err := packfile.WritePackfileToObjectStorage(wc.st, r); err != nil {
			return fmt.Errorf("store pack: %w", err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Join(wc.gitDir, "objects", "pack"), "tmp_pack_thin_")
	if err != nil {
		return fmt.Errorf("store pack: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := completeThin(wc, f, r); err != nil {
		return fmt.Errorf("store thin pack: %w", err)
	}
	return nil
}

// completeThin receives the pack into f, finding its missing bases as it
// arrives, and writes the completed pack into the object store.
func completeThin(wc *workingCopy, f *os.File, r io.Reader) error {
	size, count, missing, err := receive(f, r)
	if err != nil {
		return err
	}
	if err := checkBases(wc, missing); err != nil {
		return err
	}
	pw, err := wc.st.PackfileWriter()
	if err != nil {
		return err
	}
	err = writeCompleted(pw, wc, f, size, count, missing)
	if cerr := pw.Close(); err == nil {
		err = cerr
	}
	return err
}

// receive copies the pack from r into f while reading it (see
// externalBases) and returns its size, its object count and the bases it
// lacks.
func receive(f *os.File, r io.Reader) (int64, uint32, []plumbing.Hash, error) {
	bw := bufio.NewWriterSize(f, 64<<10)
	tee := io.TeeReader(r, bw)
	count, sum, missing, err := externalBases(tee)
	if err != nil {
		return 0, 0, nil, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, 0, nil, fmt.Errorf("receive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, 0, nil, err
	}
	// Nothing may follow the checksum: the pack must end with it.
	last := make([]byte, packTrailerSize)
	if _, err := f.ReadAt(last, size-packTrailerSize); err != nil || !bytes.Equal(last, sum[:]) {
		return 0, 0, nil, fmt.Errorf("%w: data after the checksum", packfile.ErrMalformedPackFile)
	}
	return size, count, missing, nil
}

// externalBases reads the pack (checking that every object inflates to its
// declared size, and the trailing checksum) and returns its object count,
// its checksum and the bases of its ref-deltas that it does not hold,
// sorted. A base that is itself a delta in this pack is not known by its
// hash here: only whole objects in the pack count as held, so a pack
// whose ref-deltas point at its own deltas (git never sends one when
// ofs-delta is asked for) would get such a base appended again.
func externalBases(r io.Reader) (uint32, plumbing.Hash, []plumbing.Hash, error) {
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return 0, plumbing.ZeroHash, nil, err
	}
	held := map[plumbing.Hash]bool{}
	refs := map[plumbing.Hash]bool{}
	for range count {
		oh, err := sc.NextObjectHeader()
		if err != nil {
			return 0, plumbing.ZeroHash, nil, err
		}
		switch oh.Type {
		case plumbing.REFDeltaObject:
			refs[oh.Reference] = true
		case plumbing.OFSDeltaObject:
		default:
			h := plumbing.NewHasher(oh.Type, oh.Length)
			if _, _, err := sc.NextObject(h); err != nil {
				return 0, plumbing.ZeroHash, nil, err
			}
			held[h.Sum()] = true
		}
	}
	sum, err := sc.Checksum()
	if err != nil {
		return 0, plumbing.ZeroHash, nil, err
	}
	var missing []plumbing.Hash
	for h := range refs {
		if !held[h] {
			missing = append(missing, h)
		}
	}
	slices.SortFunc(missing, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) })
	return count, sum, missing, nil
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

// writeCompleted writes to w the pack in f (size bytes, trailer included)
// with the bases appended, its count raised by as many, and a new
// trailing checksum.
func writeCompleted(w io.Writer, wc *workingCopy, f io.ReadSeeker, size int64, count uint32, bases []plumbing.Hash) error {
	if size < packHeaderSize+packTrailerSize {
		return packfile.ErrMalformedPackFile
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	sum := sha1.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, sum), 64<<10)
	header := make([]byte, packHeaderSize)
	if _, err := io.ReadFull(f, header); err != nil {
		return err
	}
	binary.BigEndian.PutUint32(header[8:], count+uint32(len(bases)))
	if _, err := bw.Write(header); err != nil {
		return err
	}
	if _, err := io.CopyN(bw, f, size-packHeaderSize-packTrailerSize); err != nil {
		return err
	}
	zw, _ := zlib.NewWriterLevel(bw, zlib.BestSpeed) // the level is valid
	for _, h := range bases {
		if err := appendObject(bw, zw, wc, h); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// appendObject writes the local object h as a whole (undeltified) pack
// entry, compressed with zw (reset to w), checking that its content still
// hashes to its name.
func appendObject(w io.Writer, zw *zlib.Writer, wc *workingCopy, h plumbing.Hash) error {
	obj, err := wc.st.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("read delta base %s: %w", h, err)
	}
	if _, err := w.Write(entryHeader(obj.Type(), obj.Size())); err != nil {
		return err
	}
	rd, err := obj.Reader()
	if err != nil {
		return fmt.Errorf("read delta base %s: %w", h, err)
	}
	defer rd.Close()
	sum := plumbing.NewHasher(obj.Type(), obj.Size())
	zw.Reset(w)
	n, err := io.Copy(io.MultiWriter(zw, sum), rd)
	if err != nil {
		return fmt.Errorf("read delta base %s: %w", h, err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if n != obj.Size() || sum.Sum() != h {
		return fmt.Errorf("delta base %s is corrupt here", h)
	}
	return nil
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
