package gitsync

import (
	"bufio"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"path/filepath"
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

// Open opens name, through a buffer when it is a pack index. A loose
// object is first looked for with one lstat: go-git looks for every object
// there before its packs, and the chroot's walk over the folders of the
// path took three system calls for each object kept packed.
func (fs packIndexFS) Open(name string) (billy.File, error) {
	if isLooseObject(name) {
		_, err := os.Lstat(filepath.Join(fs.Root(), name))
		if errors.Is(err, iofs.ErrNotExist) {
			return nil, err
		}
	}
	f, err := fs.Filesystem.Open(name)
	if err != nil || !isPackIndex(name) {
		return f, err
	}
	return &bufferedFile{File: f, r: bufio.NewReaderSize(f, packIndexBuffer)}, nil
}

// isLooseObject says whether name is where a loose object is kept:
// objects/, two hex digits, /, thirty-eight more.
func isLooseObject(name string) bool {
	rest, ok := strings.CutPrefix(name, "objects/")
	dir, file, cut := strings.Cut(rest, "/")
	return ok && cut && len(name) == len("objects/")+2+1+38 && len(dir) == 2 && isHex(dir) && isHex(file)
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
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
