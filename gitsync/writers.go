package gitsync

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	// writeQueue bounds the blobs read and waiting for a writer.
	writeQueue = 8
	// asyncBlobMax is the largest blob handed to the writers; a larger
	// one is streamed to its file by the checkout itself.
	asyncBlobMax = 64 << 10
	// maxWriters bounds the goroutines creating files.
	maxWriters = 4
)

// writeJob is one file for the writers: a blob read in full, or one the
// writer reads from its pack.
type writeJob struct {
	p, full string
	l       leaf
	data    []byte
	packed  blobAt
	perm    fs.FileMode
}

// writers create the files of a checkout on their own goroutines, so that
// creating files (mostly time in the kernel) overlaps reading the next
// blobs from the object store, which only the checkout's goroutine does:
// go-git's storage is not safe for concurrent use.
type writers struct {
	jobs chan writeJob
	// fresh says the checkout is the working copy's first (see writeFile).
	fresh bool
	wg    sync.WaitGroup
	done  func(writeJob, fs.FileInfo)
	bufs  sync.Pool // of *[]byte
	mu    sync.Mutex
	err   error
}

// startWriters starts the writers; done is called, from a writer, for
// each file written. fresh says the checkout is the working copy's first.
func startWriters(done func(writeJob, fs.FileInfo), fresh bool) *writers {
	w := &writers{jobs: make(chan writeJob, writeQueue), done: done, fresh: fresh}
	w.bufs.New = func() any { return new([]byte) }
	n := min(max(runtime.GOMAXPROCS(0), 2), maxWriters)
	w.wg.Add(n)
	for range n {
		go w.run()
	}
	return w
}

func (w *writers) run() {
	defer w.wg.Done()
	var pr *packReader
	for j := range w.jobs {
		if w.failed() != nil {
			continue // drain: the checkout stops at its next file
		}
		var fi fs.FileInfo
		var err error
		if j.packed.pack != nil {
			if pr == nil {
				pr = newPackReader(nil, nil, false)
			}
			fi, err = w.writePacked(j, pr)
		} else {
			fi, err = writeBytes(j.full, j.data, j.perm, w.fresh)
			w.putBuffer(j.data)
		}
		if err != nil {
			w.fail(fmt.Errorf("write %s: %w", j.p, err))
			continue
		}
		w.done(j, fi)
	}
}

// writeBytes writes data to full as writeFile does and returns its lstat.
func writeBytes(full string, data []byte, perm fs.FileMode, fresh bool) (fs.FileInfo, error) {
	if err := writeFile(full, bytes.NewReader(data), perm, fresh); err != nil {
		return nil, err
	}
	return os.Lstat(full)
}

// writePacked reads j's blob from its pack with pr and writes it: into a
// buffer first, or, past asyncBlobMax, straight into the file.
func (w *writers) writePacked(j writeJob, pr *packReader) (fs.FileInfo, error) {
	if j.packed.size > asyncBlobMax {
		r, err := j.packed.stream(pr)
		if err == nil {
			err = writeFile(j.full, r, j.perm, w.fresh)
		}
		if err != nil {
			return nil, err
		}
		return os.Lstat(j.full)
	}
	data, err := j.packed.read(pr, *w.bufs.Get().(*[]byte))
	defer w.putBuffer(data)
	if err != nil {
		return nil, err
	}
	return writeBytes(j.full, data, j.perm, w.fresh)
}

// submit queues j, or returns the first error a writer met.
func (w *writers) submit(j writeJob) error {
	if err := w.failed(); err != nil {
		return err
	}
	w.jobs <- j
	return nil
}

// wait lets the writers finish what is queued and returns their first error.
func (w *writers) wait() error {
	close(w.jobs)
	w.wg.Wait()
	return w.failed()
}

func (w *writers) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
	}
}

func (w *writers) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// readBlob reads a blob in full, into a buffer the writers are done with
// when there is one, so that a checkout of thousands of files does not
// leave as many buffers to the collector.
func (w *writers) readBlob(b *object.Blob) ([]byte, error) {
	r, err := b.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	bp := w.bufs.Get().(*[]byte)
	if int64(cap(*bp)) < b.Size {
		*bp = make([]byte, b.Size, max(b.Size, 4<<10))
	}
	data := (*bp)[:b.Size]
	if _, err := io.ReadFull(r, data); err != nil {
		w.putBuffer(data)
		return nil, err
	}
	return data, nil
}

func (w *writers) putBuffer(b []byte) {
	b = b[:0]
	w.bufs.Put(&b)
}
