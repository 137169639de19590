package jobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wh-gitd/wh-gitd/job"
)

// The state dir's layout; nothing outside this package names these.
const (
	dbFile        = "jobs.db"
	jobsDir       = "jobs"
	locksDir      = "locks"
	intakeDir     = "intake"
	controlSocket = "control.sock"
)

// Dir is the state dir.
func (s *Store) Dir() string { return s.dir }

// ControlPath is where the control socket of state dir dir is.
func ControlPath(dir string) string { return filepath.Join(dir, controlSocket) }

// LockPath is the lock file of the working copy at work: one per working
// copy, shared by every process that runs jobs on it.
func (s *Store) LockPath(work string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(work)))
	return filepath.Join(s.dir, locksDir, hex.EncodeToString(sum[:8])+".lock")
}

func (s *Store) intakePath() string { return filepath.Join(s.dir, intakeDir) }

// LogPath is where the log of job id is written.
func (s *Store) LogPath(id string) string { return filepath.Join(s.dir, jobsDir, id+".log") }

func (s *Store) payloadPath(id string) string {
	return filepath.Join(s.dir, jobsDir, id+".payload.json")
}

// OpenLog opens the log of job id for appending (an attempt that a crash
// interrupted keeps its lines), creating it.
func (s *Store) OpenLog(id string) (*os.File, error) {
	f, err := os.OpenFile(s.LogPath(id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create job log: %w", err)
	}
	return f, nil
}

// WritePayloadFile writes the raw delivery of job id where its commands
// read it ($WH_PAYLOAD), mode 0600, and returns the path.
func (s *Store) WritePayloadFile(id string, body []byte) (string, error) {
	path := s.payloadPath(id)
	if err := os.WriteFile(path, body, 0o600); err != nil {
		return "", fmt.Errorf("write payload file: %w", err)
	}
	return path, nil
}

// removeFiles removes the log and payload file of job id.
func (s *Store) removeFiles(id string) error {
	var errs []error
	for _, p := range []string{s.LogPath(id), s.payloadPath(id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove job file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// followPoll is how often a followed log is read for new output.
const followPoll = 100 * time.Millisecond

// Follow copies the log of job id to w, calling flush after each copy,
// until the job has ended (everything it wrote is sent first) or ctx is
// done. Without follow it copies what the log holds now. job.ErrNotFound
// means no such job, job.ErrNoLog that it has no log (and will write none:
// it ended, or follow is false); nothing was written to w then.
func (s *Store) Follow(ctx context.Context, id string, w io.Writer, follow bool, flush func()) error {
	if _, err := s.Get(id); err != nil {
		return err
	}
	var f *os.File
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		// The state is read before the file, so that what a finished job
		// wrote is all sent before the copy ends.
		rec, err := s.Get(id)
		if err != nil {
			return err
		}
		ended := !follow || rec.State.Final()
		if f == nil {
			if f, err = os.Open(s.LogPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("read job log: %w", err)
			}
		}
		if f == nil && ended {
			return job.ErrNoLog
		}
		if f != nil {
			if _, err := io.Copy(w, f); err != nil {
				return err
			}
			flush()
		}
		if ended {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
