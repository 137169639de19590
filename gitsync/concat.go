package gitsync

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5/plumbing"
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
// object count, which must be the number of distinct objects, unique) and
// the trailing checksum are new. The storage's pack writer parses and
// indexes the result as it does a fetched pack, which checks every object.
func concatPacks(s storer.EncodedObjectStorer, dir string, packs []plumbing.Hash, unique int) (plumbing.Hash, error) {
	var h plumbing.Hash
	total, err := packObjectCount(dir, packs)
	if err != nil {
		return h, err
	}
	if total != unique {
		return h, errDuplicateObjects
	}
	w, err := newPackWriter(s)
	if err != nil {
		return h, err
	}
	sum := sha1.New()
	err = writeConcat(io.MultiWriter(w, sum), dir, packs, total)
	if err == nil {
		copy(h[:], sum.Sum(nil))
		_, err = w.Write(h[:])
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return h, fmt.Errorf("write pack: %w", err)
	}
	return h, nil
}

func writeConcat(w io.Writer, dir string, packs []plumbing.Hash, total int) error {
	hdr := binary.BigEndian.AppendUint32([]byte("PACK\x00\x00\x00\x02"), uint32(total))
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	for _, p := range packs {
		if err := copyPackObjects(w, filepath.Join(dir, "pack-"+p.String()+".pack")); err != nil {
			return err
		}
	}
	return nil
}

// copyPackObjects copies what lies between a pack's header and its
// trailing checksum: its objects.
func copyPackObjects(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	var hdr [packHeaderSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if !bytes.Equal(hdr[:8], []byte("PACK\x00\x00\x00\x02")) {
		return fmt.Errorf("read %s: not a version 2 pack", path)
	}
	n := fi.Size() - packHeaderSize - sha1.Size
	if _, err := io.CopyN(w, f, n); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// packObjectCount adds up the object counts of the packs' indexes.
func packObjectCount(dir string, packs []plumbing.Hash) (int, error) {
	total := 0
	for _, p := range packs {
		idx, err := readPackIndex(packIdxPath(dir, p))
		if err != nil {
			return 0, err
		}
		n, err := idx.Count()
		if err != nil {
			return 0, err
		}
		total += int(n)
	}
	return total, nil
}
