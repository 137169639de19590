package gitsync

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// packHeaderSize is a pack's "PACK", version and object count.
const packHeaderSize = 12

// errDuplicateObjects is concatPacks' refusal of packs sharing an object.
var errDuplicateObjects = errors.New("packs share objects")

// concatPacks writes one pack holding the objects of packs byte for byte,
// as `git repack --geometric` reuses deltas instead of searching for new
// ones: each pack's objects are copied as one block, so the offsets of its
// deltas to their bases, inside the block, stay right. Only the header (the
// object count) and the trailing checksum are new. A pack completed from a
// thin one ends with copies of bases the older packs hold (thinpack.go):
// that tail is left out, the deltas naming those bases by hash find the
// older copy in the same new pack. Packs that share any other object are
// refused (errDuplicateObjects). The storage's pack writer parses and
// indexes the result as it does a fetched pack, which checks every object.
func concatPacks(s storer.EncodedObjectStorer, dir string, packs []plumbing.Hash) (plumbing.Hash, int, error) {
	var h plumbing.Hash
	blocks, total, err := planBlocks(dir, oldestFirst(dir, packs))
	if err != nil {
		return h, 0, err
	}
	w, err := newPackWriter(s)
	if err != nil {
		return h, 0, err
	}
	sum := sha1.New()
	err = writeConcat(io.MultiWriter(w, sum), blocks, total)
	if err == nil {
		copy(h[:], sum.Sum(nil))
		_, err = w.Write(h[:])
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return h, 0, fmt.Errorf("write pack: %w", err)
	}
	return h, total, nil
}

// packBlock is the part of a pack to copy: its objects up to end.
type packBlock struct {
	path string
	end  int64
}

// planBlocks says what to copy of each pack, in order, and how many
// objects that is: every object up to the run of objects at the pack's
// end that an earlier pack holds (a completed thin pack's bases).
func planBlocks(dir string, packs []plumbing.Hash) ([]packBlock, int, error) {
	seen := make(map[plumbing.Hash]struct{})
	var blocks []packBlock
	total := 0
	for _, p := range packs {
		entries, err := packEntries(packIdxPath(dir, p))
		if err != nil {
			return nil, 0, err
		}
		path := filepath.Join(dir, "pack-"+p.String()+".pack")
		fi, err := os.Stat(path)
		if err != nil {
			return nil, 0, err
		}
		keep := len(entries)
		for keep > 0 && contains(seen, entries[keep-1].Hash) {
			keep--
		}
		end := fi.Size() - sha1.Size
		if keep < len(entries) {
			end = int64(entries[keep].Offset)
		}
		for _, e := range entries[:keep] {
			if contains(seen, e.Hash) {
				return nil, 0, errDuplicateObjects
			}
			seen[e.Hash] = struct{}{}
		}
		blocks = append(blocks, packBlock{path: path, end: end})
		total += keep
	}
	return blocks, total, nil
}

func contains(set map[plumbing.Hash]struct{}, h plumbing.Hash) bool {
	_, ok := set[h]
	return ok
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
// the bases a later thin pack copied are found first where they came from.
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

func writeConcat(w io.Writer, blocks []packBlock, total int) error {
	hdr := binary.BigEndian.AppendUint32([]byte("PACK\x00\x00\x00\x02"), uint32(total))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, b := range blocks {
		if err := copyPackObjects(w, b); err != nil {
			return err
		}
	}
	return nil
}

// copyPackObjects copies what lies between a pack's header and b.end.
func copyPackObjects(w io.Writer, b packBlock) error {
	f, err := os.Open(b.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var hdr [packHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("read %s: %w", b.path, err)
	}
	if !bytes.Equal(hdr[:8], []byte("PACK\x00\x00\x00\x02")) {
		return fmt.Errorf("read %s: not a version 2 pack", b.path)
	}
	if _, err := io.CopyN(w, f, b.end-packHeaderSize); err != nil {
		return fmt.Errorf("read %s: %w", b.path, err)
	}
	return nil
}
