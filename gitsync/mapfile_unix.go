//go:build unix

package gitsync

import (
	"os"
	"syscall"
)

// mapFile maps f's content read-only into memory; unmap releases it. A
// file of pack metadata is never written in place (a new one is renamed
// over, or it is removed), so the mapping stays what was checked.
func mapFile(f *os.File) (data []byte, unmap func() error, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if fi.Size() == 0 {
		return nil, func() error { return nil }, nil
	}
	if int64(int(fi.Size())) != fi.Size() {
		return nil, nil, syscall.EFBIG
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
