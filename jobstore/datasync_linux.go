package jobstore

import (
	"os"
	"syscall"
)

// datasync flushes f's data, and only the metadata needed to read it back
// (not its times), as bbolt does for jobs.db.
func datasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
