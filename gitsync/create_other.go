//go:build !linux

package gitsync

import (
	"io"
	"io/fs"
	"os"
)

// createFile creates path, which must not exist, with r's bytes and perm;
// what it created is removed again when it fails part-way.
func createFile(path string, r io.Reader, perm fs.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	return f.Close()
}
