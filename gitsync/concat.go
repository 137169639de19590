package gitsync

import (
	"bufio"
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// packHeaderSize is a pack's "PACK", version and object count.
const packHeaderSize = 12

// errCannotCopy is concatPacks' refusal of packs it cannot copy as they
// are (an offset delta whose base it does not find before it).
var errCannotCopy = errors.New("packs cannot be copied as stored")

// concatPacks writes one pack holding the objects of packs as they are
// stored, compressed and deltified, as `git repack --geometric` reuses
// deltas instead of searching for new ones. Each object's data is copied
// byte for byte; only entry headers are written anew: an object an
// earlier pack already gave (a completed thin pack's copy of a base, or an
// object sent twice) is left out, and a delta naming its base by offset
// gets the distance the base has in the new pack. The packs are taken
// oldest first, so a base always comes before its deltas. The pack's
// index is written from what the old indexes say of each object (its
// hash) and what was written (its offset and CRC-32), so no object is
// inflated again; the pack, then its index, are renamed into dir.
func concatPacks(dir string, packs []plumbing.Hash) (h plumbing.Hash, n int, err error) {
	packs = oldestFirst(dir, packs)
	tmp, err := os.CreateTemp(dir, "tmp_pack_merge_")
	if err != nil {
		return h, 0, err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
		if err != nil {
			err = fmt.Errorf("write pack: %w", err)
		}
	}()
	sum := sha1.New()
	bw := bufio.NewWriterSize(tmp, 256<<10)
	c := &concat{w: io.MultiWriter(bw, sum), at: map[plumbing.Hash]int64{}, idx: new(idxfile.Writer)}
	err = c.header(dir, packs)
	for _, p := range packs {
		if err != nil {
			return h, 0, err
		}
		err = c.copyPack(dir, p)
	}
	if err != nil {
		return h, 0, err
	}
	copy(h[:], sum.Sum(nil))
	if _, err := bw.Write(h[:]); err != nil {
		return h, 0, err
	}
	if err := bw.Flush(); err != nil {
		return h, 0, err
	}
	if err := tmp.Sync(); err != nil {
		return h, 0, err
	}
	if err := c.idx.OnFooter(h); err != nil {
		return h, 0, err
	}
	return h, len(c.at), installPack(dir, tmp.Name(), h, c.idx)
}

// installPack writes idx for the pack at tmp, whose checksum is h, and
// renames the pack, then its index, to their names in dir.
func installPack(dir, tmp string, h plumbing.Hash, w *idxfile.Writer) error {
	idx, err := w.Index()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "tmp_idx_merge_")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	bw := bufio.NewWriter(f)
	if _, err := idxfile.NewEncoder(bw).Encode(idx); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	name := filepath.Join(dir, "pack-"+h.String())
	if err := os.Rename(tmp, name+".pack"); err != nil {
		return err
	}
	return os.Rename(f.Name(), name+".idx")
}

// concat is a pack being written from other packs.
type concat struct {
	w   io.Writer
	off int64                   // where the next entry goes
	at  map[plumbing.Hash]int64 // where each object went
	idx *idxfile.Writer         // the new pack's index
	rd  *bufio.Reader           // reused for every entry
}

// header writes the pack header with the number of distinct objects.
func (c *concat) header(dir string, packs []plumbing.Hash) error {
	seen := make(map[plumbing.Hash]struct{})
	for _, p := range packs {
		entries, err := packEntries(packIdxPath(dir, p))
		if err != nil {
			return err
		}
		for _, e := range entries {
			seen[e.Hash] = struct{}{}
		}
	}
	hdr := binary.BigEndian.AppendUint32([]byte("PACK\x00\x00\x00\x02"), uint32(len(seen)))
	_, err := c.w.Write(hdr)
	c.off = packHeaderSize
	return errors.Join(err, c.idx.OnHeader(uint32(len(seen))))
}

// copyPack copies the objects of pack p that no earlier pack gave.
func (c *concat) copyPack(dir string, p plumbing.Hash) error {
	entries, err := packEntries(packIdxPath(dir, p))
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "pack-"+p.String()+".pack")
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	byOffset := make(map[int64]plumbing.Hash, len(entries))
	for _, e := range entries {
		byOffset[int64(e.Offset)] = e.Hash
	}
	for i, e := range entries {
		end := fi.Size() - sha1.Size
		if i+1 < len(entries) {
			end = int64(entries[i+1].Offset)
		}
		if _, dup := c.at[e.Hash]; dup {
			continue
		}
		start := c.off
		crc, err := c.copyEntry(f, e, end, byOffset)
		if err != nil {
			return fmt.Errorf("copy %s from %s: %w", e.Hash, path, err)
		}
		c.at[e.Hash] = start
		c.idx.Add(e.Hash, uint64(start), crc)
	}
	return nil
}

// copyEntry writes the entry e, which ends at end in f, at c.off: its type and
// size as they are, then its data. An offset delta gets the distance its
// base has in the new pack; a delta naming a base already written, by
// hash, becomes an offset delta to it: the form git writes, 20 bytes
// shorter, and one any pack indexer resolves in order (go-git's resolves a
// base named by hash only when it is a whole object, and the copy kept
// may be a delta).
func (c *concat) copyEntry(f *os.File, e *idxfile.Entry, end int64, byOffset map[int64]plumbing.Hash) (uint32, error) {
	off := int64(e.Offset)
	src := crc32.NewIEEE() // checked against the old index: a damaged pack is not copied
	if c.rd == nil {
		c.rd = bufio.NewReaderSize(nil, 64<<10)
	}
	r := c.rd
	r.Reset(io.TeeReader(io.NewSectionReader(f, off, end-off), src))
	var hdr []byte
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		hdr = append(hdr, b)
		if b&0x80 == 0 {
			break
		}
	}
	switch plumbing.ObjectType((hdr[0] >> 4) & 7) {
	case plumbing.OFSDeltaObject:
		dist, err := readOfsDistance(r)
		if err != nil {
			return 0, err
		}
		base, ok := byOffset[off-dist]
		to, found := c.at[base]
		if !ok || !found {
			return 0, errCannotCopy
		}
		hdr = appendOfsDistance(hdr, c.off-to)
	case plumbing.REFDeltaObject:
		var base plumbing.Hash
		if _, err := io.ReadFull(r, base[:]); err != nil {
			return 0, err
		}
		if to, found := c.at[base]; found {
			hdr[0] = hdr[0]&^0x70 | byte(plumbing.OFSDeltaObject)<<4
			hdr = appendOfsDistance(hdr, c.off-to)
		} else {
			hdr = append(hdr, base[:]...)
		}
	}
	crc := crc32.NewIEEE()
	w := io.MultiWriter(c.w, crc)
	n, err := w.Write(hdr)
	if err != nil {
		return 0, err
	}
	m, err := io.Copy(w, r)
	c.off += int64(n) + m
	if err == nil && src.Sum32() != e.CRC32 {
		err = fmt.Errorf("entry at %d does not match its index's CRC-32", off)
	}
	return crc.Sum32(), err
}

// readOfsDistance reads an offset delta's distance to its base, in git's
// encoding (7 bits a byte, most significant first, each continuation
// adding one).
func readOfsDistance(r io.ByteReader) (int64, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	n := int64(b & 0x7f)
	for b&0x80 != 0 {
		if b, err = r.ReadByte(); err != nil {
			return 0, err
		}
		n = (n+1)<<7 | int64(b&0x7f)
	}
	return n, nil
}

// appendOfsDistance appends n in the encoding readOfsDistance reads.
func appendOfsDistance(b []byte, n int64) []byte {
	var buf [10]byte
	i := len(buf) - 1
	buf[i] = byte(n & 0x7f)
	for n >>= 7; n > 0; n >>= 7 {
		n--
		i--
		buf[i] = 0x80 | byte(n&0x7f)
	}
	return append(b, buf[i:]...)
}

// packEntries lists a pack index's objects in the order of their offsets.
func packEntries(idxPath string) ([]*idxfile.Entry, error) {
	idx, err := readPackIndex(idxPath)
	if err != nil {
		return nil, err
	}
	iter, err := idx.EntriesByOffset()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", idxPath, err)
	}
	defer iter.Close()
	var out []*idxfile.Entry
	for {
		e, err := iter.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", idxPath, err)
		}
		out = append(out, e)
	}
}

// oldestFirst orders packs by their files' modification times, so that
// an object a later fetch sent again is taken from where it came first,
// before the deltas of later packs that name it.
func oldestFirst(dir string, packs []plumbing.Hash) []plumbing.Hash {
	out := slices.Clone(packs)
	mtime := func(p plumbing.Hash) int64 {
		fi, err := os.Stat(filepath.Join(dir, "pack-"+p.String()+".pack"))
		if err != nil {
			return 0
		}
		return fi.ModTime().UnixNano()
	}
	slices.SortStableFunc(out, func(a, b plumbing.Hash) int { return cmp.Compare(mtime(a), mtime(b)) })
	return out
}
