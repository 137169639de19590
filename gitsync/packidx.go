package gitsync

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/go-git/go-git/v5/plumbing"
)

// packIndex is a pack's index (.idx, version 2) searched where it lies:
// the file is mapped into memory (read, where mapping is not available),
// checked once against its trailing checksum, and each lookup goes through
// the fan-out table and a binary search of the names. Decoding it as
// go-git's idxfile does copies every table into memory of its own, and
// sorting its offsets for the entries' ends took as long again: on a pack
// of 90,000 objects about 20 ms and 3.5 MB each time a sync opened it.
type packIndex struct {
	fanout []byte // 256 big-endian counts
	names  []byte // count × 20 bytes, sorted
	off32  []byte // count × 4 bytes
	off64  []byte // 8 bytes each, for offsets of 2 GiB and more
	count  int
	unmap  func() error
}

var packIndexMagic = []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}

const (
	packIndexFanout = 256 * 4
	packIndexTables = 8 + packIndexFanout // the names start here
)

var errPackIndex = errors.New("malformed pack index")

// openPackIndex maps the index at path and checks it.
func openPackIndex(path string) (*packIndex, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, unmap, err := mapFile(f)
	if err != nil {
		return nil, err
	}
	x, err := parsePackIndex(data)
	if err != nil {
		unmap()
		return nil, err
	}
	x.unmap = unmap
	return x, nil
}

// parsePackIndex checks data as a version 2 pack index (its layout, and
// its trailing checksum over the rest) and returns it, searching data in
// place.
func parsePackIndex(data []byte) (*packIndex, error) {
	if len(data) < packIndexTables+2*hashLen || !bytes.Equal(data[:8], packIndexMagic) {
		return nil, fmt.Errorf("%w: not a version 2 index", errPackIndex)
	}
	x := &packIndex{fanout: data[8:packIndexTables]}
	var prev uint32
	for i := 0; i < packIndexFanout; i += 4 {
		v := binary.BigEndian.Uint32(x.fanout[i:])
		if v < prev {
			return nil, fmt.Errorf("%w: fan-out table decreases", errPackIndex)
		}
		prev = v
	}
	n := int64(prev)
	body := int64(len(data)) - 2*hashLen // where the pack's checksum starts
	end32 := packIndexTables + n*(hashLen+4+4)
	if end32 > body {
		return nil, fmt.Errorf("%w: %d bytes for %d objects", errPackIndex, len(data), n)
	}
	if !checksummed(data) {
		return nil, fmt.Errorf("%w: checksum mismatch", errPackIndex)
	}
	x.count = int(n)
	x.names = data[packIndexTables : packIndexTables+n*hashLen]
	x.off32 = data[end32-n*4 : end32] // after the names and the CRC-32s
	x.off64 = data[end32:body]
	wide := 0 // one 64-bit offset for each 32-bit one that points there, as git writes
	for i := 0; i < len(x.off32); i += 4 {
		wide += int(x.off32[i] >> 7)
	}
	if len(x.off64) != wide*8 {
		return nil, fmt.Errorf("%w: %d bytes of 64-bit offsets for %d", errPackIndex, len(x.off64), wide)
	}
	return x, nil
}

// find returns the pack offset of object h; ok is false when the pack does
// not hold it, or the index gives it an offset the index cannot hold, or
// the file was cut short under its mapping.
func (x *packIndex) find(h plumbing.Hash) (off int64, ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer faulted(func(any) { off, ok = 0, false })
	lo, hi := 0, int(binary.BigEndian.Uint32(x.fanout[int(h[0])*4:]))
	if h[0] > 0 {
		lo = int(binary.BigEndian.Uint32(x.fanout[(int(h[0])-1)*4:]))
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(x.names[m*hashLen:(m+1)*hashLen], h[:]); {
		case c == 0:
			return x.offset(m)
		case c < 0:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0, false
}

// offset is the pack offset of the index's i-th object.
func (x *packIndex) offset(i int) (int64, bool) {
	o := binary.BigEndian.Uint32(x.off32[i*4:])
	if o&(1<<31) == 0 {
		return int64(o), true
	}
	k := int(o&^(1<<31)) * 8
	if k+8 > len(x.off64) {
		return 0, false
	}
	big := binary.BigEndian.Uint64(x.off64[k:])
	return int64(big), big < 1<<63
}

// close releases the mapping; x is not used after it.
func (x *packIndex) close() error {
	if x == nil || x.unmap == nil {
		return nil
	}
	err := x.unmap()
	x.unmap = nil
	return err
}

// checksummed reports whether data ends with the SHA-1 of the rest (and
// was read whole: not when the file was cut short under its mapping).
func checksummed(data []byte) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer faulted(func(any) { ok = false })
	sum := sha1.Sum(data[:len(data)-hashLen])
	return bytes.Equal(sum[:], data[len(data)-hashLen:])
}

// faulted, deferred, recovers from a fault reading a mapped file (cut
// short under its mapping, with debug.SetPanicOnFault set) and calls
// then with it; any other panic goes on.
func faulted(then func(fault any)) {
	r := recover()
	if r == nil {
		return
	}
	if _, fault := r.(interface{ Addr() uintptr }); !fault {
		panic(r)
	}
	then(r)
}
