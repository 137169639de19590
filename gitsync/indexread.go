package gitsync

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// readIndexFile reads the working copy's index as go-git's storage does (no
// index: an empty version 2 one), but the usual kind, version 2 or 3 with
// at most a cache-tree extension, is decoded here: go-git's decoder reads
// every entry's fields through encoding/binary's reflection, a quarter of
// a no-op sync of 20,000 files. Anything else (version 4, other
// extensions, a damaged file) is left to go-git's decoder, whose result or
// error it returns.
func readIndexFile(wc *workingCopy) (*index.Index, error) {
	f, err := os.Open(filepath.Join(wc.gitDir, "index"))
	if errors.Is(err, fs.ErrNotExist) {
		return &index.Index{Version: 2}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, err
	}
	idx, err := decodeIndex(data)
	if idx != nil {
		idx.ModTime = fi.ModTime() // for the racy-clean check, as go-git's storage sets it
	}
	return idx, err
}

// decodeIndex decodes an index file's bytes.
func decodeIndex(data []byte) (*index.Index, error) {
	if idx, ok := decodeIndexFast(data); ok {
		return idx, nil
	}
	idx := &index.Index{Version: 2}
	err := index.NewDecoder(bytes.NewReader(data)).Decode(idx)
	return idx, err
}

// indexHeader and indexTrailer are the sizes of an index's signature,
// version and entry count, and of its checksum.
const (
	indexHeader  = 12
	indexTrailer = sha1.Size
)

// decodeIndexFast decodes data as go-git's decoder would, when it is a
// valid version 2 or 3 index with no extension but the cache-tree; ok is
// false for anything else.
func decodeIndexFast(data []byte) (idx *index.Index, ok bool) {
	if len(data) < indexHeader+indexTrailer || string(data[:4]) != "DIRC" {
		return nil, false
	}
	body := data[:len(data)-indexTrailer]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, false
	}
	idx = &index.Index{Version: binary.BigEndian.Uint32(data[4:])}
	if idx.Version != 2 && idx.Version != 3 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint32(data[8:]))
	rest := body[indexHeader:]
	if n > len(rest)/indexEntryFixed {
		return nil, false // more entries than the file can hold
	}
	// The entries are made in one block and their names cut from one
	// string, not each on its own: a large working copy's index has tens
	// of thousands.
	block, ends := make([]index.Entry, n), make([]int, n)
	var names strings.Builder
	names.Grow(len(rest) - n*indexEntryFixed) // the names and their padding
	if n > 0 {                                // go-git leaves an empty index's entries nil
		idx.Entries = make([]*index.Entry, n)
	}
	for i := range n {
		if rest, ok = decodeIndexEntry(rest, &block[i], &names); !ok {
			return nil, false
		}
		ends[i] = names.Len()
		idx.Entries[i] = &block[i]
	}
	all, start := names.String(), 0
	for i := range n {
		block[i].Name, start = all[start:ends[i]], ends[i]
	}
	// go-git reads an extension while 28 bytes (its header and the
	// checksum) are left, the checksum included.
	for len(rest) >= 8 {
		size := int(binary.BigEndian.Uint32(rest[4:]))
		if string(rest[:4]) != "TREE" || size > len(rest)-8 || idx.Cache != nil {
			return nil, false
		}
		if idx.Cache, ok = decodeCacheTree(rest[8 : 8+size]); !ok {
			return nil, false
		}
		rest = rest[8+size:]
	}
	return idx, len(rest) == 0
}

// decodeIndexEntry decodes one version 2 or 3 entry from the start of b
// into e, but for its name, which it adds to names, and returns the rest.
func decodeIndexEntry(b []byte, e *index.Entry, names *strings.Builder) ([]byte, bool) {
	if len(b) < indexEntryFixed {
		return nil, false
	}
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(b[i:]) }
	*e = index.Entry{Dev: u32(16), Inode: u32(20), Mode: filemode.FileMode(u32(24)), UID: u32(28),
		GID: u32(32), Size: u32(36)}
	e.CreatedAt, e.ModifiedAt = indexTime(u32(0), u32(4)), indexTime(u32(8), u32(12))
	copy(e.Hash[:], b[40:60])
	flags := binary.BigEndian.Uint16(b[60:])
	e.Stage = index.Stage(flags>>12) & 0x3
	read := indexEntryFixed
	if flags&0x4000 != 0 { // extended flags
		if len(b) < read+2 {
			return nil, false
		}
		ext := binary.BigEndian.Uint16(b[read:])
		e.IntentToAdd, e.SkipWorktree = ext&(1<<13) != 0, ext&(1<<14) != 0
		read += 2
	}
	nameLen := int(flags & 0xfff)
	if nameLen == 0xfff { // a longer name ends at a NUL
		if nameLen = bytes.IndexByte(b[read:], 0); nameLen < 0 {
			return nil, false
		}
	}
	if len(b) < read+nameLen {
		return nil, false
	}
	names.Write(b[read : read+nameLen])
	// 1 to 8 NULs make the entry a multiple of 8 long (a NUL that ends a
	// long name is the first of them).
	end := read + nameLen + 8 - (read+nameLen)%8
	if len(b) < end {
		return nil, false
	}
	return b[end:], true
}

// indexTime is an index's seconds and nanoseconds as go-git reads them:
// zero stays the zero time.
func indexTime(sec, nsec uint32) time.Time {
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), int64(nsec))
}

// decodeCacheTree decodes a cache-tree extension as go-git does,
// invalidated entries left out.
func decodeCacheTree(b []byte) (*index.Tree, bool) {
	t := &index.Tree{}
	for len(b) > 0 {
		path, rest, ok := bytes.Cut(b, []byte{0})
		if !ok {
			return t, true // go-git stops where a path runs out
		}
		count, rest, ok1 := bytes.Cut(rest, []byte{' '})
		trees, rest, ok2 := bytes.Cut(rest, []byte{'\n'})
		entries, err1 := strconv.Atoi(string(count))
		subtrees, err2 := strconv.Atoi(string(trees))
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			return nil, false
		}
		b = rest
		if entries < 0 {
			continue
		}
		if len(b) < sha1.Size {
			return nil, false
		}
		e := index.TreeEntry{Path: string(path), Entries: entries, Trees: subtrees}
		copy(e.Hash[:], b)
		t.Entries = append(t.Entries, e)
		b = b[sha1.Size:]
	}
	return t, true
}
