package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/job"
)

// run submits a job of entry name to the daemon, follows its log until the
// job ends and returns its outcome.
func (c *client) run(ctx context.Context, inv invocation, name string, req job.TriggerRequest) error {
	a, err := c.trigger(ctx, name, req)
	var ae *apiError
	if errors.As(err, &ae) {
		err := fmt.Errorf("the daemon refused the job: %s", ae.answer.Error)
		if ae.code == http.StatusBadRequest || ae.code == http.StatusNotFound {
			return &cli.UsageError{Err: err, Hint: ae.answer.Hint}
		}
		return &cli.Failure{Err: err, Hint: ae.answer.Hint}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(inv.stderr, "wh-git-trigger: submitted to the daemon as job %s\n", a.Job)
	if a.Supersedes != "" {
		fmt.Fprintf(inv.stderr, "wh-git-trigger: it replaces job %s, which was waiting\n", a.Supersedes)
	}
	err = c.log(ctx, a.Job, true, inv.stdout)
	if ctx.Err() != nil {
		return &cli.Failure{Err: fmt.Errorf("stopped following job %s: it goes on in the daemon", a.Job),
			Hint: inv.command(inv.file, "--cancel", a.Job) + " cancels it"}
	}
	rec, rerr := c.record(ctx, a.Job)
	if rerr != nil {
		return &cli.Failure{Err: fmt.Errorf("job %s: the daemon went away before it ended: %w", a.Job, errors.Join(err, rerr)),
			Hint: "the daemon runs it again when it starts; " + inv.command(inv.file, "--show", a.Job) + " shows it"}
	}
	return result(rec)
}

// history serves --list and --show through the daemon.
func (c *client) history(ctx context.Context, inv invocation, f flags) error {
	if f.show == "" {
		recs, err := c.list(ctx, f.repo)
		if err != nil {
			return err
		}
		printJobs(inv.stdout, recs)
		return nil
	}
	rec, err := c.record(ctx, f.show)
	var ae *apiError
	if errors.As(err, &ae) && ae.code == http.StatusNotFound {
		return fmt.Errorf("no job %s in the daemon's history", f.show)
	}
	if err != nil {
		return err
	}
	return showJob(inv.stdout, rec, func(w io.Writer) error {
		err := c.log(ctx, f.show, false, w)
		if errors.As(err, &ae) && ae.code == http.StatusNotFound {
			return nil // no log yet
		}
		return err
	})
}

// history serves --list and --show, through the daemon when it runs, from
// the job store otherwise.
func (inv invocation) history(ctx context.Context, f flags) error {
	c, err := dial(inv)
	if err == nil {
		return c.history(ctx, inv, f)
	}
	if !errors.Is(err, errNoDaemon) {
		return err
	}
	if err := inv.mayRunHere(); err != nil {
		return err
	}
	store, err := inv.openStore()
	if err != nil {
		return err
	}
	defer store.Close()
	if f.show == "" {
		recs, err := store.List(job.Filter{Repo: f.repo, Limit: 50})
		printJobs(inv.stdout, recs)
		return err
	}
	rec, err := store.Get(f.show)
	if errors.Is(err, job.ErrNotFound) {
		return fmt.Errorf("no job %s in %s", f.show, inv.set.StateDir)
	} else if err != nil {
		return err
	}
	return showJob(inv.stdout, rec, func(w io.Writer) error {
		return store.Follow(ctx, rec.Job.ID, w, false, func() {})
	})
}
