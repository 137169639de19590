package gitsync

import (
	"bufio"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-billy/v5"
)

// packIndexBuffer is the buffer a pack index is read through.
const packIndexBuffer = 64 << 10

// packIndexFS is a repository's folder as go-git's storage sees it, but
// for pack indexes, which it reads through a buffer: go-git's index
// decoder reads a few bytes at a time (1,024 reads for an index of a few
// thousand objects), and the storage reads every index at each open, so a
// no-op sync of a working copy with nine packs made 5,000 reads.
type packIndexFS struct{ billy.Filesystem }

// Open opens name, through a buffer when it is a pack index.
func (fs packIndexFS) Open(name string) (billy.File, error) {
	f, err := fs.Filesystem.Open(name)
	if err != nil || !isPackIndex(name) {
		return f, err
	}
	return &bufferedFile{File: f, r: bufio.NewReaderSize(f, packIndexBuffer)}, nil
}

func isPackIndex(name string) bool {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	return strings.HasPrefix(base, "pack-") && strings.HasSuffix(base, ".idx")
}

// bufferedFile reads a file through a buffer; ReadAt and Seek see the file
// as if it had been read without one.
type bufferedFile struct {
	billy.File
	r *bufio.Reader
}

func (f *bufferedFile) Read(p []byte) (int, error) { return f.r.Read(p) }

// Seek moves from where the reader is, not from where the buffer read to.
func (f *bufferedFile) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekCurrent {
		offset -= int64(f.r.Buffered())
	}
	n, err := f.File.Seek(offset, whence)
	f.r.Reset(f.File)
	return n, err
}
