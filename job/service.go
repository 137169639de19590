package job

import (
	"context"
	"io"
)

// Service is what the HTTP surfaces (the job API, the control socket, the
// status page) ask of the daemon's jobs; the runner is the real one.
type Service interface {
	// Submit queues a job without waiting for other jobs.
	Submit(jb *Job) (Receipt, error)
	// Manual makes the job of a forced run of entry name (SelectError
	// when it names nothing configured).
	Manual(name, branch, environment, sha, by string) (*Job, error)
	// Get returns a record, ErrNotFound when there is none.
	Get(id string) (*Record, error)
	// List returns the records f selects, newest first; an error reports
	// records that could not be read, next to those that could.
	List(f Filter) ([]*Record, error)
	// Cancel cancels a queued or running job.
	Cancel(id string) error
	// Follow copies a job's log to w, and with follow what is written to
	// it until the job ends.
	Follow(ctx context.Context, id string, w io.Writer, follow bool, flush func()) error
}
