package gitsync

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wh-gitd/wh-gitd/internal/testkit"
)

// TestWritersStopAtTheFirstFailure: a file that cannot be written fails
// the checkout, and every file reported written is on disk, so that the
// index written after the failure describes the disk.
func TestWritersStopAtTheFirstFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var mu sync.Mutex
	written := map[string]bool{}
	w := startWriters(func(j writeJob, fi fs.FileInfo) {
		mu.Lock()
		defer mu.Unlock()
		written[j.p] = fi.Size() == int64(len(j.data))
	}, false)
	jobs := []string{"a", "missing/b", "c", "d"}
	var submitErr error
	for _, p := range jobs {
		j := writeJob{p: p, full: filepath.Join(dir, p), data: []byte("content of " + p), perm: 0o644}
		if submitErr = w.submit(j); submitErr != nil {
			break
		}
	}
	err := w.wait()
	if err == nil || !strings.Contains(err.Error(), "write missing/b") {
		t.Fatalf("wait = %v, want the failure of missing/b", err)
	}
	if submitErr != nil && submitErr != err {
		t.Errorf("submit = %v, want the same error as wait (%v)", submitErr, err)
	}
	for p, ok := range written {
		if !ok || testkit.ReadFile(t, filepath.Join(dir, p)) != "content of "+p {
			t.Errorf("%s reported written but is not on disk as it should", p)
		}
	}
	if written["missing/b"] {
		t.Error("the failed file was reported written")
	}
}

// failingReader gives n bytes, then an error.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("read failed")
	}
	k := min(len(p), r.n)
	r.n -= k
	return k, nil
}

// writeFile in a first checkout creates a missing file in place, replaces
// an existing one as in any checkout, refuses a directory, and leaves
// nothing behind when the content cannot be read: no half file at the
// path, no temporary file.
func TestWriteFileFresh(t *testing.T) {
	t.Parallel()
	for _, fresh := range []bool{false, true} {
		t.Run(fmt.Sprint("fresh=", fresh), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			newFile, old, sub := filepath.Join(dir, "new"), filepath.Join(dir, "old"), filepath.Join(dir, "sub")
			testkit.WriteFile(t, old, "untracked")
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			for path, want := range map[string]string{newFile: "new content", old: "tracked content"} {
				if err := writeFile(path, strings.NewReader(want), 0o755, fresh); err != nil {
					t.Fatalf("writeFile %s: %v", path, err)
				}
				fi, err := os.Lstat(path)
				if got := testkit.ReadFile(t, path); err != nil || got != want || fi.Mode().Perm() != 0o755 {
					t.Errorf("%s: %q, %v, %v; want %q, mode 0755", path, got, fi.Mode(), err, want)
				}
			}
			if err := writeFile(sub, strings.NewReader("x"), 0o644, fresh); err == nil {
				t.Error("a directory was replaced")
			}
			failed := filepath.Join(dir, "failed")
			if err := writeFile(failed, &failingReader{n: 3}, 0o644, fresh); err == nil {
				t.Error("a failed read wrote the file")
			}
			names, _ := os.ReadDir(dir)
			var got []string
			for _, n := range names {
				got = append(got, n.Name())
			}
			if strings.Join(got, " ") != "new old sub" {
				t.Errorf("the folder holds %v, want new old sub", got)
			}
		})
	}
}

// TestWritersByDirectory: every file of a directory goes to the same
// writer, and the directories are spread over all of them.
func TestWritersByDirectory(t *testing.T) {
	t.Parallel()
	w := startWriters(func(writeJob, fs.FileInfo) {}, false)
	defer w.wait()
	if len(w.queues) < 2 {
		t.Fatalf("%d writers", len(w.queues))
	}
	used := map[int]bool{}
	for d := range 64 {
		q := w.queueOf(fmt.Sprintf("src/d%d/a.go", d))
		used[q] = true
		for f := range 20 {
			if got := w.queueOf(fmt.Sprintf("src/d%d/f%d.go", d, f)); got != q {
				t.Fatalf("src/d%d: file %d to writer %d, the first to %d", d, f, got, q)
			}
		}
	}
	if len(used) != len(w.queues) {
		t.Errorf("64 directories went to %d of %d writers", len(used), len(w.queues))
	}
}

// TestWritersHoldFewBytes: while the writers are stuck, the checkout's
// goroutine stops handing them blobs once heldBytes are waiting, however
// long the queues.
func TestWritersHoldFewBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stuck := make(chan struct{})
	w := startWriters(func(writeJob, fs.FileInfo) { <-stuck }, false)
	var submitted atomic.Int64
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		for i := range 100 {
			j := writeJob{p: fmt.Sprintf("d%d/f", i%10), full: filepath.Join(dir, fmt.Sprintf("f%d", i)),
				data: make([]byte, asyncBlobMax), perm: 0o644}
			if w.submit(j) != nil {
				return
			}
			submitted.Add(1)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	// Each writer holds one file (stuck after writing it); the rest wait
	// in the queues within the budget.
	if n, most := submitted.Load(), int64(len(w.queues)+heldBytes/asyncBlobMax); n > most {
		t.Errorf("%d blobs of %d KB handed over with the writers stuck, want at most %d", n, asyncBlobMax>>10, most)
	}
	close(stuck)
	<-fed
	if err := w.wait(); err != nil || submitted.Load() != 100 {
		t.Fatalf("wait = %v after %d of 100 submitted", err, submitted.Load())
	}
}
