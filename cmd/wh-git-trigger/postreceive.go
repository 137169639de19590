package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/internal/gitsyncer"
	"github.com/wh-gitd/wh-gitd/job"
	"github.com/wh-gitd/wh-gitd/jobstore"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

// pushKeyVar carries the fingerprint of the SSH key that pushed, from
// --git-shell through git-receive-pack to the post-receive hook.
const pushKeyVar = "WH_PUSH_KEY"

// hookEnv is what the post-receive hook takes from the environment git
// gives it, read before every GIT_* variable is removed.
type hookEnv struct {
	dir     string   // the repository the hook runs in
	options []string // push options (git push -o OPTION)
	by      string   // who pushed: the user, and the SSH key when known
}

// readHookEnv reads the hook's repository (GIT_DIR, relative to cwd, else
// cwd), the push options and the pusher out of environ.
func readHookEnv(environ []string, cwd string) hookEnv {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	he := hookEnv{dir: cwd}
	if d := env["GIT_DIR"]; d != "" {
		he.dir = d
		if !filepath.IsAbs(d) {
			he.dir = filepath.Join(cwd, d)
		}
	}
	n, _ := strconv.Atoi(env["GIT_PUSH_OPTION_COUNT"])
	for i := range min(n, 100) {
		he.options = append(he.options, env["GIT_PUSH_OPTION_"+strconv.Itoa(i)])
	}
	he.by = cmp.Or(env["USER"], env["LOGNAME"], "git push")
	if key := env[pushKeyVar]; key != "" {
		he.by += " (key " + key + ")"
	}
	return he
}

// detach reports whether the pusher asked not to wait (git push -o detach).
func (he hookEnv) detach() bool { return slices.Contains(he.options, "detach") }

// clearGitEnv removes every GIT_* variable from this process's environment,
// so that neither the sync nor the commands nor git run here act on the
// repository the hook runs in.
func clearGitEnv() {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "GIT_") {
			os.Unsetenv(k)
		}
	}
}

// sink passes output on to the pusher until a write fails (the pusher went
// away); from then on it drops everything and calls gone once, so that a
// job writing to it never sees the failure.
type sink struct {
	mu     sync.Mutex
	w      io.Writer
	broken bool
	gone   func()
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.broken {
		if _, err := s.w.Write(p); err != nil {
			s.broken = true
			s.gone()
		}
	}
	return len(p), nil
}

func (s *sink) printf(format string, args ...any) { fmt.Fprintf(s, "wh-gitd: "+format+"\n", args...) }

// postReceive handles every line of a push: it submits one job per
// configured branch created or updated, lists the rest as ignored, and
// streams each job's log to the pusher, then its result. The pusher going
// away (SIGPIPE, SIGHUP, SIGINT) stops the streaming, never a job.
func (inv invocation) postReceive(ctx context.Context, he hookEnv, stdin io.Reader) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGPIPE)
	defer stop()
	ctx, gone := context.WithCancel(ctx)
	defer gone()
	out := &sink{w: inv.stdout, gone: gone}
	entries := pushEntries(inv.set, he.dir)
	if len(entries) == 0 {
		return &cli.Failure{Err: fmt.Errorf("no provider: git entry of %s has %s as its remote", inv.set.File, he.dir),
			Hint: "set remote: " + he.dir + " on the entry, or run --install-hook for the right entry"}
	}
	updates, bad, err := readRefUpdates(stdin)
	for _, b := range bad {
		out.printf("ignored a line git should not send: %s", b)
	}
	jobs, ignored := planPush(entries, updates)
	for _, why := range ignored {
		out.printf("ignored %s", why)
	}
	if err != nil || len(jobs) == 0 {
		out.printf("nothing to deploy")
		return err
	}
	c, err := dial(inv)
	if err == nil {
		return c.deployPush(ctx, inv, jobs, he, out)
	}
	if !errors.Is(err, errNoDaemon) {
		return err
	}
	if err := inv.mayRunHere(); err != nil {
		return notHere(inv, jobs, out, err)
	}
	return inv.deployHere(ctx, jobs, he, out)
}

// notHere says why the jobs cannot run in the hook's process (no daemon,
// and this user may not run them here), and how to deploy them later.
func notHere(inv invocation, jobs []pushJob, out *sink, err error) error {
	for _, pj := range jobs {
		out.printf("%s: NOT DEPLOYED: no daemon is running; once it runs, push a new commit or run on the server: %s",
			pj, inv.command(inv.set.File, pj.repo.Name, "--branch", pj.branch, "--sha", pj.sha))
	}
	var ue *cli.UsageError
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &cli.Failure{Err: err, Hint: "start the daemon (systemctl start wh-gitd); the push itself went through"}
}

// deployPush submits the jobs to the daemon and, unless the pusher asked to
// detach, follows each one's log until it ends.
func (c *client) deployPush(ctx context.Context, inv invocation, jobs []pushJob, he hookEnv, out *sink) error {
	ids := make([]string, len(jobs))
	var failed []string
	for i, pj := range jobs {
		req := job.TriggerRequest{Branch: pj.branch, SHA: pj.sha, By: he.by, Push: true}
		a, err := c.trigger(context.WithoutCancel(ctx), pj.repo.Name, req) // every push is submitted, pusher or not
		if err != nil {
			out.printf("%s: the daemon did not take the job: %v", pj, err)
			failed = append(failed, pj.String())
			continue
		}
		ids[i] = a.Job
		out.printf("%s: queued as job %s%s", pj, a.Job, replaces(a.Supersedes))
	}
	for i, pj := range jobs {
		switch {
		case ids[i] == "":
		case he.detach():
			out.printf("%s: not waiting (-o detach); follow it with: %s", pj, inv.command(inv.set.File, "--show", ids[i]))
		case ctx.Err() == nil:
			if err := c.followPush(ctx, inv, pj, ids[i], out); err != nil {
				failed = append(failed, pj.String())
			}
		}
	}
	return deployOutcome(failed, len(jobs))
}

func replaces(old string) string {
	if old == "" {
		return ""
	}
	return " (it replaces job " + old + ", which was waiting)"
}

// followPush streams one job's log until it ends and prints its result.
func (c *client) followPush(ctx context.Context, inv invocation, pj pushJob, id string, out *sink) error {
	if other := c.runningOn(ctx, inv.set, pj, id); other != nil {
		out.printf("%s: job %s waits for job %s (%s), which is running on this working copy", pj, id, other.ID, other.Target())
	}
	lerr := c.log(ctx, id, true, out)
	if ctx.Err() != nil {
		return nil // the pusher went away: the job goes on in the daemon
	}
	rec, err := c.record(ctx, id)
	if err != nil {
		out.printf("%s: job %s: the daemon went away before it ended: %v", pj, id, errors.Join(lerr, err))
		return err
	}
	return inv.printOutcome(out, pj, rec)
}

// runningOn returns a job other than id that runs on pj's working copy
// now, or nil.
func (c *client) runningOn(ctx context.Context, set *settings.Settings, pj pushJob, id string) *job.Record {
	recs, err := c.list(ctx, pj.repo.Name)
	if err != nil {
		return nil
	}
	mine := pj.repo.WorkingCopy(target(pj.repo, pj.branch))
	for _, r := range recs {
		if r.ID != id && r.State == job.Running && pj.repo.WorkingCopy(target(pj.repo, r.Branch)) == mine {
			return r
		}
	}
	return nil
}

func target(r *settings.Repo, branch string) *settings.Target {
	t, _ := r.Target(branch, "")
	return t
}

// deployHere runs the jobs in this process, one after the other, when no
// daemon is running. The pusher going away does not stop them.
func (inv invocation) deployHere(ctx context.Context, jobs []pushJob, he hookEnv, out *sink) error {
	if he.detach() {
		out.printf("-o detach needs the daemon, and none is running: deploying now, in this push")
	}
	// Leave the pusher's process group. A Ctrl-C of git push signals that
	// group, and each command started here belongs to it from its fork
	// until its own setpgid: the signal, held pending over that moment,
	// would kill a command of a job that must go on.
	_ = syscall.Setpgid(0, 0) // fails only for a session leader, alone in its group already
	store, err := inv.openStoreWaiting(out)
	if err != nil {
		return err
	}
	defer store.Close()
	log := zerolog.Nop() // the pusher sees the job's log and its outcome, and the log is kept
	syncer := gitsyncer.New(log)
	rn := runner.New(runner.Options{Settings: inv.set, Syncer: syncer, Store: store, Logger: log,
		DetachUpkeep: detachUpkeep(syncer)})
	var failed []string
	for _, pj := range jobs {
		jb, err := runner.ManualJob(inv.set, pj.repo.Name, pj.branch, "", pj.sha, he.by)
		if err != nil {
			return err
		}
		jb.Event = job.EventPush
		out.printf("%s: deploying %.12s here (no daemon is running)", pj, pj.sha)
		rec := rn.Run(context.WithoutCancel(ctx), jb, out)
		if inv.printOutcome(out, pj, &rec) != nil {
			failed = append(failed, pj.String())
		}
	}
	return deployOutcome(failed, len(jobs))
}

// openStoreWaiting opens the job store, waiting (and saying so) while
// another wh-git-trigger holds it.
func (inv invocation) openStoreWaiting(out *sink) (*jobstore.Store, error) {
	store, err := inv.openStore()
	if errors.Is(err, jobstore.ErrLocked) {
		out.printf("waiting: another wh-git-trigger runs a job with these settings")
		store, err = jobstore.Open(inv.set.StateDir, 30*time.Minute)
	}
	return store, err
}

func (pj pushJob) String() string { return pj.repo.Name + " " + pj.branch }

// printOutcome prints a job's final line, and for a job that did not
// succeed what it means and how to try again; it returns an error then.
func (inv invocation) printOutcome(out *sink, pj pushJob, rec *job.Record) error {
	took, link := "", ""
	if !rec.Started.IsZero() && !rec.Finished.IsZero() {
		took = rec.Finished.Sub(rec.Started).Round(10 * time.Millisecond).String()
	}
	if u := inv.set.JobURL(rec.ID); u != "" {
		link = ", " + u
	}
	commit := cmp.Or(rec.Deployed, rec.Sync.Commit, rec.SHA)
	switch rec.State {
	case job.Succeeded:
		out.printf("%s: succeeded: deployed %.12s in %s (job %s%s)", pj, commit, took, rec.ID, link)
		return nil
	case job.Skipped:
		out.printf("%s: skipped: %s (%.12s, job %s%s)", pj, rec.Note, commit, rec.ID, link)
		return nil
	case job.Superseded:
		out.printf("%s: superseded by job %s, a newer push, before it ran (job %s%s)", pj, rec.SupersededBy, rec.ID, link)
		return nil
	}
	out.printf("%s: DEPLOY FAILED (%s after %s): %.12s is not deployed: %s (job %s%s)", pj, rec.State, took, pj.sha,
		cmp.Or(rec.Error, "no reason recorded"), rec.ID, link)
	out.printf("the push itself went through: %s now points at %.12s, but the site runs what it ran before", pj.branch, pj.sha)
	out.printf("to retry, push a new commit, or run on the server: %s",
		inv.command(inv.set.File, pj.repo.Name, "--branch", pj.branch, "--sha", pj.sha))
	out.printf("the job's log: %s", inv.command(inv.set.File, "--show", rec.ID))
	return fmt.Errorf("job %s %s", rec.ID, rec.State)
}

// deployOutcome is the hook's result: an error naming the deploys that
// did not succeed.
func deployOutcome(failed []string, total int) error {
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d deploys did not succeed: %s", len(failed), total, strings.Join(failed, ", "))
}
