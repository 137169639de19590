package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/settings"
)

// Output caps of a job's log file: the first and the last logHead/logTail
// bytes are kept, the middle is replaced by a marker.
const (
	logHead = 1 << 20
	logTail = 1 << 20
)

// Run runs job now, in the calling goroutine: it takes the working copy's
// lock (waiting for any other job on it, in this process or another), syncs
// the working copy, runs the commands, records the result, and then tidies
// the working copy's object store before it lets the lock go, and prunes
// the entry's history. A job that is
// not in the store yet (a manual run) is recorded first. Output is written to
// the job's log file and, when live is not nil, to live as well.
func (r *Runner) Run(ctx context.Context, jb *job.Job, live io.Writer) job.Record {
	rec := r.run(ctx, jb, live)
	r.prune(jb.Repo)
	return rec
}

// run is Run without the pruning of the history, which the pool's jobs
// leave to the prune timer.
func (r *Runner) run(ctx context.Context, jb *job.Job, live io.Writer) job.Record {
	if jb.ID == "" {
		r.assign(jb)
		if err := r.store.Accept(&job.Record{Job: jb, State: job.Queued}, jb.Payload); err != nil {
			rec := job.Record{Job: jb, State: job.Failed, Finished: time.Now(), Error: err.Error()}
			return rec
		}
	}
	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	rec := r.start(jb, stop)
	log := r.jobLogger(jb)
	f, err := r.store.OpenLog(jb.ID)
	if err != nil {
		return r.finish(ctx, log, rec, err)
	}
	defer f.Close()
	rec.Log = f.Name()
	cw := newCapWriter(f, logHead, logTail)
	var out io.Writer = cw
	if live != nil {
		out = io.MultiWriter(live, cw)
	}
	after, err := r.execute(ctx, parent, rec, out)
	fmt.Fprintf(out, "%s %s\n", stamp(), summary(ctx, rec, err))
	if ferr := cw.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write job log: %w", ferr)
	}
	final := r.finish(ctx, log, rec, err)
	after()
	if err := cw.Flush(); err != nil {
		log.Warn().Err(err).Msg("job log: the maintenance lines were not all written")
	}
	return final
}

// start records job running and makes it cancellable.
func (r *Runner) start(jb *job.Job, stop context.CancelCauseFunc) *job.Record {
	rec := &job.Record{Job: jb, State: job.Running, Started: time.Now()}
	if old, err := r.store.Get(jb.ID); err == nil {
		rec.Attempts = old.Attempts
	}
	rec.Attempts++
	r.mu.Lock()
	r.running[jb.ID] = runningJob{job: jb, stop: stop}
	r.mu.Unlock()
	// Not waited for: if a crash loses it, the job is still queued in the
	// store and runs again, which is what recovery does with it anyway.
	r.store.PutLater(cloneRecord(rec), func(err error) {
		if err != nil {
			r.jobLogger(jb).Error().Err(err).Msg("job start not recorded")
		}
	})
	return rec
}

func (r *Runner) stopped(jb *job.Job) {
	r.mu.Lock()
	delete(r.running, jb.ID)
	r.mu.Unlock()
}

// execute syncs the working copy and runs the commands. After a sync, it
// returns with the working copy's lock still held, and after (run once the
// job's result is recorded) does the object store's upkeep and lets the
// lock go: the upkeep is not what the push waits for, and a crash during it
// must not make a job whose commands all ran run again.
//
// The target's follow-up commands (on_failure, always) run under parent,
// which the daemon's shutdown cancels but a cancel of this job does not.
func (r *Runner) execute(ctx, parent context.Context, rec *job.Record, out io.Writer) (after func(), err error) {
	after = func() {}
	jb := rec.Job
	repo, target, err := r.lookup(jb)
	if err != nil {
		return after, err
	}
	fmt.Fprintf(out, "%s job %s: %s %s at %s, event %s, delivery %q, attempt %d\n", stamp(), jb.ID,
		jb.Repo, jb.Target(), shortSHA(jb.SHA), jb.Event, jb.Delivery, rec.Attempts)
	path := repo.WorkingCopy(target)
	lock, err := acquireLock(ctx, r.store.LockPath(path), out)
	if err != nil {
		return after, err
	}
	log := r.jobLogger(jb)
	log.Info().Int("attempt", rec.Attempts).Msg("job started")
	st := syncTarget(repo, target, jb)
	fmt.Fprintf(out, "%s sync %s to %s\n", stamp(), path, describeTarget(st))
	sw := newStampWriter(out)
	began := time.Now()
	if st.Token, err = r.fetchToken(ctx, repo); err == nil {
		rec.Sync, err = r.sync(log.WithContext(ctx), jb.Repo, st, sw)
	}
	rec.SyncMS = time.Since(began).Milliseconds()
	sw.end()
	if err != nil {
		defer lock.release()
		err = fmt.Errorf("sync %s: %w", jb.Repo, err)
		r.syncFailed(ctx, parent, rec, repo, target, err, out)
		return after, err
	}
	rec.Deployed = rec.Sync.Commit
	if rec.Note = deliveredNote(jb, rec.Sync); rec.Note != "" {
		fmt.Fprintf(out, "%s %s\n", stamp(), rec.Note)
	}
	after = func() {
		defer lock.release()
		if r.detach != nil {
			if note := r.detach(Upkeep{Path: path, Lock: r.store.LockPath(path), Log: rec.Log}); note != "" {
				fmt.Fprintf(out, "%s %s\n", stamp(), note)
				return
			}
		}
		maintain(ctx, r.syncer, log, path, out)
	}
	if reason := r.skipReason(rec, repo.AlwaysRun); reason != "" {
		return after, &skipError{reason: reason}
	}
	payload, err := r.writePayload(jb)
	if err != nil {
		return after, err
	}
	env := commandEnv(r.environ, jb, repo, target, rec.Sync.Commit, payload)
	dir := filepath.Join(path, target.Workdir)
	err = r.runCommands(ctx, rec, target, dir, env, out)
	r.followUp(ctx, parent, rec, target, dir, env, err, out)
	return after, err
}

// runCommands runs the target's commands in order until the first failure.
func (r *Runner) runCommands(ctx context.Context, rec *job.Record, t *settings.Target, dir string,
	env []string, out io.Writer) error {
	for _, c := range t.Commands {
		if err := r.runOne(ctx, rec, c, dir, env, t.Timeout, out); err != nil {
			return err
		}
	}
	return nil
}

// syncFailed runs the follow-up commands of a job whose sync failed, in
// the commands' folder or, while that is not there yet, in the working
// copy or else its parent folder. No commit was checked out: WH_SHA is empty.
func (r *Runner) syncFailed(ctx, parent context.Context, rec *job.Record, repo *settings.Repo,
	t *settings.Target, err error, out io.Writer) {
	if len(t.OnFailure)+len(t.Always) == 0 {
		return
	}
	path := repo.WorkingCopy(t)
	dir := filepath.Join(path, t.Workdir)
	for _, d := range []string{path, filepath.Dir(path)} {
		if isDir(dir) {
			break
		}
		dir = d
	}
	payload, perr := r.writePayload(rec.Job)
	if perr != nil {
		fmt.Fprintf(out, "%s $WH_PAYLOAD not written: %v\n", stamp(), perr)
	}
	env := commandEnv(r.environ, rec.Job, repo, t, "", payload)
	r.followUp(ctx, parent, rec, t, dir, env, err, out)
}

// sync runs the syncer, and tells OnSync how long it took.
func (r *Runner) sync(ctx context.Context, repo string, st SyncRequest, out io.Writer) (job.SyncResult, error) {
	began := time.Now()
	res, err := r.syncer.Sync(ctx, st, out)
	if r.onSync != nil {
		r.onSync(repo, time.Since(began))
	}
	return res, err
}

// maintain runs the working copy's object-store upkeep after a job; a
// failure is logged and changes nothing about the job's result.
func maintain(ctx context.Context, syncer Syncer, log *zerolog.Logger, path string, out io.Writer) {
	sw := newStampWriter(out)
	err := syncer.Maintain(log.WithContext(ctx), path, sw)
	sw.end()
	if err != nil {
		fmt.Fprintf(out, "%s maintenance skipped: %v\n", stamp(), err)
		log.Warn().Err(err).Str("path", path).Msg("working copy maintenance skipped")
	}
}

// runOne runs one command, records its process group while it runs (so that
// a restarted daemon can kill it) and its result when it ends.
func (r *Runner) runOne(ctx context.Context, rec *job.Record, c settings.Command, dir string, env []string,
	timeout time.Duration, out io.Writer) error {
	fmt.Fprintf(out, "%s $ %s\n", stamp(), c)
	begin := time.Now()
	started := func(g job.Group) {
		rec.Group = &g
		if err := r.store.Put(rec); err != nil {
			r.jobLogger(rec.Job).Warn().Err(err).Msg("process group not recorded")
		}
	}
	sw := newStampWriter(out)
	err := runCommand(ctx, c, dir, env, timeout, r.set.Load().KillGrace, sw, started)
	sw.end()
	rec.Group = nil
	cr := job.CommandResult{Command: c.String(), Duration: time.Since(begin)}
	var ce *CommandError
	if errors.As(err, &ce) {
		cr.ExitCode = ce.ExitCode
	} else if err != nil {
		cr.ExitCode = -1
	}
	rec.Commands = append(rec.Commands, cr)
	return err
}

// followUp runs the target's on_failure commands when the job failed or
// timed out, then its always commands, each under the target's timeout,
// with the job's environment plus WH_RESULT (the job's result) and
// WH_FAILED_COMMAND (the command that failed or timed out; empty when the
// sync failed, and for any other result).
// They run under parent: cancelling the job stopped its commands but not
// its clean-up, while a shutdown interrupts the job, which runs again, and
// so runs none of them. Each is recorded with its phase; a failure of one
// stops the rest of its list and changes nothing about the job's result.
func (r *Runner) followUp(ctx, parent context.Context, rec *job.Record, t *settings.Target, dir string,
	env []string, err error, out io.Writer) {
	result := finalState(ctx, err)
	if len(t.OnFailure)+len(t.Always) == 0 || result == job.Interrupted || parent.Err() != nil {
		return
	}
	failed := result == job.Failed || result == job.TimedOut
	command := ""
	if failed {
		command = failedCommand(rec, err)
	}
	env = append(env[:len(env):len(env)], "WH_RESULT="+string(result), "WH_FAILED_COMMAND="+command)
	if failed {
		r.runPhase(parent, rec, job.PhaseOnFailure, t.OnFailure, dir, env, t.Timeout, out)
	}
	r.runPhase(parent, rec, job.PhaseAlways, t.Always, dir, env, t.Timeout, out)
}

// runPhase runs one list of follow-up commands until the first failure.
func (r *Runner) runPhase(ctx context.Context, rec *job.Record, phase string, cs []settings.Command, dir string,
	env []string, timeout time.Duration, out io.Writer) {
	if len(cs) > 0 {
		fmt.Fprintf(out, "%s %s commands\n", stamp(), phase)
	}
	for _, c := range cs {
		err := r.runOne(ctx, rec, c, dir, env, timeout, out)
		rec.Commands[len(rec.Commands)-1].Phase = phase
		if err != nil {
			fmt.Fprintf(out, "%s %s command failed: %v; the job's result stays as it was\n", stamp(), phase, err)
			r.jobLogger(rec.Job).Warn().Str("phase", phase).Err(err).Msg("follow-up command failed")
			return
		}
	}
}

// failedCommand is the main command whose failure ended the job, or "".
func failedCommand(rec *job.Record, err error) string {
	var ce *CommandError
	if !errors.As(err, &ce) || len(rec.Commands) == 0 {
		return ""
	}
	return rec.Commands[len(rec.Commands)-1].Command
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// syncTarget maps a repository entry, the job's target and the job onto
// a sync request. A push (or a poll) deploys the branch's tip as
// fetched now, with the delivered commit only compared with it, so that a
// late or out-of-order delivery never moves the working copy backwards. A
// deployment, or a manual run naming a commit, deploys exactly that commit;
// its ref is only where to find it, and the environment's branch the
// fallback when the ref gives nothing fetchable.
func syncTarget(repo *settings.Repo, target *settings.Target, jb *job.Job) SyncRequest {
	t := SyncRequest{
		Remote: repo.Remote, Path: repo.WorkingCopy(target), Ref: jb.Ref,
		Depth: repo.Depth, Clean: repo.Clean, Submodules: repo.Submodules,
		Timeout: repo.GitTimeout,
		Auth:    repo.Auth,
	}
	switch {
	case jb.FollowsTip():
		t.Delivered = jb.SHA
	case jb.SHA != "":
		t.Commit = jb.SHA
		if b := cmp.Or(target.Branch, jb.Branch); b != "" {
			t.Fallback = "refs/heads/" + b
		}
	}
	return t
}

// describeTarget says in the job log what a sync is asked to do.
func describeTarget(t SyncRequest) string {
	switch {
	case t.Commit != "" && t.Ref != "":
		return fmt.Sprintf("commit %s (from %s)", shortSHA(t.Commit), t.Ref)
	case t.Commit != "":
		return "commit " + shortSHA(t.Commit)
	case t.Delivered != "":
		return fmt.Sprintf("the tip of %s (delivered %s)", t.Ref, shortSHA(t.Delivered))
	}
	return "the tip of " + t.Ref
}

// deliveredNote says, for a push whose delivered commit is not the tip
// that was deployed, how the two relate; "" otherwise.
func deliveredNote(jb *job.Job, res job.SyncResult) string {
	if !jb.FollowsTip() || res.Delivered == "" || res.Delivered == job.DeliveredTip {
		return ""
	}
	d, tip := shortSHA(jb.SHA), shortSHA(res.Commit)
	switch res.Delivered {
	case job.DeliveredAncestor:
		return fmt.Sprintf("delivered commit %s is in the history of %s's tip %s: deployed the tip", d, jb.Branch, tip)
	case job.DeliveredNotInHistory:
		return fmt.Sprintf("delivered commit %s is not in the history of %s's tip %s (the branch was force-pushed): deployed the tip",
			d, jb.Branch, tip)
	}
	return fmt.Sprintf("delivered commit %s is not in the fetched history of %s's tip %s: deployed the tip", d, jb.Branch, tip)
}

// skipError ends a job that had nothing to do.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// lookup finds the job's repository entry and configured target.
func (r *Runner) lookup(jb *job.Job) (*settings.Repo, *settings.Target, error) {
	repo, ok := r.set.Load().Repos[jb.Repo]
	if !ok {
		return nil, nil, fmt.Errorf("repository entry %q is not configured", jb.Repo)
	}
	t, ok := repo.Target(jb.Branch, jb.Environment)
	if !ok {
		return nil, nil, fmt.Errorf("%s is not configured for %s", jb.Target(), jb.Repo)
	}
	return repo, t, nil
}

// writePayload stores the raw delivery for $WH_PAYLOAD; "" when there is none.
func (r *Runner) writePayload(jb *job.Job) (string, error) {
	payload := jb.Payload
	if len(payload) == 0 {
		var err error
		if payload, err = r.store.Payload(jb.ID); err != nil {
			return "", fmt.Errorf("read payload: %w", err)
		}
	}
	if len(payload) == 0 {
		return "", nil
	}
	return r.store.WritePayloadFile(jb.ID, payload)
}

// finish turns the outcome into the job's final state, records it, takes
// the job out of the running ones and logs it once.
func (r *Runner) finish(ctx context.Context, log *zerolog.Logger, rec *job.Record, err error) job.Record {
	rec.Finished = time.Now()
	rec.State = finalState(ctx, err)
	ev := log.Info()
	switch {
	case rec.State == job.Skipped:
		rec.Note = strings.TrimPrefix(rec.Note+"; "+err.Error(), "; ")
		ev = ev.Str("reason", rec.Note)
	case err != nil:
		rec.Error = err.Error()
		ev = log.Error().Str("error", rec.Error)
	}
	ev.Str("state", string(rec.State)).Str("deployed", rec.Deployed).
		Int64("took_ms", rec.Finished.Sub(rec.Started).Milliseconds()).
		Str("log", rec.Log).Msg("job finished")
	r.end(rec)
	r.stopped(rec.Job) // a cancel from now on is answered "already finished"
	return *rec
}

func finalState(ctx context.Context, err error) job.State {
	var ce *CommandError
	var se *skipError
	switch {
	case err == nil:
		return job.Succeeded
	case errors.As(err, &se):
		return job.Skipped
	case errors.Is(context.Cause(ctx), errShutdown):
		return job.Interrupted
	case errors.As(err, &ce) && ce.TimedOut:
		return job.TimedOut
	case errors.Is(context.Cause(ctx), errCancelled), errors.As(err, &ce) && ce.Cancelled:
		return job.Cancelled
	}
	return job.Failed
}

func summary(ctx context.Context, rec *job.Record, err error) string {
	took := time.Since(rec.Started).Round(time.Millisecond)
	var se *skipError
	if errors.As(err, &se) {
		return fmt.Sprintf("job %s skipped: %s; nothing ran", rec.Job.ID, se.reason)
	}
	if err != nil {
		return fmt.Sprintf("job %s %s after %s: %v", rec.Job.ID, finalState(ctx, err), took, err)
	}
	return fmt.Sprintf("job %s succeeded in %s at %s", rec.Job.ID, took, shortSHA(rec.Sync.Commit))
}

func stamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func shortSHA(s string) string {
	if s == "" {
		return "the tip"
	}
	return s[:min(len(s), 12)]
}

// jobLogger carries the fixed fields of every line about a job.
func (r *Runner) jobLogger(jb *job.Job) *zerolog.Logger {
	c := r.log.With().Str("job", jb.ID).Str("repo", jb.Repo).Str("delivery", jb.Delivery).Str("sha", jb.SHA)
	if jb.Environment != "" {
		c = c.Str("environment", jb.Environment)
	}
	l := c.Str("branch", jb.Branch).Logger()
	return &l
}

// jobInfo is an Info event of jb's logger, or nil, with no logger built,
// when Info lines are off: each accepted delivery would build two.
func (r *Runner) jobInfo(jb *job.Job) *zerolog.Event {
	probe := r.log.Info()
	if !probe.Enabled() {
		return nil
	}
	probe.Discard()
	return r.jobLogger(jb).Info()
}

// cloneRecord copies rec for a write that happens while the job goes on.
func cloneRecord(rec *job.Record) *job.Record {
	c := *rec
	c.Commands = append([]job.CommandResult(nil), rec.Commands...)
	return &c
}

// RunUpkeep does the object-store upkeep of a working copy as after a job,
// under the working copy's lock, writing what it did and when it ended to
// out (a check that found nothing to do says nothing else): it is what
// the process a DetachUpkeep started runs. It waits for the lock until
// lockCtx is done (then the next job's upkeep does it, and the error says
// so in out too), and ends the upkeep early only when ctx is.
func RunUpkeep(ctx, lockCtx context.Context, syncer Syncer, log zerolog.Logger, u Upkeep, out io.Writer) error {
	lock, err := acquireLock(lockCtx, u.Lock, out)
	if err != nil {
		fmt.Fprintf(out, "%s maintenance skipped: %v (the next job's does it)\n", stamp(), err)
		return err
	}
	defer lock.release()
	began := time.Now()
	maintain(ctx, syncer, &log, u.Path, out)
	fmt.Fprintf(out, "%s object-store upkeep ended in %s\n", stamp(), time.Since(began).Round(time.Millisecond))
	return nil
}
