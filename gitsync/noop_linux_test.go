//go:build linux

package gitsync

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestNoOpSyncWritesNothing syncs a settled working copy to the commit it
// is at, from a file-path and from an HTTP remote, at depth 1 and with
// full history, and watches with inotify every folder a sync writes in: a
// no-op sync and its upkeep create, change or remove no file but the
// syncing marker (no index.lock, no ref rewritten, no pack list, no file
// of the working copy). A sync that does fetch is watched too, so that
// the watch is shown to see what a sync writes.
func TestNoOpSyncWritesNothing(t *testing.T) {
	t.Parallel()
	for _, remote := range []string{"file", "http"} {
		for _, depth := range []int{1, 0} {
			t.Run(fmt.Sprintf("%s/depth%d", remote, depth), func(t *testing.T) {
				t.Parallel()
				f := newFixture(t)
				f.up.Commit(t, "main", nestedFiles, "first")
				tg := f.target()
				tg.Depth = depth
				if remote == "http" {
					tg.Remote = f.up.ServeHTTP(t)
				}
				f.sync(t, tg)
				time.Sleep(20 * time.Millisecond) // past the file system's clock tick
				f.sync(t, tg)                     // refreshes racily clean entries

				dirs := []string{f.path, filepath.Join(f.path, "app"), filepath.Join(f.path, ".git"),
					filepath.Join(f.path, ".git", "refs", "heads"),
					filepath.Join(f.path, ".git", "refs", "remotes", "origin"),
					filepath.Join(f.path, ".git", "objects", "pack")}
				w := watchWrites(t, dirs)
				f.sync(t, tg)
				got, created := w.names(t)
				if !slices.Equal(got, []string{syncingMarker}) {
					t.Errorf("a no-op sync and its upkeep wrote %q, want only %q", got, syncingMarker)
				}
				if created[syncingMarker] != 1 {
					t.Errorf("the syncing marker was created %d times, want once (by the sync; "+
						"upkeep with nothing to do marks nothing)", created[syncingMarker])
				}

				f.up.Commit(t, "main", map[string]string{"app/a.go": "package app // changed"}, "change")
				w = watchWrites(t, dirs)
				f.sync(t, tg)
				got, _ = w.names(t)
				for _, want := range []string{"a.go", "index", "index.lock", "main", syncingMarker} {
					if !slices.Contains(got, want) {
						t.Errorf("a sync that fetched wrote %q: the watch missed %q", got, want)
					}
				}
			})
		}
	}
}

// writeWatch is an inotify descriptor watching folders for any file
// created, written, moved, removed or changed in mode.
type writeWatch struct{ fd int }

func watchWrites(t *testing.T, dirs []string) *writeWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	const mask = unix.IN_CREATE | unix.IN_MODIFY | unix.IN_DELETE | unix.IN_MOVED_TO |
		unix.IN_MOVED_FROM | unix.IN_ATTRIB | unix.IN_CLOSE_WRITE
	for _, d := range dirs {
		if _, err := os.Stat(d); err != nil {
			t.Fatal(err)
		}
		if _, err := unix.InotifyAddWatch(fd, d, mask); err != nil {
			t.Fatalf("watch %s: %v", d, err)
		}
	}
	return &writeWatch{fd: fd}
}

// names are the sorted, distinct names of the files the events were
// about, and how many times each was created.
func (w *writeWatch) names(t *testing.T) ([]string, map[string]int) {
	t.Helper()
	var out []string
	created := map[string]int{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			if len(name) > 0 && !slices.Contains(out, string(name)) {
				out = append(out, string(name))
			}
			if ev.Mask&unix.IN_CREATE != 0 {
				created[string(name)]++
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	slices.Sort(out)
	return out, created
}
