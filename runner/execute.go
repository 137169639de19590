package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/gitsync"
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
// the working copy, runs the commands, and records the result. Output is
// written to the job's log file and, when live is not nil, to live as well.
func (r *Runner) Run(ctx context.Context, job *Job, live io.Writer) Result {
	r.assign(job)
	res := Result{Job: job, State: Running, Started: time.Now()}
	log := r.jobLogger(job)
	repo, target, err := r.lookup(job)
	if err != nil {
		return r.finish(log, res, err)
	}
	f, err := r.openLog(job)
	if err != nil {
		return r.finish(log, res, err)
	}
	defer f.Close()
	res.Log = f.Name()
	cw := newCapWriter(f, logHead, logTail)
	var out io.Writer = cw
	if live != nil {
		out = io.MultiWriter(live, cw)
	}
	err = r.execute(ctx, job, repo, target, out, &res)
	fmt.Fprintf(out, "%s %s\n", stamp(), summary(res, err))
	if ferr := cw.Flush(); ferr != nil && err == nil {
		err = fmt.Errorf("write job log: %w", ferr)
	}
	return r.finish(log, res, err)
}

func (r *Runner) execute(ctx context.Context, job *Job, repo *settings.Repo, target *settings.Target,
	out io.Writer, res *Result) error {
	fmt.Fprintf(out, "%s job %s: %s %s of %s, event %s, delivery %q\n", stamp(), job.ID,
		job.Repo, job.target(), shortSHA(job.SHA), job.Event, job.Delivery)
	lock, err := acquireLock(ctx, lockPath(r.stateDir, repo.Path), out)
	if err != nil {
		return err
	}
	defer lock.release()
	log := r.jobLogger(job)
	log.Info().Msg("job started")
	fmt.Fprintf(out, "%s sync %s to %s\n", stamp(), repo.Path, job.Ref)
	res.Sync, err = r.syncer.Sync(log.WithContext(ctx), syncTarget(repo, job), out)
	if err != nil {
		return fmt.Errorf("sync %s: %w", job.Repo, err)
	}
	payload, err := r.writePayload(job)
	if err != nil {
		return err
	}
	env := commandEnv(r.environ, job, repo, target, res.Sync.Commit, payload)
	dir := filepath.Join(repo.Path, target.Workdir)
	for _, c := range target.Commands {
		fmt.Fprintf(out, "%s $ %s\n", stamp(), c)
		begin := time.Now()
		err := runCommand(ctx, c, dir, env, target.Timeout, r.set.Load().KillGrace, out)
		cr := CommandResult{Command: c.String(), Duration: time.Since(begin)}
		var ce *CommandError
		if errors.As(err, &ce) {
			cr.ExitCode = ce.ExitCode
		} else if err != nil {
			cr.ExitCode = -1
		}
		res.Commands = append(res.Commands, cr)
		if err != nil {
			return err
		}
	}
	return nil
}

// syncTarget maps a repository entry and a job onto what gitsync needs.
func syncTarget(repo *settings.Repo, job *Job) gitsync.Target {
	return gitsync.Target{
		Remote: repo.Remote, Path: repo.Path, Ref: job.Ref, Commit: job.SHA,
		Depth: repo.Depth, Clean: repo.Clean, Submodules: repo.Submodules,
		Timeout: repo.GitTimeout,
		Auth: gitsync.Auth{SSHKeyFile: repo.Auth.SSHKeyFile, KnownHostsFile: repo.Auth.KnownHostsFile,
			TokenFile: repo.Auth.TokenFile, Username: repo.Auth.Username},
	}
}

// lookup finds the job's repository entry and configured target.
func (r *Runner) lookup(job *Job) (*settings.Repo, *settings.Target, error) {
	repo, ok := r.set.Load().Repos[job.Repo]
	if !ok {
		return nil, nil, fmt.Errorf("repository entry %q is not configured", job.Repo)
	}
	targets, name := repo.Branches, job.Branch
	if job.Environment != "" {
		targets, name = repo.Environments, job.Environment
	}
	t, ok := targets[name]
	if !ok {
		return nil, nil, fmt.Errorf("%s is not configured for %s", job.target(), job.Repo)
	}
	return repo, t, nil
}

func (r *Runner) openLog(job *Job) (*os.File, error) {
	dir := filepath.Join(r.stateDir, "jobs")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create job log: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, job.ID+".log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("create job log: %w", err)
	}
	return f, nil
}

// writePayload stores the raw delivery for $WH_PAYLOAD; "" when there is none.
func (r *Runner) writePayload(job *Job) (string, error) {
	if len(job.Payload) == 0 {
		return "", nil
	}
	path := filepath.Join(r.stateDir, "jobs", job.ID+".payload.json")
	if err := os.WriteFile(path, job.Payload, 0o600); err != nil {
		return "", fmt.Errorf("write payload file: %w", err)
	}
	return path, nil
}

// finish turns the outcome into the job's final state and logs it once.
func (r *Runner) finish(log *zerolog.Logger, res Result, err error) Result {
	res.Finished = time.Now()
	res.State = finalState(err)
	if err != nil {
		res.Error = err.Error()
	}
	ev := log.Info()
	if err != nil {
		ev = log.Error().Str("error", res.Error)
	}
	ev.Str("state", string(res.State)).Dur("took", res.Finished.Sub(res.Started)).
		Str("log", res.Log).Msg("job finished")
	if r.onDone != nil {
		r.onDone(res)
	}
	return res
}

func finalState(err error) State {
	var ce *CommandError
	switch {
	case err == nil:
		return Succeeded
	case errors.As(err, &ce) && ce.TimedOut:
		return TimedOut
	case errors.As(err, &ce) && ce.Cancelled, errors.Is(err, context.Canceled):
		return Cancelled
	}
	return Failed
}

func summary(res Result, err error) string {
	took := time.Since(res.Started).Round(time.Millisecond)
	if err != nil {
		return fmt.Sprintf("job %s %s after %s: %v", res.Job.ID, finalState(err), took, err)
	}
	return fmt.Sprintf("job %s succeeded in %s at %s", res.Job.ID, took, shortSHA(res.Sync.Commit))
}

func stamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000Z") }

func shortSHA(s string) string {
	if s == "" {
		return "the tip"
	}
	return s[:min(len(s), 12)]
}

// jobLogger carries the fixed fields of every line about a job.
func (r *Runner) jobLogger(job *Job) *zerolog.Logger {
	c := r.log.With().Str("job", job.ID).Str("repo", job.Repo).Str("delivery", job.Delivery).Str("sha", job.SHA)
	if job.Environment != "" {
		c = c.Str("environment", job.Environment)
	}
	l := c.Str("branch", job.Branch).Logger()
	return &l
}
