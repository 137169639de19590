// Command wh-git-trigger forces a deployment by hand: it syncs the working
// copy of one repository entry and runs the commands of one branch or
// environment, exactly as the daemon would, printing their output as it
// comes. When the daemon is running (and its job API is on), the job is
// submitted to it and its log followed; otherwise it runs in this process,
// taking the same working-copy lock and recording the job in the same
// history. It also lists recent jobs and shows one.
//
//	wh-git-trigger [flags] settings.yaml NAME [--branch B | --environment E] [--sha SHA]
//	wh-git-trigger settings.yaml --list [--repo NAME]
//	wh-git-trigger settings.yaml --show ID
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wh-gitd/wh-gitd/cmd/internal/cli"
	"github.com/wh-gitd/wh-gitd/gitsync"
	"github.com/wh-gitd/wh-gitd/runner"
	"github.com/wh-gitd/wh-gitd/settings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("wh-git-trigger", err, os.Stderr))
}

const usage = `usage: wh-git-trigger [flags] settings.yaml NAME
       wh-git-trigger settings.yaml --list [--repo NAME]
       wh-git-trigger settings.yaml --show ID

Syncs the working copy of repository entry NAME and runs the commands of one
of its branches (or environments), as a webhook delivery would. Exit status:
0 the job succeeded, 1 it failed, 2 bad arguments or settings.
Flags:
`

type flags struct {
	branch, environment, sha string
	list                     bool
	repo, show               string
	local, version           bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f flags
	fs := flag.NewFlagSet("wh-git-trigger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&f.branch, "branch", "", "the configured branch to deploy (default: the only one)")
	fs.StringVar(&f.environment, "environment", "", "a configured environment to deploy instead of a branch")
	fs.StringVar(&f.sha, "sha", "", "the exact commit to deploy (default: the branch's tip)")
	fs.BoolVar(&f.list, "list", false, "list recent jobs, newest first")
	fs.StringVar(&f.repo, "repo", "", "with --list: only the jobs of this entry")
	fs.StringVar(&f.show, "show", "", "print the record and the log of job `ID`")
	fs.BoolVar(&f.local, "local", false, "run in this process even when the daemon is running")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	pos, err := cli.Parse(fs, args)
	switch {
	case err != nil:
		return err
	case f.version:
		fmt.Fprintln(stdout, "wh-git-trigger", cli.Version())
		return nil
	case (f.list || f.show != "") && len(pos) == 1:
		set, err := cli.LoadSettings(pos[0])
		if err != nil {
			return err
		}
		return history(ctx, set, f, stdout)
	case len(pos) != 2:
		return cli.Usagef("wh-git-trigger settings.yaml NAME", "expected a settings file and an entry name, got %d arguments", len(pos))
	}
	set, err := cli.LoadSettings(pos[0])
	if err != nil {
		return err
	}
	job, err := runner.ManualJob(set, pos[1], f.branch, f.environment, f.sha, os.Getenv("USER"))
	var se *runner.SelectError
	if errors.As(err, &se) {
		return &cli.UsageError{Err: se, Hint: se.Hint}
	}
	if !f.local {
		if err := viaDaemon(ctx, set, job, stdout); !errors.Is(err, errNoDaemon) {
			return err
		}
	}
	return inProcess(ctx, set, job, stdout, stderr)
}

// inProcess runs the job here, recorded in the job history unless a daemon
// holds it.
func inProcess(ctx context.Context, set *settings.Settings, job *runner.Job, stdout, stderr io.Writer) error {
	log := cli.Logger(set.Log, stderr)
	store, err := openStore(set)
	if errors.Is(err, runner.ErrLocked) {
		fmt.Fprintln(stderr, "wh-git-trigger: the daemon holds the job history and its API is off or unreachable; "+
			"running here, not recorded there (hint: set api.token so that manual runs go through the daemon)")
	} else if err != nil {
		return err
	}
	defer store.Close()
	rn := runner.New(runner.Options{Settings: set, Syncer: gitsync.New(log), Store: store, Logger: log})
	rec := rn.Run(ctx, job, stdout)
	return result(&rec)
}

func openStore(set *settings.Settings) (*runner.Store, error) {
	if err := os.MkdirAll(set.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	return runner.OpenStore(filepath.Join(set.StateDir, "jobs.db"), 500*time.Millisecond)
}

// result maps a job's record to the command's outcome.
func result(rec *runner.Record) error {
	switch rec.State {
	case runner.Succeeded:
		return nil
	case runner.Superseded:
		return fmt.Errorf("job %s was superseded by job %s before it ran", rec.Job.ID, rec.SupersededBy)
	}
	return fmt.Errorf("job %s %s: %s (log: %s)", rec.Job.ID, rec.State, rec.Error, rec.Log)
}
