package runner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// workLock is an exclusive flock(2) on a file in the state dir, one file per
// working copy, so that a daemon and a wh-git-trigger process never run two
// jobs on one working copy. The kernel drops it when the process dies.
type workLock struct{ f *os.File }

// acquireLock waits for the lock until ctx is done, polling with a short
// back-off (flock has no timeout of its own). When it has to wait it says so
// once on out.
func acquireLock(ctx context.Context, path string, out io.Writer) (*workLock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock working copy: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock working copy: %w", err)
	}
	wait := 5 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &workLock{f: f}, nil
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock working copy: %w", err)
		}
		if wait == 5*time.Millisecond {
			fmt.Fprintf(out, "%s waiting for another job on this working copy to finish\n", stamp())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock working copy: %w", context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func (l *workLock) release() {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
}
