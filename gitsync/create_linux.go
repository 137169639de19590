package gitsync

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// createFile creates path, which must not exist, with r's bytes and perm
// (whatever the umask); what it created is removed again when it fails
// part-way.
//
// It works on the descriptor itself rather than through os.File: opening
// an os.File on Linux tries to add it to the network poller, which a
// regular file refuses, at the cost of five more system calls (four
// fcntl and one epoll_ctl), and a checkout creates thousands of files.
// The file is created with perm, and changed to it only when the umask
// took bits away.
func createFile(path string, r io.Reader, perm fs.FileMode) (err error) {
	fd, err := open(path, perm)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer func() {
		if err != nil {
			syscall.Close(fd)
			os.Remove(path)
		}
	}()
	w := fdWriter(fd)
	if b, ok := r.(*bytes.Reader); ok {
		_, err = b.WriteTo(w)
	} else {
		bp := copyBuffers.Get().(*[]byte)
		_, err = io.CopyBuffer(w, r, *bp)
		copyBuffers.Put(bp)
	}
	if err != nil {
		return err
	}
	if uint32(perm)&processUmask() != 0 {
		if err = fchmod(fd, perm); err != nil {
			return &fs.PathError{Op: "chmod", Path: path, Err: err}
		}
	}
	if err = syscall.Close(fd); err != nil {
		return &fs.PathError{Op: "close", Path: path, Err: err}
	}
	return nil
}

func open(path string, perm fs.FileMode) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_CLOEXEC,
			uint32(perm.Perm()))
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func fchmod(fd int, perm fs.FileMode) error {
	for {
		if err := syscall.Fchmod(fd, uint32(perm.Perm())); err != syscall.EINTR {
			return err
		}
	}
}

// copyBuffers are the buffers createFile streams through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fdWriter writes all of each buffer to a descriptor.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(int(w), p[done:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			return done, io.ErrShortWrite
		}
		done += n
	}
	return done, nil
}

// processUmask is the process's umask, read once from /proc/self/status
// (setting it to read it would race with files created meanwhile); when
// it cannot be read, every bit counts as masked, so that every file is
// changed to its mode.
var processUmask = sync.OnceValue(func() uint32 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0o777
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
			if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return uint32(m)
			}
		}
	}
	return 0o777
})
