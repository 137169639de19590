// Package runner owns jobs: the durable queue and job history (a bbolt file
// in the state dir), one job at a time per working copy (also across
// processes, by a lock file), coalescing of waiting jobs, the worker pool,
// running the configured commands, and each job's record and log. It never
// parses webhooks; it reaches git only through Syncer.
package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Syncer brings a working copy to a commit, and keeps its object store in
// shape after the commands ran (the wiring adapts gitsync to it).
type Syncer interface {
	Sync(ctx context.Context, req SyncRequest, log io.Writer) (job.SyncResult, error)
	Maintain(ctx context.Context, path string, log io.Writer) error
}

// SyncRequest says which working copy to bring to which commit.
type SyncRequest struct {
	// Remote is the URL or local path fetched from; Path the working copy.
	Remote, Path string
	// Ref is where the commit is found: refs/heads/B, refs/tags/T, a short
	// name the remote resolves, or empty with Commit (fetched by hash).
	Ref string
	// Commit is the exact commit to check out; empty means Ref's tip.
	Commit string
	// Delivered is a push's delivered commit, compared with the tip.
	Delivered string
	// Fallback is the branch searched for Commit when Ref gives nothing.
	Fallback string
	// Depth is the fetch depth; 0 is full history.
	Depth int
	// Clean removes untracked files; Submodules updates submodules.
	Clean, Submodules bool
	// Auth is how the remote is reached.
	Auth settings.Auth
	// Token is a token for an https remote got from Options.Tokens (for
	// an entry with auth.from_status); empty otherwise.
	Token string
	// Timeout bounds the whole sync.
	Timeout time.Duration
}

// Causes of a job's cancellation.
var (
	errShutdown  = errors.New("daemon stopped before the job finished")
	errCancelled = errors.New("job cancelled")
)

// History is the job history and the state dir's files, as the runner
// uses them; *jobstore.Store is the real one.
type History interface {
	Accept(rec *job.Record, payload []byte) error
	Put(rec *job.Record) error
	PutLater(rec *job.Record, done func(error))
	Get(id string) (*job.Record, error)
	List(f job.Filter) ([]*job.Record, error)
	Seen(repo, delivery string) (id string, found bool, err error)
	Payload(id string) ([]byte, error)
	Unfinished() ([]*job.Record, error)
	Prune(repo string, keep int, cutoff time.Time) error
	OpenLog(id string) (*os.File, error)
	WritePayloadFile(id string, body []byte) (string, error)
	LockPath(work string) string
	Follow(ctx context.Context, id string, w io.Writer, follow bool, flush func()) error
}

// Options configure a Runner.
type Options struct {
	Settings *settings.Settings
	Syncer   Syncer
	// Store is the job history and the state dir.
	Store  History
	Logger zerolog.Logger
	// Environ is the daemon's environment, filtered by the allow-list for
	// commands (default os.Environ()).
	Environ []string
	// OnDone, if set, is called with the record of every job that ended.
	OnDone func(job.Record)
	// OnSync, if set, is told how long each sync of a job took.
	OnSync func(repo string, took time.Duration)
	// Prober, if set, answers the safety-net poll of entries with poll:.
	Prober Prober
	// Tokens, if set, gives the fetch token of entries with
	// auth.from_status.
	Tokens Tokens
	// DetachUpkeep, if set, is offered the object-store upkeep after each
	// job whose sync succeeded, with the working copy's lock still held:
	// it either starts that upkeep in another process and returns a line
	// for the job log, or returns "" to have it done here. wh-git-trigger
	// sets it, as git runs gc --auto in the background, so that whoever
	// waits for a job run by hand or by a push hook does not wait for a
	// merge of packs; the daemon does the upkeep itself, after the job's
	// result is recorded.
	DetachUpkeep func(Upkeep) string
}

// Upkeep names what the object-store upkeep of a working copy needs: the
// working copy, its lock file, and the job log it reports to.
type Upkeep struct {
	Path, Lock, Log string
}

// Tokens gives the token an entry's remote is fetched with when its
// settings say auth.from_status: the credentials its statuses are posted
// with (the report package's Sender is the real one).
type Tokens interface {
	CloneToken(ctx context.Context, entry string) (string, error)
}

// Runner schedules, runs and records jobs. Make it with New, call Start
// once, then Submit; Run runs a job at once; Close stops.
type Runner struct {
	set     atomic.Pointer[settings.Settings]
	syncer  Syncer
	store   History
	log     zerolog.Logger
	environ []string
	onDone  func(job.Record)
	onSync  func(string, time.Duration)
	prober  Prober
	tokens  Tokens
	detach  func(Upkeep) string
	ids     ids
	// pollCtx ends the poll at Close; wg waits for it.
	pollCtx  context.Context
	stopPoll context.CancelFunc
	wg       sync.WaitGroup

	pool pond.Pool
	// ctx is cancelled with errShutdown when the shutdown grace is over.
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu sync.Mutex
	// queues holds one schedule per working copy (copyKey).
	queues   map[string]*repoQueue
	waiting  int
	reserved int                   // accepted jobs being written to the store
	inflight map[string]string     // delivery key → job id, while being written
	running  map[string]runningJob // by job id
	// unpruned are the entries with jobs that ended since the last prune.
	unpruned map[string]bool
	// ran is each target's newest job that ran to an end (by job.Key).
	ran    map[string]ranJob
	closed bool
}

// runningJob is a job that runs, and how to cancel it.
type runningJob struct {
	job  *job.Job
	stop context.CancelCauseFunc
}

// repoQueue is one working copy's schedule: at most one task in the pool,
// and the jobs waiting, at most one per branch or environment.
type repoQueue struct {
	active  bool
	waiting []*job.Job
}

// New makes a Runner; it starts no goroutine until a job is submitted.
func New(o Options) *Runner {
	env := o.Environ
	if env == nil {
		env = os.Environ()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &Runner{syncer: o.Syncer, store: o.Store, log: o.Logger, environ: baseEnv(env),
		onDone: o.OnDone, onSync: o.OnSync, prober: o.Prober, tokens: o.Tokens, detach: o.DetachUpkeep, ctx: ctx, cancel: cancel,
		queues: map[string]*repoQueue{}, inflight: map[string]string{},
		running: map[string]runningJob{}, unpruned: map[string]bool{}, ran: map[string]ranJob{}}
	r.set.Store(o.Settings)
	r.pollCtx, r.stopPoll = context.WithCancel(context.Background())
	var seed [1]byte
	_, _ = rand.Read(seed[:])
	r.ids.process = seed[0]
	// A working copy has at most one task in the pool, and only while one
	// of its jobs waits, so queue_size (plus the targets, for margin) bounds it.
	r.pool = pond.NewPool(o.Settings.Workers,
		pond.WithQueueSize(o.Settings.QueueSize+countTargets(o.Settings)), pond.WithNonBlocking(true))
	return r
}

// countTargets counts the entries and their branches and environments: an
// upper bound of the working copies.
func countTargets(s *settings.Settings) int {
	n := 0
	for _, r := range s.Repos {
		n += 1 + len(r.Branches) + len(r.Environments)
	}
	return n
}

// copyKey names the working copy job deploys into: jobs of one working
// copy run one after another, jobs of different ones (two branches with
// their own paths) side by side.
func (r *Runner) copyKey(jb *job.Job) string {
	repo, target, err := r.lookup(jb)
	if err != nil {
		return "entry\x00" + jb.Repo
	}
	return filepath.Clean(repo.WorkingCopy(target))
}

// SetSettings makes s the settings of every job that starts from now on.
// The pool's size and the state dir stay as they were at New.
func (r *Runner) SetSettings(s *settings.Settings) { r.set.Store(s) }

// assign gives job an id and a queue time if it has none.
func (r *Runner) assign(jb *job.Job) {
	now := time.Now()
	if jb.ID == "" {
		jb.ID = r.ids.next(now)
	}
	if jb.Queued.IsZero() {
		jb.Queued = now
	}
}

func deliveryID(jb *job.Job) string {
	if jb.Delivery == "" {
		return ""
	}
	return jb.Repo + "\x00" + jb.Delivery
}

// Submit queues job without blocking on other jobs, and returns once the
// job is on disk. A job for the same repository and the same branch or
// environment that is still waiting is replaced by it (and recorded
// superseded); a delivery id seen before returns the original job, unless
// that job ended without success: then this is a new attempt (RetryOf).
func (r *Runner) Submit(jb *job.Job) (job.Receipt, error) {
	rc, grew, done := r.reserve(jb)
	if done != nil || rc.Duplicate {
		return rc, done
	}
	err := r.store.Accept(&job.Record{Job: jb, State: job.Queued}, jb.Payload)
	r.mu.Lock()
	delete(r.inflight, deliveryID(jb))
	if grew {
		r.reserved--
	}
	if err != nil {
		r.mu.Unlock()
		r.log.Error().Err(err).Str("repo", jb.Repo).Str("delivery", jb.Delivery).Msg("job not accepted")
		return job.Receipt{}, err
	}
	jb.Payload = nil // on disk now: a waiting job holds no body in memory
	old := r.enqueue(jb)
	r.mu.Unlock()
	ev := r.jobInfo(jb).Str("event", jb.Event)
	if jb.RetryOf != "" {
		ev = ev.Str("retry_of", jb.RetryOf)
	}
	ev.Msg("job queued")
	rc = job.Receipt{ID: jb.ID, RetryOf: jb.RetryOf}
	if old != nil {
		r.supersede(old, jb)
		rc.Supersedes = old.ID
	}
	return rc, nil
}

// reserve checks a new job against duplicates and the queue's bound and
// reserves its place; grew says whether it may add a waiting job.
func (r *Runner) reserve(jb *job.Job) (rc job.Receipt, grew bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return job.Receipt{}, false, job.ErrClosed
	}
	if id, ok := r.inflight[deliveryID(jb)]; ok {
		return job.Receipt{ID: id, Duplicate: true}, false, nil
	}
	id, seen, err := r.store.Seen(jb.Repo, jb.Delivery)
	if err != nil {
		return job.Receipt{}, false, err
	}
	if seen {
		if !r.retryable(id) {
			return job.Receipt{ID: id, Duplicate: true}, false, nil
		}
		jb.RetryOf = id
	}
	q := r.queue(r.copyKey(jb))
	grew = q.find(jb.Key()) < 0
	if grew && r.waiting+r.reserved >= r.set.Load().QueueSize {
		return job.Receipt{}, false, job.ErrQueueFull
	}
	r.assign(jb)
	if grew {
		r.reserved++
	}
	if d := deliveryID(jb); d != "" {
		r.inflight[d] = jb.ID
	}
	return job.Receipt{ID: jb.ID, RetryOf: jb.RetryOf}, grew, nil
}

// retryable reports whether the job of a delivery id seen before ended
// without success (failed, timed out, cancelled or interrupted) and is not
// waiting or running again: then the same delivery once more, a forge's
// "Redeliver", is a new attempt. Called with r.mu held.
func (r *Runner) retryable(id string) bool {
	if _, ok := r.running[id]; ok {
		return false
	}
	for _, q := range r.queues {
		for _, j := range q.waiting {
			if j.ID == id {
				return false
			}
		}
	}
	rec, err := r.store.Get(id)
	if err != nil {
		return false // no record left (pruned) or unreadable: a duplicate
	}
	switch rec.State {
	case job.Failed, job.TimedOut, job.Cancelled, job.Interrupted:
		return true
	}
	return false
}

func (r *Runner) queue(name string) *repoQueue {
	q := r.queues[name]
	if q == nil {
		q = &repoQueue{}
		r.queues[name] = q
	}
	return q
}

func (q *repoQueue) find(key string) int {
	for i, j := range q.waiting {
		if j.Key() == key {
			return i
		}
	}
	return -1
}

// enqueue puts job in line, in place of a waiting job of the same target,
// which it returns. Called with r.mu held.
func (r *Runner) enqueue(jb *job.Job) (old *job.Job) {
	key := r.copyKey(jb)
	q := r.queue(key)
	if i := q.find(jb.Key()); i >= 0 {
		old, q.waiting[i] = q.waiting[i], jb
	} else {
		q.waiting = append(q.waiting, jb)
		r.waiting++
	}
	if !r.closed {
		r.dispatch(key, q)
	}
	return old
}

// supersede records old as replaced by job. The request that replaced it
// does not wait for this write: if it is lost in a crash, recovery finds
// both jobs queued and supersedes old again.
func (r *Runner) supersede(old, jb *job.Job) {
	rec := &job.Record{Job: old, State: job.Superseded, Finished: time.Now(), SupersededBy: jb.ID}
	r.store.PutLater(rec, func(err error) {
		if err != nil {
			r.jobLogger(old).Error().Err(err).Msg("superseded state not recorded")
		}
	})
	if r.onDone != nil {
		r.onDone(*rec)
	}
	r.jobInfo(old).Str("superseded_by", jb.ID).Msg("job superseded")
}

// end records a job that ended and tells OnDone.
func (r *Runner) end(rec *job.Record) {
	if err := r.store.Put(rec); err != nil {
		r.jobLogger(rec.Job).Error().Err(err).Str("state", string(rec.State)).Msg("job state not recorded")
	}
	r.noteRan(rec)
	if r.onDone != nil {
		r.onDone(*rec)
	}
}

// dispatch hands the working copy a pool task if it has none. The task takes
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
	r.log.Error().Str("path", name).Msg("worker pool refused a task")
}

// work runs the first waiting job of one working copy, then hands the
// working copy back to the pool if more wait, so that a busy one takes its
// turn with the others instead of holding a worker.
func (r *Runner) work(name string) {
	r.mu.Lock()
	q := r.queues[name]
	if r.closed || len(q.waiting) == 0 {
		q.active = false
		r.mu.Unlock()
		return
	}
	jb := q.waiting[0]
	q.waiting = q.waiting[1:]
	r.waiting--
	r.mu.Unlock()

	r.run(r.ctx, jb, nil)

	r.mu.Lock()
	r.unpruned[jb.Repo] = true
	q.active = false
	if !r.closed {
		r.dispatch(name, q)
	}
	r.mu.Unlock()
}

// Cancel cancels job id: a waiting job ends cancelled at once; a running
// one has its command's process group terminated and ends cancelled.
func (r *Runner) Cancel(id string) error {
	r.mu.Lock()
	if rj, ok := r.running[id]; ok {
		r.mu.Unlock()
		rj.stop(errCancelled)
		return nil
	}
	for _, q := range r.queues {
		for i, j := range q.waiting {
			if j.ID == id {
				q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
				r.waiting--
				r.mu.Unlock()
				r.end(&job.Record{Job: j, State: job.Cancelled, Finished: time.Now(), Error: errCancelled.Error()})
				return nil
			}
		}
	}
	r.mu.Unlock()
	if rec, err := r.store.Get(id); err == nil {
		if rec.State.Final() {
			return job.ErrFinished
		}
		return fmt.Errorf("job %s is %s and not in this daemon's queue", id, rec.State)
	}
	return job.ErrNotFound
}

// Get returns the record of job id from the history.
func (r *Runner) Get(id string) (*job.Record, error) { return r.store.Get(id) }

// List returns the records that match f, newest first.
func (r *Runner) List(f job.Filter) ([]*job.Record, error) { return r.store.List(f) }

// Follow copies the log of job id to w until the job ends (see
// jobstore.Store.Follow).
func (r *Runner) Follow(ctx context.Context, id string, w io.Writer, follow bool, flush func()) error {
	return r.store.Follow(ctx, id, w, follow, flush)
}

// Start resumes the jobs the store holds unfinished and starts the
// safety-net poll (with Options.Prober), which runs until Close. It returns
// how many jobs it resumed; an error reports records it could not read,
// whose jobs are not resumed. Call it once, before the first Submit.
func (r *Runner) Start() (resumed int, err error) {
	resumed, err = r.recover()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.pruneEvery(r.pollCtx, pruneInterval)
	}()
	if r.prober != nil {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.poll(r.pollCtx, r.prober)
		}()
	}
	return resumed, err
}

// Close stops taking jobs, lets running jobs go on until ctx is done, then
// cancels them (their commands' process groups are terminated and they are
// recorded interrupted, to run again at the next start) and waits for the
// workers. Jobs still waiting stay queued in the store for the next start.
func (r *Runner) Close(ctx context.Context) error {
	r.stopPoll()
	defer r.wg.Wait()
	r.mu.Lock()
	r.closed = true
	for _, q := range r.queues {
		q.waiting = nil
	}
	r.waiting = 0
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.pool.StopAndWait(); close(done) }()
	defer r.pruneEnded()
	select {
	case <-done:
		r.cancel(errShutdown)
		return nil
	case <-ctx.Done():
		r.cancel(errShutdown)
		<-done
		return ctx.Err()
	}
}
