//go:build !linux

package jobstore

import "os"

// datasync flushes f.
func datasync(f *os.File) error { return f.Sync() }
