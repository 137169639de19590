package gitsync

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// maxSymlinkTarget bounds the blob read as a symlink target.
const maxSymlinkTarget = 4096

// tempName is a fresh hidden name in dir for a file about to be renamed
// to its final name, so readers never see a half-written file.
func tempName(dir string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return filepath.Join(dir, ".wh-gitd-"+hex.EncodeToString(b[:])), nil
}

// writeFile writes r to full with perm, replacing whatever non-directory
// is there (a symlink is replaced, never followed). The file is written
// under a temporary name and renamed into place, so that a reader never
// sees half of it; in a first checkout (fresh), where no reader can be
// waiting for a file, one that is not there yet is created in place.
func writeFile(full string, r io.Reader, perm fs.FileMode, fresh bool) error {
	if fresh {
		if err := createFile(full, r, perm); !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	tmp, err := tempName(filepath.Dir(full))
	if err != nil {
		return err
	}
	if err := createFile(tmp, r, perm); err != nil {
		return err
	}
	// The old file goes first, so that the rename does not replace one:
	// ext4 (auto_da_alloc, its default) starts writing a file's data back
	// at once when it is renamed over another, which made checkouts of
	// thousands of files several times slower than git's. A reader may
	// miss the file between the two calls, but never sees half of it. An
	// unlink that fails (a directory is there, say) leaves the rename to
	// say why.
	_ = syscall.Unlink(full)
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writeSymlink makes full a symlink to target, replacing a non-directory.
func writeSymlink(full, target string) error {
	tmp, err := tempName(filepath.Dir(full))
	if err != nil {
		return err
	}
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, full); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// matchesMode reports whether what is on disk has the kind of mode m:
// a regular file with the right executable bit, or a symlink.
func matchesMode(m filemode.FileMode, fi fs.FileInfo) bool {
	switch m {
	case filemode.Symlink:
		return fi.Mode()&fs.ModeSymlink != 0
	case filemode.Executable:
		return fi.Mode().IsRegular() && fi.Mode()&0o100 != 0
	case filemode.Regular:
		return fi.Mode().IsRegular() && fi.Mode()&0o100 == 0
	case filemode.Submodule:
		return fi.IsDir()
	}
	return false
}

// hashPath computes the blob hash of a file's content or a symlink's
// target, reading a file through buf (os.File's own WriteTo, which io.Copy
// would use, takes a new 32 KB buffer for every file).
func hashPath(full string, fi fs.FileInfo, buf []byte) (plumbing.Hash, error) {
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(full)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return plumbing.ComputeHash(plumbing.BlobObject, []byte(target)), nil
	}
	if !fi.Mode().IsRegular() {
		return plumbing.ZeroHash, fmt.Errorf("%s is not a regular file", full)
	}
	f, err := os.Open(full)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	h := plumbing.NewHasher(plumbing.BlobObject, fi.Size())
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf); err != nil {
		return plumbing.ZeroHash, err
	}
	return h.Sum(), nil
}

// statClean reports whether the index entry's stat data still describes
// the file, so its content need not be read. A file modified at or after
// the index was written is "racily clean" and must be hashed, as in git.
func statClean(e *index.Entry, fi fs.FileInfo, indexTime time.Time) bool {
	if e.ModifiedAt.IsZero() || uint32(fi.Size()) != e.Size || !fi.ModTime().Equal(e.ModifiedAt) {
		return false
	}
	if !e.ModifiedAt.Before(indexTime) {
		return false
	}
	return sameInode(e, fi)
}

// newEntry is the index entry for a leaf now on disk as fi.
func newEntry(p string, l leaf, fi fs.FileInfo) *index.Entry {
	e := &index.Entry{Name: p, Hash: l.hash, Mode: l.mode}
	if l.mode == filemode.Submodule || fi == nil {
		return e
	}
	e.ModifiedAt = fi.ModTime()
	e.Size = uint32(fi.Size())
	fillStat(e, fi)
	return e
}

func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
