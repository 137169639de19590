package gitsync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// mergePacks writes the objects of every pack but the largest into one new
// pack and deletes the packs it merged. It returns how many packs it merged
// and how many objects the new pack holds. The largest pack is left as it
// is, so a merge costs what was fetched since it, not the whole history.
// The packs are concatenated as they are, their deltas kept (see
// concatPacks); only when an object is in two of them are they encoded
// again, which searches for deltas anew and is much slower.
func mergePacks(wc *workingCopy, pos storer.PackedObjectStorer, packs []plumbing.Hash) (merged, objects int, copied bool, err error) {
	dir := filepath.Join(wc.gitDir, "objects", "pack")
	small := allButLargest(dir, packs)
	if len(small) < 2 {
		return 0, 0, false, nil
	}
	pack, n, err := concatPacks(dir, small)
	copied = err == nil
	if errors.Is(err, errCannotCopy) {
		seen := make(map[plumbing.Hash]struct{})
		var hashes []plumbing.Hash
		for _, p := range small {
			if hashes, err = appendPackHashes(packIdxPath(dir, p), seen, hashes); err != nil {
				return 0, 0, false, err
			}
		}
		pack, err = writePack(wc.repo.Storer, hashes, 0) // no delta search: a merge must stay quick
		n = len(hashes)
	}
	if err != nil {
		return 0, 0, false, err
	}
	for _, old := range small {
		if old != pack {
			if err := pos.DeleteOldObjectPackAndIndex(old, time.Time{}); err != nil {
				return 0, 0, false, fmt.Errorf("delete old pack %s: %w", old, err)
			}
		}
	}
	wc.packsDeleted()
	return len(small), n, copied, nil
}

func packIdxPath(dir string, p plumbing.Hash) string {
	return filepath.Join(dir, "pack-"+p.String()+".idx")
}

// allButLargest returns packs without the one whose pack file is largest.
func allButLargest(dir string, packs []plumbing.Hash) []plumbing.Hash {
	largest, size := -1, int64(-1)
	for i, p := range packs {
		if fi, err := os.Stat(filepath.Join(dir, "pack-"+p.String()+".pack")); err == nil && fi.Size() > size {
			largest, size = i, fi.Size()
		}
	}
	out := make([]plumbing.Hash, 0, len(packs))
	for i, p := range packs {
		if i != largest {
			out = append(out, p)
		}
	}
	return out
}

// appendPackHashes appends to hashes the objects the pack index lists that
// are not in seen yet, and adds them to seen.
func appendPackHashes(idxPath string, seen map[plumbing.Hash]struct{}, hashes []plumbing.Hash) ([]plumbing.Hash, error) {
	idx, err := readPackIndex(idxPath)
	if err != nil {
		return hashes, err
	}
	iter, err := idx.Entries()
	if err != nil {
		return hashes, fmt.Errorf("read %s: %w", idxPath, err)
	}
	defer iter.Close()
	for {
		e, err := iter.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return hashes, nil
			}
			return hashes, fmt.Errorf("read %s: %w", idxPath, err)
		}
		if _, ok := seen[e.Hash]; !ok {
			seen[e.Hash] = struct{}{}
			hashes = append(hashes, e.Hash)
		}
	}
}
