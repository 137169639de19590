package job

import "errors"

// Errors the callers of a job source must act on.
var (
	// ErrQueueFull means queue_size jobs are waiting: answer 503, try later.
	ErrQueueFull = errors.New("job queue is full")
	// ErrClosed means the daemon is shutting down.
	ErrClosed = errors.New("runner is shutting down")
	// ErrNotFound means no job has that id.
	ErrNotFound = errors.New("no such job")
	// ErrFinished means the job already ended and cannot be cancelled.
	ErrFinished = errors.New("job has already finished")
	// ErrNoLog means a job has no log, and will write none.
	ErrNoLog = errors.New("the job has no log")
)

// SelectError says why a manual run names no configured target, and what
// could be named instead.
type SelectError struct {
	Msg  string
	Hint string
	// NoEntry is true when the entry itself is not configured.
	NoEntry bool
}

func (e *SelectError) Error() string { return e.Msg }
