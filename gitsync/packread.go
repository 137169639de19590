package gitsync

import (
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packReader reads a pack's entries from src through a buffer of its own,
// so that zlib reads each entry's compressed data byte by byte from memory
// and stops where the entry ends. Unlike go-git's packfile.Scanner, it
// sums each entry's CRC-32 and the pack's checksum over whole runs of the
// buffer instead of byte by byte, and with crypto/sha1: the trailing
// checksum only guards against damage, while objects are named with
// go-git's collision-detecting SHA-1 as git names them.
type packReader struct {
	src  io.Reader
	copy io.Writer // receives every byte read from src, if set
	buf  []byte
	r, w int   // buf[r:w] is read from src, not yet consumed
	mark int   // buf[mark:r] is consumed, not yet summed
	off  int64 // the pack offset of buf[r]
	crc  uint32
	sum  hash.Hash // of the pack, when it is summed
	zr   io.ReadCloser
	// out carries inflated data to a writer that does not read it itself
	// (made on first use).
	out []byte
}

// packEntryHeader is an entry's header: its type, its inflated size, and
// a delta's base (by offset or hash).
type packEntryHeader struct {
	off  int64
	typ  plumbing.ObjectType
	size int64
	base int64 // an offset delta's base's offset
	ref  plumbing.Hash
}

func newPackReader(src io.Reader, copy io.Writer, summed bool) *packReader {
	p := &packReader{src: src, copy: copy, buf: make([]byte, 64<<10)}
	if summed {
		p.sum = sha1.New()
	}
	return p
}

// reset reads from src, which starts at pack offset off.
func (p *packReader) reset(src io.Reader, off int64) {
	p.src, p.r, p.w, p.mark, p.off = src, 0, 0, 0, off
}

// fill sums what was consumed and reads more from src.
func (p *packReader) fill() error {
	p.summed()
	n := copy(p.buf, p.buf[p.r:p.w])
	p.r, p.w, p.mark = 0, n, 0
	var m int
	var err error
	// A reader may return nothing and no error now and then (bufio gives
	// it a hundred tries, as here) before it has more.
	for tries := 0; m == 0 && err == nil && tries < 100; tries++ {
		m, err = p.src.Read(p.buf[n:])
	}
	if m > 0 && p.copy != nil {
		if _, werr := p.copy.Write(p.buf[n : n+m]); werr != nil {
			return werr
		}
	}
	p.w += m
	if m > 0 {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// summed adds what was consumed since the last call to the entry's CRC-32
// and the pack's checksum.
func (p *packReader) summed() {
	b := p.buf[p.mark:p.r]
	p.crc = crc32.Update(p.crc, crc32.IEEETable, b)
	if p.sum != nil {
		p.sum.Write(b)
	}
	p.mark = p.r
}

// ReadByte and Read let zlib read the compressed data without reading
// past it.
func (p *packReader) ReadByte() (byte, error) {
	if p.r == p.w {
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	b := p.buf[p.r]
	p.r++
	p.off++
	return b, nil
}

func (p *packReader) Read(b []byte) (int, error) {
	if p.r == p.w {
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, p.buf[p.r:p.w])
	p.r += n
	p.off += int64(n)
	return n, nil
}

// header reads the pack's header and returns its object count.
func (p *packReader) header() (uint32, error) {
	var h [packHeaderSize]byte
	if _, err := io.ReadFull(p, h[:]); err != nil {
		return 0, fmt.Errorf("%w: header: %w", packfile.ErrMalformedPackFile, err)
	}
	if v := binary.BigEndian.Uint32(h[4:]); string(h[:4]) != "PACK" || (v != 2 && v != 3) {
		return 0, fmt.Errorf("%w: not a pack of version 2 or 3", packfile.ErrMalformedPackFile)
	}
	return binary.BigEndian.Uint32(h[8:]), nil
}

// entry reads the next entry's header; its CRC-32 starts here.
func (p *packReader) entry() (packEntryHeader, error) {
	p.summed()
	p.crc = 0
	h := packEntryHeader{off: p.off}
	c, err := p.ReadByte()
	if err != nil {
		return h, err
	}
	h.typ, h.size = plumbing.ObjectType(c>>4&7), int64(c&0x0f)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if c, err = p.ReadByte(); err != nil {
			return h, err
		}
		if shift > 56 {
			return h, fmt.Errorf("%w: entry at %d: size too large", packfile.ErrMalformedPackFile, h.off)
		}
		h.size |= int64(c&0x7f) << shift
	}
	switch h.typ {
	case plumbing.OFSDeltaObject:
		dist, err := readOfsDistance(p)
		if err != nil {
			return h, err
		}
		if h.base = h.off - dist; dist <= 0 || h.base < packHeaderSize {
			return h, fmt.Errorf("%w: offset delta at %d points outside the pack", packfile.ErrMalformedPackFile, h.off)
		}
	case plumbing.REFDeltaObject:
		_, err = io.ReadFull(p, h.ref[:])
	}
	return h, err
}

// inflate writes the entry's data, which must inflate to exactly size
// bytes, to w, and returns the entry's CRC-32.
func (p *packReader) inflate(w io.Writer, size int64) (uint32, error) {
	zr, err := p.zlib()
	if err != nil {
		return 0, err
	}
	if _, ok := w.(io.ReaderFrom); !ok && p.out == nil {
		p.out = make([]byte, 32<<10)
	}
	n, err := io.CopyBuffer(w, io.LimitReader(zr, size+1), p.out)
	if err == nil && n != size {
		err = fmt.Errorf("%w: inflates to more or less than its %d bytes", packfile.ErrMalformedPackFile, size)
	}
	if err != nil {
		return 0, err
	}
	p.summed()
	return p.crc, nil
}

// zlib starts inflating the entry's data: the reader ends where it does.
func (p *packReader) zlib() (io.Reader, error) {
	var err error
	if p.zr == nil {
		p.zr, err = zlib.NewReader(p)
	} else {
		err = p.zr.(zlib.Resetter).Reset(p, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", packfile.ErrMalformedPackFile, err)
	}
	return p.zr, nil
}

// trailer reads the pack's trailing checksum, which must be the sum of
// everything before it, and makes sure nothing follows it.
func (p *packReader) trailer() (plumbing.Hash, error) {
	var h plumbing.Hash
	p.summed()
	want := p.sum.Sum(nil)
	if _, err := io.ReadFull(p, h[:]); err != nil {
		return h, fmt.Errorf("%w: checksum: %w", packfile.ErrMalformedPackFile, err)
	}
	if string(h[:]) != string(want) {
		return h, fmt.Errorf("%w: checksum mismatch", packfile.ErrMalformedPackFile)
	}
	if p.r != p.w || p.fill() != io.ErrUnexpectedEOF {
		return h, fmt.Errorf("%w: data after the checksum", packfile.ErrMalformedPackFile)
	}
	return h, nil
}
