package gitsync

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/object"
)

const (
	// writeQueue bounds the files waiting for each writer. Most carry no
	// data (the writer reads the blob from its pack), so the checkout's
	// goroutine can run ahead over several directories.
	writeQueue = 256
	// heldBytes bounds the bytes of blobs read for the writers and not
	// written yet (but for one larger blob alone).
	heldBytes = 512 << 10
	// asyncBlobMax is the largest blob read in full for a writer (by the
	// checkout through go-git, or by a writer from its pack); a larger one
	// is streamed into its file, by the writer when it is in a pack, else
	// by the checkout itself.
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
// blobs. A whole blob in a pack the writer reads itself (packedBlobs);
// any other the checkout's goroutine reads through go-git, whose storage
// is for one goroutine at a time, and hands over.
//
// The files of one directory all go to one writer. Creating a file locks
// its directory, and two writers in one directory spent their time
// waiting on each other, spinning (on ext4 without a journal, where
// picking an inode number after mass deletes is slow, that was a sixth of
// a first clone's samples); in two directories they create files at once.
type writers struct {
	queues []chan writeJob
	held   *byteBudget
	seed   maphash.Seed
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
	w := &writers{held: newByteBudget(heldBytes), seed: maphash.MakeSeed(), done: done, fresh: fresh}
	w.bufs.New = func() any { return new([]byte) }
	n := min(max(runtime.GOMAXPROCS(0), 2), maxWriters)
	w.wg.Add(n)
	for range n {
		q := make(chan writeJob, writeQueue)
		w.queues = append(w.queues, q)
		go w.run(q)
	}
	return w
}

func (w *writers) run(jobs <-chan writeJob) {
	defer w.wg.Done()
	var pr *packReader
	for j := range jobs {
		if w.failed() != nil {
			w.release(j) // drain: the checkout stops at its next file
			continue
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
			w.release(j)
		}
		if err != nil {
			w.fail(fmt.Errorf("write %s: %w", j.p, err))
			continue
		}
		w.done(j, fi)
	}
}

// release gives back what j held of the bytes read ahead.
func (w *writers) release(j writeJob) {
	if j.data != nil {
		w.held.give(len(j.data))
		w.putBuffer(j.data)
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
	w.held.take(len(j.data))
	w.queues[w.queueOf(j.p)] <- j
	return nil
}

// queueOf is the writer of p's directory.
func (w *writers) queueOf(p string) int {
	return int(maphash.String(w.seed, path.Dir(p)) % uint64(len(w.queues)))
}

// wait lets the writers finish what is queued and returns their first error.
func (w *writers) wait() error {
	for _, q := range w.queues {
		close(q)
	}
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
