package gitsync

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// packedReadMin is the number of files a checkout must expect to write
// before it reads their blobs from the packs itself: below it, opening
// every pack index again (mapping it and checking its checksum, a few
// milliseconds for a pack of 100,000 objects) costs more than it saves.
const packedReadMin = 256

// packedBlobs reads whole blobs straight from a working copy's packs, on
// any number of goroutines at once: a pack is read with pread, and each
// reader inflates with its own zlib state. A checkout of thousands of
// files spent most of its time reading blobs through go-git's storage,
// which is for one goroutine at a time; with this the writers read and
// inflate the blobs they write, on both cores, and skip go-git's copy of
// each object.
//
// Only whole blobs are read here. A blob stored as a delta, or found in
// no pack (loose), is read through go-git as before, which resolves
// deltas through its cache of bases.
type packedBlobs struct {
	packs []*packedFile
	names []string // of the indexes, in the folder's order
	view  bool     // the packs belong to another packedBlobs (see viewOf)
}

// packedFile is one pack with its index, searched in place.
type packedFile struct {
	f    *os.File
	idx  *packIndex
	data int64 // where the pack's trailing checksum starts: every entry ends by then
}

// blobAt is where a whole blob is: its pack, where its entry starts, how
// far it may reach (the end of the pack's entries: zlib finds the entry's
// own end) and its size.
type blobAt struct {
	pack       *packedFile
	off, limit int64
	size       int64
}

// openPackedBlobs opens the packs of the repository at gitDir, with their
// indexes. A pack without its index is left out (it is being written).
func openPackedBlobs(gitDir string) (*packedBlobs, error) {
	b, _, err := reopenPackedBlobs(gitDir, nil)
	return b, err
}

// reopenPackedBlobs opens the packs of the repository at gitDir as
// openPackedBlobs does, taking those prev has open as they are (a pack's
// name is its content's checksum) and returning those of prev that are
// gone, still open.
func reopenPackedBlobs(gitDir string, prev *packedBlobs) (b *packedBlobs, gone []*packedFile, err error) {
	dir := filepath.Join(gitDir, "objects", "pack")
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	had := map[string]*packedFile{}
	if prev != nil {
		for i, n := range prev.names {
			had[n] = prev.packs[i]
		}
	}
	b = &packedBlobs{}
	var opened []*packedFile
	for _, n := range names {
		name, ok := strings.CutSuffix(n.Name(), ".idx")
		if !ok || !strings.HasPrefix(name, "pack-") {
			continue
		}
		p, ok := had[n.Name()]
		if ok {
			delete(had, n.Name())
		} else if p, err = openPackedFile(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			for _, p := range opened {
				p.close()
			}
			return nil, nil, err
		} else {
			opened = append(opened, p)
		}
		b.packs = append(b.packs, p)
		b.names = append(b.names, n.Name())
	}
	for _, p := range had {
		gone = append(gone, p)
	}
	return b, gone, nil
}

// changed reports whether the pack folder at gitDir lists other indexes
// than b opened: a pack was stored or removed since.
func (b *packedBlobs) changed(gitDir string) bool {
	names, err := os.ReadDir(filepath.Join(gitDir, "objects", "pack"))
	if err != nil {
		return true
	}
	i := 0
	for _, n := range names {
		if name, ok := strings.CutSuffix(n.Name(), ".idx"); ok && strings.HasPrefix(name, "pack-") {
			if i >= len(b.names) || b.names[i] != n.Name() {
				return true
			}
			i++
		}
	}
	return i != len(b.names)
}

// openPackedFile opens base.pack and base.idx.
func openPackedFile(base string) (*packedFile, error) {
	f, err := os.Open(base + ".pack")
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Size() < packHeaderSize+hashLen {
		err = packfile.ErrMalformedPackFile
	}
	var idx *packIndex
	if err == nil {
		idx, err = openPackIndex(base + ".idx")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read %s: %w", filepath.Base(base), err)
	}
	return &packedFile{f: f, idx: idx, data: st.Size() - hashLen}, nil
}

func (b *packedBlobs) close() {
	if b.view {
		return
	}
	for _, p := range b.packs {
		p.close()
	}
	b.packs = nil
}

// viewOf is b's packs as they are now, for reading beside b's owner:
// closing it does nothing.
func (b *packedBlobs) viewOf() *packedBlobs {
	return &packedBlobs{packs: slices.Clone(b.packs), view: true}
}

func (p *packedFile) close() {
	p.f.Close()
	p.idx.close()
}

// locate finds blob h as a whole object in a pack, reading its entry's
// header with hdr; ok is false when it is not there as one (a delta, or
// not packed), and the caller reads it through go-git.
func (b *packedBlobs) locate(h plumbing.Hash, hdr *packReader) (at blobAt, ok bool) {
	at, t, ok := b.whole(h, hdr)
	return at, ok && t == plumbing.BlobObject
}

// whole finds h as a whole object of any type in a pack: where its entry
// is, and its type; ok is false when it is a delta or not packed (or b is
// nil).
func (b *packedBlobs) whole(h plumbing.Hash, hdr *packReader) (at blobAt, t plumbing.ObjectType, ok bool) {
	if b == nil {
		return at, 0, false
	}
	for _, p := range b.packs {
		if off, found := p.idx.find(h); found {
			return p.wholeAt(off, hdr)
		}
	}
	return at, 0, false
}

// wholeAt reads the header of the entry at off with hdr: where it is, and
// its type, when it is a whole object; ok is false for a delta.
func (p *packedFile) wholeAt(off int64, hdr *packReader) (at blobAt, t plumbing.ObjectType, ok bool) {
	if off < packHeaderSize || off >= p.data {
		return at, 0, false
	}
	// A whole object's header is at most 10 bytes (type and a size of up
	// to 63 bits).
	hdr.reset(io.NewSectionReader(p.f, off, min(p.data-off, 16)), off)
	eh, err := hdr.entry()
	if err != nil || eh.typ.IsDelta() {
		return at, 0, false
	}
	return blobAt{pack: p, off: off, limit: p.data, size: eh.size}, eh.typ, true
}

// reader reads the pack from the entry at at to at.limit. Its first read
// asks for no more than the entry can take when its data is stored
// uncompressed, so that one read takes a whole entry (or the most of a
// large one the reader's buffer holds) without reading far past it; a
// longer zlib stream is read on as it goes.
func (at blobAt) reader() io.Reader {
	return &entryReader{r: io.NewSectionReader(at.pack.f, at.off, at.limit-at.off),
		first: entryMaxHeader + at.size + at.size/deflateBlock*deflateBlockHeader + zlibFraming}
}

const (
	entryMaxHeader     = 16    // type and size (at most 10 bytes), with room to spare
	deflateBlock       = 16384 // stored (uncompressed) blocks are about this long or longer: a hint only
	deflateBlockHeader = 5     // a stored block's header
	zlibFraming        = 32    // zlib's header and checksum, and a last stored block's header
)

type entryReader struct {
	r     io.Reader
	first int64
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.first > 0 && int64(len(p)) > e.first {
		p = p[:e.first]
	}
	e.first = 0
	return e.r.Read(p)
}

// read inflates the blob at at into buf's storage (grown as needed) with
// r, and returns its content.
func (at blobAt) read(r *packReader, buf []byte) ([]byte, error) {
	if err := at.open(r); err != nil {
		return buf, err
	}
	w := sliceWriter{b: buf[:0]}
	if int64(cap(w.b)) <= at.size { // one byte more: see chainWalk.read
		w.b = make([]byte, 0, max(at.size+1, 4<<10))
	}
	if _, err := r.inflate(&w, at.size); err != nil {
		return w.b, fmt.Errorf("read blob at %d: %w", at.off, err)
	}
	return w.b, nil
}

// stream returns a reader of the blob's content, which fails unless the
// entry inflates to exactly the blob's size.
func (at blobAt) stream(r *packReader) (io.Reader, error) {
	if err := at.open(r); err != nil {
		return nil, err
	}
	zr, err := r.zlib()
	if err != nil {
		return nil, fmt.Errorf("read blob at %d: %w", at.off, err)
	}
	return &sizedReader{r: zr, left: at.size, off: at.off}, nil
}

// open positions r at the entry's data, checking its header again.
func (at blobAt) open(r *packReader) error {
	r.reset(at.reader(), at.off)
	eh, err := r.entry()
	if err == nil && (eh.typ != plumbing.BlobObject || eh.size != at.size) {
		err = fmt.Errorf("%w: entry changed since it was located", packfile.ErrMalformedPackFile)
	}
	if err != nil {
		return fmt.Errorf("read blob at %d: %w", at.off, err)
	}
	return nil
}

// sizedReader reads exactly left bytes from r: more, or fewer before r
// ends, is an error.
type sizedReader struct {
	r    io.Reader
	left int64
	off  int64
}

func (s *sizedReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		// Read on to the end of the stream, where zlib checks its checksum.
		var one [1]byte
		for range 100 {
			n, err := s.r.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("%w: blob at %d inflates to more than its size", packfile.ErrMalformedPackFile, s.off)
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	if errors.Is(err, io.EOF) && s.left > 0 {
		err = fmt.Errorf("%w: blob at %d inflates to less than its size", packfile.ErrMalformedPackFile, s.off)
	} else if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// hashLen is the length of a SHA-1, as a pack's trailer holds it.
const hashLen = 20
