package gitsync

import (
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
	})
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
