//go:build !unix

package gitsync

import (
	"io"
	"os"
)

// mapFile reads f's content into memory where mapping it is not available.
func mapFile(f *os.File) (data []byte, unmap func() error, err error) {
	data, err = io.ReadAll(f)
	return data, func() error { return nil }, err
}
