package runner

import (
	"context"
	"fmt"
)

// Counts returns how many jobs wait and how many run now.
func (r *Runner) Counts() (queued, running int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waiting, len(r.running)
}

// Probe reports whether the scheduler is alive, for the daemon's watchdog:
// its lock is free within ctx (no goroutine holds it stuck), and every
// working copy with a waiting job has a task in the worker pool (none was
// lost, which would leave it waiting for good). Jobs that run long are
// healthy: each is bounded by its own timeouts. It returns the counts of
// Counts as they were.
func (r *Runner) Probe(ctx context.Context) (queued, running int, err error) {
	type result struct {
		queued, running int
		err             error
	}
	done := make(chan result, 1)
	go func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		res := result{queued: r.waiting, running: len(r.running)}
		for name, q := range r.queues {
			if len(q.waiting) > 0 && !q.active && !r.closed {
				res.err = fmt.Errorf("probe runner: jobs for %s wait with no task in the worker pool", name)
				break
			}
		}
		done <- res
	}()
	select {
	case res := <-done:
		return res.queued, res.running, res.err
	case <-ctx.Done():
		return 0, 0, fmt.Errorf("probe runner: scheduler lock not free: %w", context.Cause(ctx))
	}
}
