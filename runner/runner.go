// Package runner owns jobs: the bounded queue, one job at a time per working
// copy (also across processes, by a lock file), coalescing of waiting jobs,
// the worker pool, running the configured commands, and each job's log and
// record. It never parses webhooks; it reaches git only through Syncer.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Syncer brings a working copy to a commit; gitsync.Syncer is the real one.
type Syncer interface {
	Sync(ctx context.Context, t gitsync.Target, log io.Writer) (gitsync.Result, error)
}

// Errors of Submit that the caller must act on.
var (
	// ErrQueueFull means queue_size jobs are waiting: answer 503, try later.
	ErrQueueFull = errors.New("job queue is full")
	// ErrClosed means the runner is shutting down.
	ErrClosed = errors.New("runner is shutting down")
)

// Options configure a Runner.
type Options struct {
	Settings *settings.Settings
	Syncer   Syncer
	Logger   zerolog.Logger
	// Environ is the daemon's environment, filtered by the allow-list for
	// commands (default os.Environ()).
	Environ []string
	// OnDone, if set, is called with every finished or superseded job.
	OnDone func(Result)
}

// Receipt answers Submit.
type Receipt struct {
	// ID is the job's id (for a duplicate: the original job's).
	ID string
	// Supersedes is the id of the waiting job this one replaced.
	Supersedes string
	// Duplicate is true when the delivery id was seen before.
	Duplicate bool
}

// Runner schedules and runs jobs. Make it with New; Submit queues, Run runs
// at once; Close stops.
type Runner struct {
	set     atomic.Pointer[settings.Settings]
	syncer  Syncer
	log     zerolog.Logger
	environ []string
	onDone  func(Result)
	// stateDir is fixed at New: locks and logs must not move under jobs.
	stateDir string
	ids      ids

	pool   pond.Pool
	ctx    context.Context // cancelled when the shutdown grace is over
	cancel context.CancelFunc

	mu      sync.Mutex
	queues  map[string]*repoQueue
	waiting int
	closed  bool
	seen    *deliveries
}

// repoQueue is one repository entry's schedule: at most one job handed to the
// pool, and the jobs waiting, at most one per branch or environment.
type repoQueue struct {
	active  bool // a task for this repo is in the pool (queued or running)
	waiting []*Job
}

// New makes a Runner; it starts no goroutine until a job is submitted.
func New(o Options) *Runner {
	env := o.Environ
	if env == nil {
		env = os.Environ()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{syncer: o.Syncer, stateDir: o.Settings.StateDir, log: o.Logger, environ: baseEnv(env),
		onDone: o.OnDone, ctx: ctx, cancel: cancel,
		queues: make(map[string]*repoQueue), seen: newDeliveries(deliveryTTL, deliveryMax)}
	r.set.Store(o.Settings)
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	r.ids.seq.Store(binary.BigEndian.Uint32(seed[:]))
	// A repository has at most one task in the pool, and only while one of
	// its jobs waits, so queue_size (plus the entries, for margin) bounds it.
	r.pool = pond.NewPool(o.Settings.Workers,
		pond.WithQueueSize(o.Settings.QueueSize+len(o.Settings.Repos)), pond.WithNonBlocking(true))
	return r
}

// SetSettings makes s the settings of every job that starts from now on.
// The pool's size and the state dir stay as they were at New.
func (r *Runner) SetSettings(s *settings.Settings) { r.set.Store(s) }

// assign gives job an id and a queue time if it has none.
func (r *Runner) assign(job *Job) {
	now := time.Now()
	if job.ID == "" {
		job.ID = r.ids.next(now)
	}
	if job.Queued.IsZero() {
		job.Queued = now
	}
}

// Submit queues job without blocking. A job for the same repository and the
// same branch or environment that is still waiting is replaced by it (and
// recorded superseded); a delivery id seen before returns the original job.
func (r *Runner) Submit(job *Job) (Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return Receipt{}, ErrClosed
	}
	if id, ok := r.seen.lookup(job.Repo, job.Delivery); ok {
		return Receipt{ID: id, Duplicate: true}, nil
	}
	q := r.queues[job.Repo]
	if q == nil {
		q = &repoQueue{}
		r.queues[job.Repo] = q
	}
	if i := q.find(job.key()); i >= 0 {
		old := q.waiting[i]
		r.assign(job)
		q.waiting[i] = job
		r.seen.add(job.Repo, job.Delivery, job.ID)
		r.supersede(old, job)
		return Receipt{ID: job.ID, Supersedes: old.ID}, nil
	}
	if r.waiting >= r.set.Load().QueueSize {
		return Receipt{}, ErrQueueFull
	}
	r.assign(job)
	q.waiting = append(q.waiting, job)
	r.waiting++
	r.seen.add(job.Repo, job.Delivery, job.ID)
	r.jobLogger(job).Info().Str("event", job.Event).Msg("job queued")
	r.dispatch(job.Repo, q)
	return Receipt{ID: job.ID}, nil
}

func (q *repoQueue) find(key string) int {
	for i, j := range q.waiting {
		if j.key() == key {
			return i
		}
	}
	return -1
}

// supersede records old as replaced by job. Called with r.mu held.
func (r *Runner) supersede(old, job *Job) {
	now := time.Now()
	res := Result{Job: old, State: Superseded, Started: now, Finished: now, SupersededBy: job.ID}
	r.jobLogger(old).Info().Str("superseded_by", job.ID).Msg("job superseded")
	if r.onDone != nil {
		r.onDone(res)
	}
}

// dispatch hands the repository a pool task if it has none. The task takes
// whichever job is first in line when a worker picks it up, so jobs keep
// being coalesced while they wait for a worker. Called with r.mu held.
func (r *Runner) dispatch(name string, q *repoQueue) {
	if q.active || len(q.waiting) == 0 {
		return
	}
	if _, ok := r.pool.TrySubmit(func() { r.work(name) }); ok {
		q.active = true
		return
	}
	// Not reached while queue_size bounds the waiting jobs; if it were, the
	// job keeps waiting and the next submit or finished job dispatches it.
	r.log.Error().Str("repo", name).Msg("worker pool refused a task")
}

// work runs the first waiting job of one repository, then hands the
// repository back to the pool if more wait, so that a busy repository takes
// its turn with the others instead of holding a worker.
func (r *Runner) work(name string) {
	r.mu.Lock()
	q := r.queues[name]
	if r.closed || len(q.waiting) == 0 {
		q.active = false
		r.mu.Unlock()
		return
	}
	job := q.waiting[0]
	q.waiting = q.waiting[1:]
	r.waiting--
	r.mu.Unlock()

	r.Run(r.ctx, job, nil)

	r.mu.Lock()
	q.active = false
	if !r.closed {
		r.dispatch(name, q)
	}
	r.mu.Unlock()
}

// Close stops taking jobs, lets running jobs go on until ctx is done, then
// cancels them (their commands' process groups are terminated) and waits for
// the workers. Jobs still waiting are not run.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	var dropped []*Job
	for _, q := range r.queues {
		dropped = append(dropped, q.waiting...)
		q.waiting = nil
	}
	r.waiting = 0
	r.mu.Unlock()
	for _, j := range dropped {
		r.jobLogger(j).Warn().Msg("job not run: shutting down")
	}
	done := make(chan struct{})
	go func() { r.pool.StopAndWait(); close(done) }()
	select {
	case <-done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-done
		return ctx.Err()
	}
}
